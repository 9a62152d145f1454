"""The layering rules of DESIGN.md section 2, checked on every module's imports:
``model`` imports nothing of ours; ``smtp`` imports only ``model`` and never asyncio, socket
or ssl (sans-I/O); ``store`` imports only ``model``; ``api`` never imports ``smtp``, ``net``
or ``delivery``; ``tlscheck`` never imports ``delivery`` (what both need lives in ``dns``,
``policy`` or ``net``); only ``app.py`` (and the runner and CLI that start it) import ``app``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "sealpost"


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def ours(names: set[str]) -> set[str]:
    return {n.split(".")[1] for n in names if n.startswith("sealpost.") and n.count(".") >= 1}


@pytest.mark.parametrize("path", modules("model"), ids=lambda p: p.name)
def test_model_imports_nothing_of_ours(path: Path):
    assert ours(imports_of(path)) <= {"model"}


@pytest.mark.parametrize("path", modules("smtp"), ids=lambda p: p.name)
def test_smtp_is_sans_io(path: Path):
    names = imports_of(path)
    assert ours(names) <= {"model", "smtp"}
    assert not names & {"asyncio", "socket", "ssl", "selectors"}


@pytest.mark.parametrize("path", modules("store"), ids=lambda p: p.name)
def test_store_imports_only_model(path: Path):
    assert ours(imports_of(path)) <= {"model", "store"}


@pytest.mark.parametrize("path", modules("api"), ids=lambda p: p.name)
def test_api_never_reaches_smtp_net_or_delivery(path: Path):
    assert not ours(imports_of(path)) & {"smtp", "net", "delivery"}


@pytest.mark.parametrize("path", modules("tlscheck"), ids=lambda p: p.name)
def test_tlscheck_never_reaches_delivery(path: Path):
    assert "delivery" not in ours(imports_of(path))


def test_only_the_entry_points_import_the_composition_root():
    importers = {
        p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if "sealpost.app" in imports_of(p)
    }
    assert importers <= {"runner.py"}
