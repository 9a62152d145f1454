"""What every CLI command shares: consoles, the config loader, store access, formatting.

Text that came from outside (envelopes, headers, labels) is never interpreted as rich
markup: it is printed through ``literal`` / ``Text`` so a sender cannot crash or restyle an
operator's terminal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from sealpost.config.loader import ConfigError, load_config
from sealpost.config.model import Config
from sealpost.initdir import DEFAULT_CONFIG
from sealpost.store import open_store
from sealpost.store.errors import StoreError

out = Console()
err = Console(stderr=True)
T = TypeVar("T")

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", metavar="FILE", help="Path to sealpost.toml.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Only count; change nothing.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DEFAULT_CONFIG_PATH = Path(DEFAULT_CONFIG)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` (literally) and return the Exit to raise."""
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


def literal(value: object) -> Text:
    """Outside text as a rich Text: shown as is, never parsed as markup."""
    return Text(str(value))


def load(path: Path) -> Config:
    if not path.exists():
        raise fail(
            f"config file {path} not found. Create one with `sealpost init --dir "
            f"{path.parent}` or start with `sealpost serve --dev`.",
            2,
        )
    try:
        return load_config(path)
    except ConfigError as exc:
        text = str(exc)  # syntax and read errors name the file already
        raise fail(text if text.startswith(f"{path}:") else f"{path}: {text}", 2) from None


def with_store(cfg: Config, work: Callable[[Any], Awaitable[T]]) -> T:
    """Open the configured store, run ``work(store)``, close it; store errors end the CLI."""

    async def run() -> T:
        store = open_store(cfg.store.url, base_dir=cfg.base_dir)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreError as exc:
        raise fail(f"queue store: {exc}") from None


def when(ts: float | None, *, short: bool = False) -> str:
    if ts is None:
        return "-"
    fmt = "%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M:%SZ"
    return datetime.fromtimestamp(ts, UTC).strftime(fmt)
