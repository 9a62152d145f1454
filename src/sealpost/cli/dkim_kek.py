"""``sealpost dkim reseal|kek-status``: rotating the key-encryption key that seals the sending
domains' DKIM keys in the store (docs/cluster.md, "Rotating the key-encryption key").

Both read the key files the config names (``[dkim] key_encryption_key_file`` and
``previous_key_encryption_key_files``), so they run on a node, and work on the store
straight, with the servers running (``domains.kek_rotation``: a re-seal is a compare-and-set).
Output shows key ids and file names, never key material. ``reseal`` exits 1 when a key could
not be re-sealed (the others are), ``kek-status`` exits 0 and says what to do next.

Before it writes, ``reseal`` checks that every live node of the store's node registry holds
the current key-encryption key (``domains.kek_nodes``): a node without it would send the
re-sealed domains' mail unsigned. It refuses (exit 1, naming those nodes) unless ``--force``.
``--dry-run`` and ``kek-status`` show the same per-node table (``nodes`` in ``--json``).
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from sealpost.cli.common import (
    DEFAULT_CONFIG_PATH,
    ConfigOpt,
    JsonOpt,
    fail,
    literal,
    load,
    out,
    with_store,
)
from sealpost.config.model import Config
from sealpost.dkim.keyring import PREVIOUS_OPTION, Keyring, Role, load_keyring
from sealpost.dkim.sealing import SealingError
from sealpost.domains.kek_nodes import Holds, NodesCheck, check_nodes
from sealpost.domains.kek_rotation import KekStatus, ResealReport, kek_status, reseal
from sealpost.node_presence import STALE_AFTER

DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Open and count the keys to re-seal; write nothing.")
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Re-seal even when a running node is not known to hold the current key.",
    ),
]


def _keyring(cfg: Config) -> Keyring:
    try:
        return load_keyring(cfg.dkim_secret_file, cfg.dkim.previous_key_encryption_key_files)
    except SealingError as exc:
        raise fail(
            f"{exc}. Run this on a node whose config names the cluster's key-encryption key "
            "files (docs/cluster.md)."
        ) from None


def _check(store: Any, ring: Keyring) -> Any:
    return check_nodes(store, ring.key_id, now=time.time(), stale_after=STALE_AFTER)


def dkim_reseal(
    dry_run: DryRunOpt = False,
    force: ForceOpt = False,
    config: ConfigOpt = DEFAULT_CONFIG_PATH,
    json_out: JsonOpt = False,
) -> None:
    """Seal every stored DKIM key with the current key-encryption key (the servers may run;
    each must hold that key first)."""
    cfg = load(config)
    ring = _keyring(cfg)

    async def work(store: Any) -> tuple[NodesCheck, ResealReport | None]:
        nodes: NodesCheck = await _check(store, ring)
        if not nodes.ready and not force and not dry_run:
            return nodes, None
        return nodes, await reseal(store, ring, dry_run=dry_run)

    nodes, report = with_store(cfg, work)
    if report is None:
        if json_out:
            print(json.dumps({"key_id": ring.key_id, "refused": True, **_nodes_json(nodes)}))
        else:
            _show_nodes(nodes)
        raise fail(_refusal(nodes))
    if json_out:
        print(json.dumps({**report.to_json(), **_nodes_json(nodes)}))
    else:
        _show_nodes(nodes)
        if not nodes.ready and force:
            out.print(
                "Warning: --force: re-sealing although the nodes above are not known to hold "
                f"key {ring.key_id}; they will not sign those domains' mail until they do.",
                style="bold yellow",
            )
        _show_reseal(report)
    if report.failed:
        raise typer.Exit(1)


def _refusal(nodes: NodesCheck) -> str:
    named = ", ".join(f"{n.node_id} (host {n.host}, {n.holds.value})" for n in nodes.lacking)
    return (
        f"not re-sealing: running node(s) not known to hold the current key-encryption key "
        f"{nodes.key_id}: {named}. A node without it would send those domains' mail unsigned. "
        "Install the new key-encryption key file on those nodes and send them SIGHUP, or wait "
        "for their next heartbeat, then run `sealpost dkim reseal` again (--force re-seals "
        "anyway)."
    )


def _nodes_json(nodes: NodesCheck) -> dict[str, object]:
    return {"nodes": [n.to_json() for n in nodes.nodes]}


def _show_nodes(nodes: NodesCheck) -> None:
    if not nodes.nodes:
        out.print(
            "No live node is registered in the store (servers stopped; a SQLite server's entry "
            "is not visible to other processes): no node to check."
        )
        return
    table = Table("node id", "host", f"holds current key {nodes.key_id}", title="Running nodes")
    for node in nodes.nodes:
        style = {Holds.YES: "green", Holds.NO: "red", Holds.UNKNOWN: "yellow"}[node.holds]
        table.add_row(literal(node.node_id), literal(node.host), f"[{style}]{node.holds.value}[/]")
    out.print(table)


def _show_reseal(report: ResealReport) -> None:
    verb = "would re-seal" if report.dry_run else "re-sealed"
    out.print(
        f"[bold]{verb} {len(report.resealed)}[/] key(s) with key-encryption key "
        f"[bold]{report.key_id}[/]; {report.already_current} already sealed with it"
        + (f"; {report.gone} deleted meanwhile" if report.gone else "")
        + (f"; [bold red]{len(report.failed)} failed[/]" if report.failed else "")
    )
    for name in report.resealed:
        out.print(literal(f"  {verb} {name}"), soft_wrap=True)
    for failure in report.failed:
        out.print(literal(f"  failed {failure.name}: {failure.reason}"), soft_wrap=True)
    if report.failed:
        out.print(
            "Each failed key was sealed with a key-encryption key this node does not have: "
            f"add its file to {PREVIOUS_OPTION} and run `sealpost dkim reseal` again, or "
            "replace that domain's key through the API.",
            style="yellow",
        )
    elif report.dry_run and report.resealed:
        out.print("Nothing was written; run without --dry-run to re-seal.")
    elif not report.dry_run:
        out.print("Check with `sealpost dkim kek-status`.")


def dkim_kek_status(config: ConfigOpt = DEFAULT_CONFIG_PATH, json_out: JsonOpt = False) -> None:
    """Count the stored DKIM keys by the key-encryption key that sealed them."""
    cfg = load(config)
    ring = _keyring(cfg)

    async def work(store: Any) -> tuple[KekStatus, NodesCheck]:
        return await kek_status(store, ring), await _check(store, ring)

    status, nodes = with_store(cfg, work)
    if json_out:
        print(json.dumps({**status.to_json(), **_nodes_json(nodes)}))
        return
    _show_nodes(nodes)
    table = Table("key id", "role", "keys", "file", title="Stored DKIM keys by key-encryption key")
    for row in status.counts:
        style = {Role.CURRENT: "green", Role.PREVIOUS: "yellow", Role.UNKNOWN: "red"}[row.role]
        table.add_row(
            literal(row.key_id or "(not sealed)"),
            f"[{style}]{row.role.value}[/]",
            str(row.keys),
            literal(row.file or "-"),
        )
    out.print(table)
    for hint in _hints(status):
        out.print(literal(hint), soft_wrap=True)
    if nodes.lacking:
        out.print(literal(_refusal(nodes).replace("not re-sealing: ", "")), soft_wrap=True)


def _hints(status: KekStatus) -> list[str]:
    hints = []
    if status.of(Role.PREVIOUS):
        hints.append(
            f"{status.of(Role.PREVIOUS)} key(s) are still sealed with a previous key: run "
            "`sealpost dkim reseal`."
        )
    for row in status.counts:
        if row.role is Role.PREVIOUS and row.keys == 0:
            hints.append(
                f"Previous key {row.key_id} seals no stored key: once every node runs with the "
                f"current key, remove {row.file} from {PREVIOUS_OPTION} on every node."
            )
    if status.of(Role.UNKNOWN):
        hints.append(
            f"{status.of(Role.UNKNOWN)} key(s) were sealed with a key-encryption key this "
            f"node does not have: find its file on another node and add it to {PREVIOUS_OPTION}."
        )
    if not hints:
        hints.append("Every stored key is sealed with the current key-encryption key.")
    return hints
