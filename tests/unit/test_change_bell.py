"""The bell the worker processes ring after writing settings (``store.change_bell``), and
``LocalChanges.wait`` ending when another process rang it: across real forked processes."""

from __future__ import annotations

import asyncio

import pytest

from sealpost.store.change_bell import ChangeBell
from sealpost.store.local_changes import LocalChanges
from tests.forked import in_child


def ring_in_child(bell: ChangeBell, seat: int, times: int = 1) -> None:
    def ring() -> None:
        for _ in range(times):
            bell.ring(seat)

    assert in_child(ring) == 0


def test_each_worker_rings_its_own_counter_and_every_process_reads_the_sum():
    bell = ChangeBell(3)
    assert bell.rung() == 0
    bell.ring(0)
    ring_in_child(bell, 1, times=2)
    ring_in_child(bell, 2)
    assert bell.rung() == 4, "the children's rings are in the shared memory"


def test_a_ring_from_another_process_ends_the_wait_without_kinds():
    asyncio.run(_a_ring_from_another_process_ends_the_wait_without_kinds())


async def _a_ring_from_another_process_ends_the_wait_without_kinds():
    bell = ChangeBell(2)
    changes = LocalChanges()
    changes.share(bell, 0)

    async def ring_later() -> None:
        await asyncio.sleep(0.05)
        ring_in_child(bell, 1)

    ringer = asyncio.create_task(ring_later())
    # Without the bell this would wait the whole minute: the bound fails the test instead.
    kinds = await asyncio.wait_for(changes.wait(60.0), 10.0)
    await ringer
    assert kinds == frozenset(), "another process's kinds are read from the fingerprints"
    assert await changes.wait(0.3) == frozenset()  # heard once: no second wake-up


def test_own_writes_ring_and_are_returned_by_kind():
    asyncio.run(_own_writes_ring_and_are_returned_by_kind())


async def _own_writes_ring_and_are_returned_by_kind():
    bell = ChangeBell(2)
    changes, other = LocalChanges(), LocalChanges()
    changes.share(bell, 0)
    other.share(bell, 1)
    changes.noted("webhook")
    changes.noted("message")  # not a settings kind: neither kept nor rung
    assert bell.rung() == 1
    assert await changes.wait(5.0) == frozenset({"webhook"})
    assert await asyncio.wait_for(other.wait(60.0), 10.0) == frozenset()


def test_without_a_bell_the_wait_lasts_its_timeout():
    asyncio.run(_without_a_bell_the_wait_lasts_its_timeout())


async def _without_a_bell_the_wait_lasts_its_timeout():
    changes = LocalChanges()
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await changes.wait(0.3) == frozenset()
    assert loop.time() - began == pytest.approx(0.3, abs=0.25)
