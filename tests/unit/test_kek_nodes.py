"""The check ``sealpost dkim reseal`` makes first: every live node holds the current
key-encryption key; a node that lacks it or published no ids (older version) holds the
reseal back, a stale entry is not checked."""

from __future__ import annotations

import asyncio

from sealpost.domains.kek_nodes import Holds, check_nodes
from sealpost.model.node import NodeRecord
from sealpost.store.memory import MemoryStore

NOW = 1_700_000_000.0


def node(node_id: str, beat: float, *ids: str) -> NodeRecord:
    return NodeRecord(node_id, f"run-{node_id}", f"host-{node_id}", 1, NOW - 100, beat, ids)


def check(*nodes: NodeRecord):
    async def scenario():
        store = MemoryStore()
        for n in nodes:
            assert await store.register_node(n, 30) is None
        return await check_nodes(store, "k2", now=NOW, stale_after=30)

    return asyncio.run(scenario())


def test_every_live_node_holding_the_current_key_is_ready():
    result = check(node("a", NOW - 5, "k2", "k1"), node("b", NOW - 29, "k2"))
    assert result.ready and result.lacking == ()
    assert [(n.node_id, n.holds) for n in result.nodes] == [("a", Holds.YES), ("b", Holds.YES)]


def test_a_node_without_the_key_or_with_no_ids_holds_the_reseal_back():
    result = check(node("a", NOW - 5, "k2", "k1"), node("b", NOW - 5, "k1"), node("c", NOW - 5))
    assert not result.ready
    assert [(n.node_id, n.host, n.holds) for n in result.lacking] == [
        ("b", "host-b", Holds.NO),
        ("c", "host-c", Holds.UNKNOWN),
    ]
    assert result.lacking[0].to_json() == {
        "node_id": "b",
        "host": "host-b",
        "holds_current": "no",
        "kek_ids": ["k1"],
    }


def test_stale_entries_are_not_checked_and_no_node_is_ready():
    result = check(node("gone", NOW - 31, "k1"))
    assert result.nodes == () and result.ready
    assert check().ready
