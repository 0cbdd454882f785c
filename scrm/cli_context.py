"""What every ``scrm`` command's work (scrm/commands.py, guides/commands.py) loads first: the
configuration, then the runtime, once per invocation and kept on click's context."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from scrm.config import ConfigError, load_config
from scrm.logs import configure_logging
from scrm.runtime import Runtime, install

if TYPE_CHECKING:
    from scrm.config import Config


def config_of(ctx: click.Context) -> Config:
    if "config" not in ctx.obj:
        try:
            ctx.obj["config"] = load_config(ctx.obj.get("config_path"))
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        configure_logging(ctx.obj["config"])
    return ctx.obj["config"]


def runtime_of(ctx: click.Context) -> Runtime:
    if "runtime" not in ctx.obj:
        ctx.obj["runtime"] = install(Runtime(config_of(ctx)))
    return ctx.obj["runtime"]
