"""Cluster mode (issue 13): ``[delivery] per_domain_concurrency`` holds for the cluster.

Two real ``sealpost serve`` nodes on one PostgreSQL database, each with
``per_domain_concurrency = 2``, deliver mail for one domain to the loopback SMTP sink, which
holds every reply to the final dot for a while, so deliveries overlap, and counts the
sessions that are inside a transaction at once. Together the nodes must never have more
than 2 (per node alone they could have 4); the limit must also be reached (the test would
prove nothing if deliveries never overlapped). Every wait is bounded.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.integration.test_cluster import (
    node_config,
    send,
    senders,
    wait_for,
)
from tests.support import Pki

LIMIT = 2
MESSAGES = 16  # half through each node
HOLD = 0.3  # seconds the sink waits before its reply to the final dot


def test_two_nodes_together_keep_to_per_domain_concurrency(
    tmp_path: Path, pki: Pki, pg_url: str, smtp_sink, spawn
) -> None:
    sink = smtp_sink(stall={"DOT": HOLD})
    nodes = {
        name: spawn(
            node_config(
                tmp_path / name,
                pki,
                pg_url,
                sink,
                name,
                delivery={"per_domain_concurrency": LIMIT},
            )
        )
        for name in ("node-a", "node-b")
    }
    time.sleep(0.5)
    for n in range(MESSAGES // 2):
        for name, node in nodes.items():
            send(node.ports["mx"], [f"{name}-{n}"])
    elapsed = wait_for(sink, MESSAGES, 60)
    by_node = senders(sink)
    print(
        f"\n{MESSAGES} messages in {elapsed:.1f} s, at most {sink.peak_transactions} at once "
        f"(limit {LIMIT}); delivered per node: {dict(by_node)}"
    )
    assert sink.peak_transactions <= LIMIT, "the nodes together exceeded the domain's limit"
    assert sink.peak_transactions == LIMIT, "deliveries never overlapped: nothing was proved"
    assert len(by_node) == 2, "both nodes delivered"
    for server in nodes.values():
        assert server.terminate() == ""
