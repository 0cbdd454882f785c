"""Fixtures the platform's test modules share."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from scrm.cli import main


@pytest.fixture
def served_cli(stack, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    """``scrm`` with the live test server's configuration (its database and Redis too: a command
    such as ``simulate`` makes its token there)."""
    for name in [n for n in os.environ if n.startswith("SCRM_")]:
        monkeypatch.delenv(name)
    config = stack.runtime.config
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        f'[server]\npublic_base_url = "{stack.url}"\n'
        f'[database]\nurl = "{config.database.url}"\n[redis]\nurl = "{config.redis.url}"\n'
    )
    runner = CliRunner()
    return lambda *args: runner.invoke(main, ["--config", str(config_file), *args])
