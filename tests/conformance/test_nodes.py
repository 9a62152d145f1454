"""Conformance of the NodeRegistry half of every backend: a node id is held by one live
instance; a second is refused while the holder's heartbeat is fresh, and takes over once it
is stale or when the holder is named dead; heartbeats and unregistering touch only the
holder. On PostgreSQL two stores (two nodes) on one database see each other's entries."""

from __future__ import annotations

import asyncio
import dataclasses

from sealpost.model.node import NodeRecord
from sealpost.store import open_store

T0 = 1_700_000_000.0
A = NodeRecord("mx-a", "run-1", "host-1", 101, T0, T0)


def test_a_node_id_is_held_by_one_live_instance(run):
    async def scenario(store):
        assert await store.register_node(A, 30) is None
        assert await store.register_node(dataclasses.replace(A, heartbeat_at=T0 + 5), 30) is None
        second = NodeRecord("mx-a", "run-2", "host-2", 202, T0 + 10, T0 + 10)
        held = await store.register_node(second, 30)
        assert held is not None and held.instance == "run-1" and held.host == "host-1"
        assert held.pid == 101 and held.started_at == T0
        other = NodeRecord("mx-b", "run-3", "host-2", 203, T0 + 10, T0 + 10)
        assert await store.register_node(other, 30) is None, "another id is free"
        assert await store.node_heartbeat("mx-a", "run-1", T0 + 20)
        assert await store.register_node(dataclasses.replace(second, heartbeat_at=T0 + 49), 30)
        # run-1 stopped beating at T0 + 20: stale at T0 + 50, then run-2 takes the id over.
        assert (
            await store.register_node(dataclasses.replace(second, heartbeat_at=T0 + 50), 30) is None
        )
        assert not await store.node_heartbeat("mx-a", "run-1", T0 + 51), "it lost the id"
        await store.unregister_node("mx-a", "run-1")  # not the holder: nothing happens
        third = NodeRecord("mx-a", "run-4", "host-1", 104, T0 + 52, T0 + 52)
        assert (await store.register_node(third, 30)).instance == "run-2"
        await store.unregister_node("mx-a", "run-2")
        assert await store.register_node(third, 30) is None, "a clean stop frees the id"

    run(scenario)


def test_a_holder_named_dead_is_replaced_whatever_its_heartbeat(run):
    async def scenario(store):
        assert await store.register_node(A, 30) is None
        restarted = NodeRecord("mx-a", "run-2", "host-1", 102, T0 + 1, T0 + 1)
        assert await store.register_node(restarted, 30, replacing="run-0") is not None
        assert await store.register_node(restarted, 30, replacing="run-1") is None
        assert await store.node_heartbeat("mx-a", "run-2", T0 + 2)

    run(scenario)


def test_two_nodes_on_one_postgresql_database_see_each_other(pg_url):
    a, b = open_store(pg_url, node_id="mx-a"), open_store(pg_url, node_id="mx-a")

    async def main() -> None:
        await a.open()
        await b.open()
        try:
            assert await a.register_node(A, 30) is None
            twin = NodeRecord("mx-a", "run-2", "host-2", 202, T0 + 1, T0 + 1)
            held = await b.register_node(twin, 30)
            assert held == A
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_a_node_publishes_its_key_encryption_key_ids(run):
    """The ids a node registers with are listed; a heartbeat with ids renews them, one
    without leaves them; a node that published none lists () (unknown)."""

    async def scenario(store):
        assert await store.nodes() == []
        assert await store.register_node(dataclasses.replace(A, kek_ids=("k1", "k0")), 30) is None
        other = NodeRecord("mx-b", "run-3", "host-2", 203, T0, T0)  # an older version: no ids
        assert await store.register_node(other, 30) is None
        listed = await store.nodes()
        assert [(n.node_id, n.host, n.kek_ids) for n in listed] == [
            ("mx-a", "host-1", ("k1", "k0")),
            ("mx-b", "host-2", ()),
        ]
        assert await store.node_heartbeat("mx-a", "run-1", T0 + 10, ("k2", "k1"))
        assert await store.node_heartbeat("mx-b", "run-3", T0 + 10)
        a, b = await store.nodes()
        assert a.kek_ids == ("k2", "k1") and a.heartbeat_at == T0 + 10
        assert b.kek_ids == () and b.heartbeat_at == T0 + 10
        assert not await store.node_heartbeat("mx-a", "run-9", T0 + 11, ("x",)), "not the holder"
        assert (await store.nodes())[0].kek_ids == ("k2", "k1")
        await store.unregister_node("mx-b", "run-3")
        assert [n.node_id for n in await store.nodes()] == ["mx-a"]

    run(scenario)
