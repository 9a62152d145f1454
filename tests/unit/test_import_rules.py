"""The layering rules of DESIGN.md section 2, checked on every module's imports:
``model`` imports nothing of ours; ``smtp`` imports only ``model`` and never asyncio, socket
or ssl (sans-I/O); ``store`` imports only ``model``; ``api`` never imports ``smtp``, ``net``
or ``delivery``; ``tlscheck`` never imports ``delivery`` (what both need lives in ``dns``,
``policy`` or ``net``); only ``app.py`` (and the runner and CLI that start it) import ``app``.

Beyond those, every package and top-level module has the list of ours it may import
(``ALLOWED``; a new one must be added there), and neither the packages nor the modules form
an import cycle, type-only and function-local imports included."""

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


# What each package (or top-level module) of src/sealpost may import of ours, besides itself.
# The picture in docs/architecture.md draws the same table.
ALLOWED: dict[str, set[str]] = {
    "__init__": set(),
    "__main__": {"cli"},
    "model": set(),
    "smtp": {"model"},
    "store": {"model"},
    "dns": set(),
    "dkim": set(),
    "compose": {"model"},
    "net": {"model", "dns", "smtp"},
    "config": {"net"},
    "api_keys": {"model", "store"},
    "events": {"model", "store"},
    "policy": {"model", "dns", "net", "store"},
    "delivery": {"model", "dns", "net", "policy", "smtp", "store", "events"},
    "tlscheck": {"model", "dns", "net", "policy", "smtp"},
    "domains": {"model", "dkim", "dns", "store"},
    "submission": {"model", "dkim", "events", "store"},
    "inbound": {"model", "net", "observability", "smtp", "store", "submission", "api_keys"},
    "webhooks": {"model", "config", "events", "net", "store"},
    "tlsrpt": {"model", "config", "dkim", "dns", "domains", "net", "store", "submission"},
    "api": {
        "model",
        "api_keys",
        "compose",
        "config",
        "dns",
        "domains",
        "events",
        "store",
        "submission",
        "tlscheck",
        "tlsrpt",
        "webhooks",
    },
    "console": {
        "model",
        "api",
        "api_keys",
        "config",
        "dkim",
        "domains",
        "store",
        "tlscheck",
        "webhooks",
    },
    "observability": {"__init__", "model"},
    "initdir": {"config", "dkim", "net", "store"},
    "outbound": {"config", "delivery", "dns", "policy", "store"},
    "node_presence": {"model", "store"},
    "change_follower": {"store"},
    "retention": {"model", "store"},
    "config_reload": {
        "config",
        "dkim",
        "domains",
        "inbound",
        "observability",
        "outbound",
        "retention",
        "session_settings",
        "startup",
        "submission",
    },
    "startup": {"config", "dkim", "domains", "node_presence", "outbound", "retention", "store"},
    "session_settings": {"config", "inbound", "smtp"},
    "listeners": {"api", "config", "inbound", "model", "net", "observability", "store", "workers"},
    "shutdown": {"inbound", "model"},
    "app": {
        "model",
        "api",
        "change_follower",
        "config",
        "config_reload",
        "console",
        "delivery",
        "dkim",
        "domains",
        "inbound",
        "listeners",
        "net",
        "node_presence",
        "observability",
        "outbound",
        "retention",
        "session_settings",
        "shutdown",
        "startup",
        "store",
        "submission",
        "tlsrpt",
        "webhooks",
        "workers",
    },
    # The runner also starts the queue writer process (store.sqlite.shared_writer).
    "runner": {
        "app",
        "config",
        "delivery",
        "inbound",
        "net",
        "observability",
        "startup",
        "store",
        "workers",
    },
    # delivery: the shared table of per-domain sessions; net: glibc, for the pre-fork trim
    "workers": {"delivery", "inbound", "model", "net", "store"},
    # workers: prefork's pause of the collector, before serve imports the runner
    "cli": {
        "model",
        "api_keys",
        "config",
        "console",
        "dkim",
        "dns",
        "domains",
        "events",
        "initdir",
        "node_presence",
        "observability",
        "retention",
        "runner",
        "smtp",
        "store",
        "tlscheck",
        "tlsrpt",
        "workers",
    },
}


def _unit(path: Path) -> str:
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def _module(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(("sealpost", *(parts[:-1] if parts[-1] == "__init__" else parts)))


def _all_imports(path: Path) -> set[str]:
    """Every sealpost module named by an import, the imported names included (a
    ``from sealpost.x import y`` may import the module ``sealpost.x.y``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in found if n == "sealpost" or n.startswith("sealpost.")}


FILES = sorted(SRC.rglob("*.py"))
MODULES = {_module(p): p for p in FILES}
UNITS = {_unit(p) for p in FILES}


def _units(names: set[str]) -> set[str]:
    """The packages or top-level modules ``names`` belong to (``sealpost.__version__``,
    an attribute of the package itself, counts as ``__init__``)."""
    return {
        n.split(".")[1] if n.count(".") and n.split(".")[1] in UNITS else "__init__" for n in names
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(SRC).as_posix())
def test_every_import_is_allowed_for_its_package(path: Path):
    unit = _unit(path)
    assert unit in ALLOWED, f"{unit} is new: add it to ALLOWED with what it may import"
    used = _units(_all_imports(path))
    assert used - {unit} <= ALLOWED[unit], used - {unit} - ALLOWED[unit]


def test_no_package_import_cycle():
    graph: dict[str, set[str]] = {}
    for path in FILES:
        unit = _unit(path)
        used = _units(_all_imports(path))
        graph.setdefault(unit, set()).update(used - {unit, "__init__"})
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_no_module_import_cycle():
    graph = {
        name: {m for m in _all_imports(path) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }
    # A package's __init__ re-exporting its own modules is not a cycle worth a failure.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
