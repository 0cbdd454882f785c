"""The import contract (SPEC §15, pyproject.toml's [tool.importlinter]): domains go one way, work
one domain sets off in a higher one lives in scrm/flows.py, and domain services use no web
framework, wechatpy or webhook code. import-linter reads imports inside functions too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout, result.stdout
