"""The ConfigChanges contract, run against every backend: a write of a setting (a sending
domain, a webhook, a template) is announced to ``wait_for_config_change`` and shows in
``config_fingerprints``; other documents (transmissions, delay notices) do neither."""

from __future__ import annotations

import asyncio

from sealpost.model.document import Document
from sealpost.store.contracts.config_changes import CONFIG_KINDS, Fingerprint

T0 = 1_700_000_000.0


def domain(name: str, at: float) -> Document:
    return Document("sending_domain", name, {"domain": name}, at)


def test_an_empty_store_has_a_fingerprint_for_every_kind(run):
    async def scenario(store):
        assert await store.config_fingerprints() == dict.fromkeys(CONFIG_KINDS, Fingerprint(0, 0))

    run(scenario)


def test_every_write_of_a_setting_changes_its_fingerprint_only(run):
    async def scenario(store):
        seen = [await store.config_fingerprints()]

        async def look() -> set[str]:
            now = await store.config_fingerprints()
            assert now != seen[-1]
            changed = {k for k in CONFIG_KINDS if now[k] != seen[-1][k]}
            seen.append(now)
            return changed

        await store.put_document(domain("a.test", T0))
        assert await look() == {"sending_domain"}
        await store.put_document(domain("a.test", T0 + 1.5))  # replaced: a new updated_at
        assert await look() == {"sending_domain"}
        await store.put_document(Document("webhook", "w1", {"target": "x"}, T0))
        assert await look() == {"webhook"}
        assert await store.delete_document("sending_domain", "a.test")
        assert await look() == {"sending_domain"}
        assert await store.config_fingerprints() == seen[-1]  # nothing changed: the same
        await store.put_document(Document("transmission", "1", {}, T0))
        await store.record_delay_notice("m1", T0)
        assert await store.config_fingerprints() == seen[-1]  # records, not settings
        assert not await store.delete_document("template", "missing")
        assert await store.config_fingerprints() == seen[-1]

    run(scenario)


def test_a_write_of_a_setting_wakes_a_waiter_with_its_kind(run):
    async def scenario(store):
        assert await store.wait_for_config_change(0.05) == frozenset()  # listening now
        waiter = asyncio.create_task(store.wait_for_config_change(10))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        await store.put_document(Document("template", "t1", {"name": "t"}, T0))
        assert await asyncio.wait_for(waiter, 5) == {"template"}
        assert await store.wait_for_config_change(0.05) == frozenset()  # consumed

    run(scenario)


def test_changes_made_while_nobody_waits_are_kept_and_collapse(run):
    async def scenario(store):
        await store.wait_for_config_change(0)
        await store.put_document(domain("a.test", T0))
        await store.put_document(domain("b.test", T0))
        await store.put_document(Document("webhook", "w1", {}, T0))
        await store.delete_document("webhook", "w1")
        await store.put_document(Document("transmission", "1", {}, T0))  # not a setting
        kinds: set[str] = set()
        wakeups = 0
        while more := await store.wait_for_config_change(5 if len(kinds) < 2 else 0.2):
            kinds |= more
            wakeups += 1
        assert kinds == {"sending_domain", "webhook"}
        # Four writes wake at most four times (in this process they collapse into one; each
        # PostgreSQL COMMIT's notification may arrive after an earlier wake-up).
        assert 1 <= wakeups <= 4

    run(scenario)


def test_records_that_are_not_settings_wake_nobody(run):
    async def scenario(store):
        await store.wait_for_config_change(0)
        await store.put_document(Document("transmission", "1", {}, T0))
        await store.record_delay_notice("m1", T0)
        assert await store.wait_for_config_change(0.2) == frozenset()

    run(scenario)
