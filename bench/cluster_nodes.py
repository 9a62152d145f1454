"""The setups the cluster cases compare, and how their nodes are started (issue 13 item 6).

Owns the three topologies: SQLite with one node (init's store), PostgreSQL with one node and
PostgreSQL with two nodes. A node is a ``sealpost serve`` on init's config (``SealpostServer``
and the documented changes of ``bench.sealpost_config``); a PostgreSQL node adds two changes,
``store.url`` (the topology's scratch database, ``bench.pg_server``) and its own
``cluster.node_id``; the second node of a topology is a second ``serve`` process with the same
``store.url``, as ``docs/cluster.md`` deploys it. Everything else, ``[server] workers`` included
(init's ``"auto"``: one worker per core), stays as init writes it, on every node.

``Cluster`` is one topology's running nodes, its scratch database and the store's
message count (``stored``), which the cases use to prove that what a node acknowledged is
in the queue.
"""

from __future__ import annotations

import smtplib
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path

from bench.peers import Pki, SealpostServer
from bench.pg_server import ScratchDatabase
from bench.sealpost_config import BenchConfig

Setting = tuple[str, object, str]
NODE_IDS = ("node-a", "node-b")


@dataclass(frozen=True)
class Topology:
    """Which store, how many nodes."""

    key: str
    label: str
    postgres: bool
    nodes: int


TOPOLOGIES: tuple[Topology, ...] = (
    Topology("sqlite-1", "SQLite, 1 node", postgres=False, nodes=1),
    Topology("pg-1", "PostgreSQL, 1 node", postgres=True, nodes=1),
    Topology("pg-2", "PostgreSQL, 2 nodes", postgres=True, nodes=2),
)


def node_settings(url: str | None, node_id: str) -> list[Setting]:
    """The changes that put a node on the shared PostgreSQL store (none for SQLite)."""
    if url is None:
        return []
    return [
        ("store.url", url, "the topology's PostgreSQL database, created and dropped by the run"),
        ("cluster.node_id", node_id, "each node on one database needs its own (cluster.md)"),
    ]


class Cluster:
    """One topology: its scratch database (PostgreSQL) and its nodes, under ``base/name``."""

    def __init__(self, base: Path, pki: Pki, topology: Topology, name: str, admin_url: str) -> None:
        self.base, self.pki, self.topology, self.name = base, pki, topology, name
        self.db = ScratchDatabase(admin_url) if topology.postgres else None
        self.nodes: list[SealpostServer] = []
        self._stack = ExitStack()

    def __enter__(self) -> Cluster:
        if self.db is not None:
            self._stack.enter_context(self.db)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._stack.close()

    @property
    def url(self) -> str | None:
        return self.db.url if self.db is not None else None

    def label(self, case: str) -> str:
        return f"Sealpost ({case}: {self.topology.label})"

    def add_node(self, extra: Sequence[Setting], label: str) -> SealpostServer:
        """A further node (not started): init's config, the inbound changes, ``extra`` and,
        on PostgreSQL, the shared store and the node's own id."""
        index = len(self.nodes)
        settings = [*node_settings(self.url, NODE_IDS[index]), *extra]
        node = SealpostServer(
            self.base,
            self.pki,
            name=f"{self.name}-{NODE_IDS[index]}",
            label=label,
            extra=settings,
        )
        self.nodes.append(node)
        return node

    def reconfigure(self, extra: Sequence[Setting], label: str) -> BenchConfig:
        """Every node's config with ``extra`` instead of the previous changes; returns the
        first node's (the others differ only in ``cluster.node_id``)."""
        configs = [
            node.reconfigure([*node_settings(self.url, NODE_IDS[i]), *extra], label)
            for i, node in enumerate(self.nodes)
        ]
        return configs[0]

    def start(self) -> None:
        """Start every node at once (their start-ups overlap, as a deployment's would)."""
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            for future in [pool.submit(node.start) for node in self.nodes]:
                future.result()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def stored(self) -> int:
        """Messages in the topology's queue, in any state."""
        if self.db is not None:
            return int(str(self.db.value("SELECT count(*) FROM messages")))
        path = self.nodes[0].workdir / "var" / "queue.db"
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])

    def warm_up(self, mail_from: str, rcpt_to: str, message: bytes) -> None:
        """One plaintext message through each node, untimed: every node works before it is
        timed."""
        for node in self.nodes:
            with smtplib.SMTP(node.host, node.port, "client.bench.test", timeout=30) as smtp:
                refused = smtp.sendmail(mail_from, [rcpt_to], message)
                if refused:
                    raise RuntimeError(f"{node.label} refused the warm-up message: {refused}")
