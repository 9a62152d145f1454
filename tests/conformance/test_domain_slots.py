"""Conformance of the DomainSlots half of every backend: a domain has ``limit`` slots, a
slot is held until freed or until its lease expires, domains do not share slots, and a slot
freed late (after being taken over) does not free its new holder's."""

from __future__ import annotations

T0 = 1_700_000_000.0


def test_a_domain_has_limit_slots_each_held_until_freed_or_expired(run):
    async def scenario(store):
        first = await store.take_domain_slot("example.test", 2, T0, 60)
        second = await store.take_domain_slot("example.test", 2, T0, 60)
        assert first is not None and second is not None
        assert {first.index, second.index} == {0, 1}
        assert await store.take_domain_slot("example.test", 2, T0 + 1, 60) is None, "full"
        other = await store.take_domain_slot("other.test", 2, T0 + 1, 60)
        assert other is not None, "another domain has slots of its own"
        await store.free_domain_slot(first)
        again = await store.take_domain_slot("example.test", 2, T0 + 2, 60)
        assert again is not None and again.index == first.index
        assert await store.take_domain_slot("example.test", 2, T0 + 3, 60) is None
        # second's holder died: its lease runs out at T0 + 60, then the slot is free.
        taken_over = await store.take_domain_slot("example.test", 2, T0 + 60, 60)
        assert taken_over is not None and taken_over.index == second.index
        await store.free_domain_slot(second)  # late: it was taken over, nothing happens
        assert await store.take_domain_slot("example.test", 2, T0 + 61, 60) is None
        await store.free_domain_slot(taken_over)
        await store.free_domain_slot(taken_over)  # twice is harmless
        assert await store.take_domain_slot("example.test", 2, T0 + 62, 60) is not None

    run(scenario)


def test_a_lower_limit_is_honoured_at_once(run):
    async def scenario(store):
        for _ in range(3):
            assert await store.take_domain_slot("example.test", 3, T0, 60) is not None
        assert await store.take_domain_slot("example.test", 1, T0, 60) is None

    run(scenario)
