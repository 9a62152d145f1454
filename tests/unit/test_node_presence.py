"""``node_presence``: a node claims its id, refuses one held by a live instance (naming its
host and pid), replaces its own dead previous run on the same host at once, renews its
heartbeat while it runs and gives the id back at a clean stop. The registry is the memory
backend's (the conformance suite holds PostgreSQL to the same contract)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from sealpost.node_presence import NodeIdInUse, NodePresence
from sealpost.store.memory.store import MemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def presence(store: MemoryStore, clock: Clock, host: str, pid: int, alive: bool) -> NodePresence:
    return NodePresence(
        store, "mx-a", clock=clock, host=host, pid=pid, alive=lambda _pid: alive, interval=0.01
    )


def test_a_live_holder_is_named_and_a_dead_one_on_this_host_replaced() -> None:
    async def main() -> None:
        store, clock = MemoryStore(), Clock()
        first = presence(store, clock, "host-1", 101, alive=True)
        await first.claim()
        elsewhere = presence(store, clock, "host-2", 202, alive=False)
        with pytest.raises(NodeIdInUse, match=r"'mx-a' is in use .*host host-1, pid 101"):
            await elsewhere.claim()  # another host: its pid says nothing here
        here_alive = presence(store, clock, "host-1", 102, alive=True)
        with pytest.raises(NodeIdInUse):
            await here_alive.claim()
        restarted = presence(store, clock, "host-1", 103, alive=False)
        await restarted.claim()  # pid 101 is gone: its previous run, replaced at once
        clock.now += 31  # restarted never beat: stale now, another host may take over
        await elsewhere.claim()

    asyncio.run(main())


async def until(condition: Callable[[], bool], what: str) -> None:
    """Bounded wait (5 s) for the heartbeat task to have done something: a fixed sleep lost
    the race on a loaded machine (the claim below ran before the first renewal)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never saw {what}")


def test_the_heartbeat_is_renewed_while_running_and_the_id_freed_at_stop(caplog) -> None:
    async def main() -> None:
        store, clock = MemoryStore(), Clock()
        beats: list[float] = []
        renew = store.node_heartbeat

        async def counted(
            node_id: str, instance: str, now: float, kek_ids: tuple[str, ...] | None = None
        ) -> bool:
            renewed = await renew(node_id, instance, now, kek_ids)
            beats.append(now)
            return renewed

        store.node_heartbeat = counted  # type: ignore[method-assign]
        node = presence(store, clock, "host-1", 101, alive=True)
        await node.claim()
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        clock.now += 25
        await until(lambda: bool(beats), "a heartbeat")
        clock.now += 25  # 50 s after the claim, but the heartbeat was renewed at +25
        with pytest.raises(NodeIdInUse):
            await presence(store, clock, "host-2", 202, alive=True).claim()
        # Taken over (a node that missed its heartbeats): logged as an error.
        clock.now += 100
        await presence(store, clock, "host-2", 202, alive=True).claim()
        with caplog.at_level(logging.ERROR, "sealpost.cluster"):
            await until(lambda: "took this node_id over" in caplog.text, "the takeover logged")
        stop.set()
        await running
        await node.release()  # not the holder any more: host-2's entry stays
        with pytest.raises(NodeIdInUse):
            await presence(store, clock, "host-3", 303, alive=True).claim()

    asyncio.run(main())


def test_the_key_encryption_key_ids_are_published_at_the_claim_and_renewed_by_heartbeats():
    """A key a SIGHUP added to the keyring shows in the registry within one heartbeat."""

    async def main() -> None:
        store, clock = MemoryStore(), Clock()
        ring = ["k1"]
        node = NodePresence(
            store, "mx-a", clock=clock, host="h", pid=1, interval=0.01, kek_ids=lambda: tuple(ring)
        )
        await node.claim()
        assert [n.kek_ids for n in await store.nodes()] == [("k1",)]
        ring[:0] = ["k2"]  # the SIGHUP: k2 current, k1 previous
        stop = asyncio.Event()
        running = asyncio.create_task(node.run(stop))
        seen: list[tuple[str, ...]] = []

        async def published() -> None:
            for _ in range(500):
                seen[:] = [n.kek_ids for n in await store.nodes()]
                if seen == [("k2", "k1")]:
                    return
                await asyncio.sleep(0.01)

        await published()
        stop.set()
        await running
        assert seen == [("k2", "k1")]

    asyncio.run(main())
