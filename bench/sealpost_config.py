"""The Sealpost configuration of the benchmark: what ``sealpost init`` writes, plus a short,
documented list of changes.

Owns that list and how it is applied. The benchmark measures what users run: the config
comes from running ``sealpost init`` (the real command, its own defaults), and only the
settings a benchmark on loopback must change are changed, each with its reason. Every
change is a ``Change(key, init, bench, why)``; ``init`` is read from init's own file, so the
table the report prints cannot drift from what init writes. ``edit`` rewrites init's
commented file line by line (comments kept, the changed line marked ``# bench: ...``) and
then proves, by parsing both files, that they differ in exactly the listed keys.

Keys are dotted paths; a listener is addressed by its name: ``smtp.listeners[mx].address``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealpost.config.schema import toml_value

BENCH_DOMAIN = "bench.test"
SERVER_NAME = "mx.bench.test"
INIT_FILE = "sealpost.toml"  # what `sealpost init --dir DIR` writes
LOAD_LISTENER = "mx"  # init's port-25 listener (STARTTLS offered): the load goes there
SUBMISSION_LISTENER = "submission"  # init's port-587 listener (STARTTLS + AUTH)

_KEY = re.compile(r"(?P<table>[a-z_.]+?)(?:\[(?P<name>[^\]]+)\])?\.(?P<key>[a-z_]+)")
_HEADER = re.compile(r"\[\[?(?P<table>[a-z_.]+)\]\]?")
_NAME = re.compile(r'name = "(?P<name>[^"]*)"')
_ARRAY_TABLES = ("smtp.listeners",)
UNSET = "(unset)"


class ConfigEditError(RuntimeError):
    """A change does not apply to init's file (a key moved or vanished): the message says which."""


@dataclass(frozen=True)
class Change:
    """One setting the benchmark changes from init's value, and why."""

    key: str
    init: Any  # the value in init's file; None when init leaves it unset
    bench: Any
    why: str

    def to_dict(self) -> dict[str, object]:
        return {"key": self.key, "init": self.init, "bench": self.bench, "why": self.why}


@dataclass(frozen=True)
class BenchConfig:
    """A config file's text and the changes that made it from init's."""

    label: str
    text: str
    changes: tuple[Change, ...]


def run_init(directory: Path) -> str:
    """``sealpost init --dir DIRECTORY`` (init's default hostname and ports); returns the config
    text it wrote. The directory must not hold a config yet."""
    done = subprocess.run(
        [sys.executable, "-m", "sealpost", "init", "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise ConfigEditError(f"sealpost init failed: {done.stderr.strip() or done.stdout}")
    return (directory / INIT_FILE).read_text()


def inbound_settings(cert_file: Path, key_file: Path) -> list[tuple[str, Any, str]]:
    """(key, bench value, why) of every change the inbound benchmark makes to init's config."""
    loopback = "loopback, any free port: the harness reads the bound port from the ready line"
    return [
        ("server.hostname", SERVER_NAME, "the name both servers present (banner, EHLO)"),
        ("server.local_domains", [BENCH_DOMAIN], "the domain both servers are final for"),
        ("tls.cert_file", str(cert_file), "the benchmark PKI (both servers present it)"),
        ("tls.key_file", str(key_file), "the benchmark PKI"),
        (f"smtp.listeners[{LOAD_LISTENER}].address", "127.0.0.1:0", loopback),
        (f"smtp.listeners[{SUBMISSION_LISTENER}].address", "127.0.0.1:0", loopback),
        ("smtp.listeners[submissions].address", "127.0.0.1:0", loopback),
        ("api.address", "127.0.0.1:0", loopback),
        ("metrics.address", "127.0.0.1:0", loopback),
    ]


DELIVERY_DISABLED = (
    "delivery.enabled",
    False,
    "not a shipped configuration: accepted mail is only queued, never handled by the "
    "dispatcher (the pre-issue-12 benchmark line)",
)


def workers_change(count: int) -> tuple[str, object, str]:
    """The one change of an ``--also-workers`` line: ``[server] workers`` pinned to ``count``
    (init leaves it at "auto": one worker process per core)."""
    return (
        "server.workers",
        count,
        f"a labelled comparison line: {count} worker process(es) instead of one per core",
    )


def build(label: str, init_text: str, settings: Sequence[tuple[str, Any, str]]) -> BenchConfig:
    """Init's text with ``settings`` applied; ``init`` of each change read from init's file."""
    init = tomllib.loads(init_text)
    changes = tuple(Change(key, lookup(init, key), value, why) for key, value, why in settings)
    return BenchConfig(label, edit(init_text, changes), changes)


def edit(init_text: str, changes: Sequence[Change]) -> str:
    """Rewrite init's file with ``changes``; raises ConfigEditError unless the result differs
    from init's in exactly the changed keys, each to its bench value."""
    wanted = {c.key: c for c in changes}
    out: list[str] = []
    for block in _blocks(init_text.splitlines()):
        out += _edit_block(block, wanted)
    if wanted:
        raise ConfigEditError(f"no table in init's config for {', '.join(wanted)}")
    text = "\n".join(out) + "\n"
    verify(init_text, text, changes)
    return text


def lookup(data: Mapping[str, Any], key: str) -> Any:
    """The value at a dotted key (listeners by name); None when absent."""
    table, name, leaf = _split(key)
    node: Any = data
    for part in table.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if name is not None:
        node = next((t for t in node or () if t.get("name") == name), None)
    return node.get(leaf) if isinstance(node, Mapping) else None


def flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """Every leaf as ``dotted.key -> value``; listeners keyed by name like ``lookup``."""
    flat: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if path in _ARRAY_TABLES and isinstance(value, list):
                for entry in value:
                    walk(entry, f"{path}[{entry.get('name')}].")
            elif isinstance(value, dict) and path.count(".") == 0:  # an empty table: no leaf
                walk(value, path + ".")
            else:
                flat[path] = value

    walk(data, "")
    return flat


def _split(key: str) -> tuple[str, str | None, str]:
    match = _KEY.fullmatch(key)
    if match is None:
        raise ValueError(f"not a config key: {key!r}")
    return match["table"], match["name"], match["key"]


def _blocks(lines: Iterable[str]) -> list[list[str]]:
    """The file cut before each table header (the first block is the header comment)."""
    blocks: list[list[str]] = [[]]
    for line in lines:
        if _HEADER.fullmatch(line):
            blocks.append([])
        blocks[-1].append(line)
    return blocks


def _edit_block(block: list[str], wanted: dict[str, Change]) -> list[str]:
    header = _HEADER.fullmatch(block[0]) if block else None
    if header is None:
        return block
    table = header["table"]
    name = next((m["name"] for line in block if (m := _NAME.fullmatch(line))), None)
    prefix = f"{table}[{name}]." if table in _ARRAY_TABLES else f"{table}."
    block = list(block)
    for key in [k for k in wanted if k.startswith(prefix) and "." not in k[len(prefix) :]]:
        change = wanted.pop(key)
        leaf = key[len(prefix) :]
        line = f"{leaf} = {toml_value(change.bench)}  # bench: {change.why}"
        found = [
            i
            for i, text in enumerate(block)
            if text.startswith(f"{leaf} = ") or text == f"# {leaf} =   {UNSET}"
        ]
        if len(found) > 1:
            raise ConfigEditError(f"{key} appears {len(found)} times in init's config")
        if found:
            block[found[0]] = line
        else:  # a key init does not show: after the table's last setting
            last = max(i for i, text in enumerate(block) if text and not text.startswith("#"))
            block.insert(last + 1, line)
    return block


def verify(init_text: str, text: str, changes: Sequence[Change]) -> None:
    """Raise ConfigEditError unless ``text`` differs from ``init_text`` in exactly the keys
    of ``changes``, each set to its bench value."""
    before, after = flatten(tomllib.loads(init_text)), flatten(tomllib.loads(text))
    differing = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    expected = {c.key for c in changes if c.bench != c.init}
    if differing != expected:
        raise ConfigEditError(
            f"the edit changed {sorted(differing)}, the list says {sorted(expected)}"
        )
    for change in changes:
        if after.get(change.key) != change.bench:
            raise ConfigEditError(f"{change.key} is {after.get(change.key)!r} after the edit")
