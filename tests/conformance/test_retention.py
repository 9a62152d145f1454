"""The RetentionStore contract (``store.contracts.retention``) on every backend: expired
final messages, events, idempotency keys and received reports go in bounded batches, what is
queued, held or recent stays; a recipient's erasure counts (dry run) then removes its
messages, events and suppression entries and nothing of anyone else."""

from __future__ import annotations

from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.events import EventQuery, EventRecord
from sealpost.model.idempotency import IdempotencyRecord
from sealpost.model.ids import new_message_id
from sealpost.model.queue import RecipientResult, Submitted
from sealpost.model.received_report import ReceivedReport, ReportSource
from sealpost.model.retention import DAY, Cutoffs, Purged
from sealpost.model.suppression import Suppression, SuppressionSource, SuppressionType

T0 = 1_700_000_000.0


def message(*recipients: str) -> InboundMessage:
    return InboundMessage(
        envelope=Envelope(mail_from="app@sender.test", recipients=recipients),
        session=SessionInfo(listener="api", client_ip="127.0.0.1", client_port=1),
        data=b"Subject: hi\r\n\r\nhello\r\n",
    )


def event(mid: str, rcpt: str, at: float) -> EventRecord:
    return EventRecord("injection", mid, at, {"rcpt_to": rcpt.lower()}, rcpt.lower())


def report(our_id: str, at: float) -> ReceivedReport:
    return ReceivedReport(
        id=our_id,
        organization="Google Inc.",
        report_id="r" + our_id,
        start=at - DAY,
        end=at,
        policy_domains=("sender.test",),
        successful=1,
        failed=0,
        contact_info="x@google.test",
        received_at=at,
        source=ReportSource.API,
        message_id=None,
        report_json="{}",
    )


async def deliver(store, mid: str, rcpt: str, at: float) -> None:
    await store.enqueue(mid, message(rcpt), at, [event(mid, rcpt, at)])
    [claim] = await store.claim_due(at, 1, 60)
    assert claim.message.id == mid
    await store.record_attempt(claim, [RecipientResult(rcpt, "delivered", "250 ok")], at)


def test_purge_removes_expired_rows_in_bounded_batches_and_keeps_the_rest(run):
    async def scenario(store):
        old = [new_message_id(T0 + i) for i in range(5)]
        for i, mid in enumerate(old):
            await deliver(store, mid, f"u{i}@example.test", T0 + i)
        await store.record_delay_notice(old[0], T0)
        cancelled, queued, held, recent = (new_message_id(T0 + 10 + i) for i in range(4))
        await store.enqueue(cancelled, message("c@example.test"), T0)
        await store.cancel(cancelled)
        await store.enqueue(queued, message("q@example.test"), T0 + 100 * DAY)  # not due
        await store.enqueue(held, message("h@example.test"), T0, state="held")
        await deliver(store, recent, "r@example.test", T0 + 20 * DAY)
        await store.add_events([event("x", "late@example.test", T0 + 20 * DAY)])
        for i, at in enumerate((T0, T0 + 20 * DAY)):
            record = IdempotencyRecord(f"k{i}", "f", {"ok": True}, at)
            await store.enqueue_batch(
                [Submitted(new_message_id(T0 + 30 + i), message("i@example.test"))],
                at + 100 * DAY,  # enqueued far ahead so they stay queued
                idempotency=record,
            )
        await store.add_received_report(report("1", T0))
        await store.add_received_report(report("2", T0 + 20 * DAY))

        cut = T0 + 10 * DAY
        cutoffs = Cutoffs(messages=cut, events=cut, idempotency=cut, received_reports=cut)
        first = await store.purge_expired(cutoffs, batch=2)
        assert first.messages <= 4  # two per final state at most
        assert first.events == 2 and first.idempotency == 1 and first.received_reports == 1
        total = first
        for _ in range(10):
            step = await store.purge_expired(cutoffs, batch=2)
            total = total + step
            if step.total == 0:
                break
        assert total == Purged(messages=6, events=5, idempotency=1, received_reports=1)

        for mid in (*old, cancelled):
            assert await store.get(mid) is None
        assert not await store.delay_notice_sent(old[0])
        for mid in (queued, held, recent):
            assert await store.get(mid) is not None
        left = await store.search_events(EventQuery(limit=100))
        assert sorted(e.rcpt_to for e in left) == ["late@example.test", "r@example.test"]
        assert await store.get_idempotency("k0") is None
        assert await store.get_idempotency("k1") is not None
        assert await store.get_received_report("1") is None
        assert await store.get_received_report("2") is not None
        assert await store.purge_expired(Cutoffs(), batch=100) == Purged()

    run(scenario)


def test_erase_recipient_counts_then_removes_only_that_person(run):
    async def scenario(store):
        gone, kept, shared = (new_message_id(T0 + i) for i in range(3))
        await deliver(store, gone, "Ann@Example.test", T0)
        await deliver(store, kept, "bob@example.test", T0 + 1)
        await store.enqueue(shared, message("bob@example.test", "ANN@example.test"), T0 + 2)
        entries = [
            Suppression("ann@example.test", t, SuppressionSource.MANUALLY_ADDED, "", T0, T0)
            for t in SuppressionType
        ]
        entries.append(
            Suppression(
                "bob@example.test",
                SuppressionType.TRANSACTIONAL,
                SuppressionSource.MANUALLY_ADDED,
                "",
                T0,
                T0,
            )
        )
        await store.put_suppressions(entries)
        found = await store.erase_recipient("ann@EXAMPLE.test", dry_run=True)
        assert found == Purged(messages=2, events=1, suppressions=2, queued_messages=1)
        assert await store.get(gone) is not None, "a dry run removes nothing"
        assert await store.erase_recipient(" ann@example.test ") == found
        assert await store.get(gone) is None and await store.get(shared) is None
        assert await store.get(kept) is not None
        left = await store.search_events(EventQuery(limit=100))
        assert [e.rcpt_to for e in left] == ["bob@example.test"]
        assert await store.suppressions_of("ann@example.test") == []
        assert len(await store.suppressions_of("bob@example.test")) == 1
        assert await store.erase_recipient("ann@example.test") == Purged()

    run(scenario)


def test_sqlite_space_comes_back_after_a_purge(tmp_path):
    import asyncio
    import os

    from sealpost.store import open_store

    async def main() -> None:
        store = open_store("sqlite:///q.db", base_dir=tmp_path)
        await store.open()
        try:
            facts = await store.storage_facts()
            assert facts["auto_vacuum"] == "incremental"
            big = InboundMessage(
                envelope=Envelope(mail_from="a@sender.test", recipients=("x@example.test",)),
                session=SessionInfo(listener="api", client_ip="127.0.0.1", client_port=1),
                data=os.urandom(200_000),
            )
            for i in range(20):
                mid = new_message_id(T0 + i)
                await store.enqueue(mid, big, T0)
                [claim] = await store.claim_due(T0, 1, 60)
                await store.record_attempt(
                    claim, [RecipientResult("x@example.test", "bounced")], T0
                )
            before = (await store.storage_facts())["page_count"]
            purged = await store.purge_expired(Cutoffs(messages=T0 + 1), batch=100)
            assert purged.messages == 20
            assert (await store.storage_facts())["freelist_count"] > 0
            returned = await store.reclaim_space(100_000)
            facts = await store.storage_facts()
            assert returned > 0 and facts["freelist_count"] == 0
            assert facts["page_count"] < before / 2
        finally:
            await store.close()

    asyncio.run(main())


def test_local_held_mail_goes_after_held_days_but_never_what_an_operator_held(run):
    from sealpost.model.queue_admin import AdminAction, Selection

    async def scenario(store):
        local_old, local_new, operator = (new_message_id(T0 + i) for i in range(3))
        await store.enqueue(local_old, message("a@local.test"), T0, state="held", report_mark=True)
        await store.enqueue(local_new, message("b@local.test"), T0 + 20 * DAY, state="held")
        await store.enqueue(operator, message("c@remote.test"), T0 + 100 * DAY)
        assert await store.list_report_marked() == [local_old]
        held = await store.apply_selection(
            AdminAction.HOLD, Selection.of(domain="remote.test"), T0, by="test"
        )
        assert held == 1
        # the operator's hold is dated by its arrival too: make it look old enough
        cut = Cutoffs(held=T0 + 200 * DAY)
        gone = await store.purge_expired(cut, batch=10)
        assert gone.messages == 2
        assert await store.get(local_old) is None and await store.get(local_new) is None
        assert (await store.get(operator)).state == "held", "an operator's hold stays"
        assert await store.purge_expired(Cutoffs(held=T0 + 10 * DAY), batch=10) == Purged()
        assert await store.list_report_marked() == []

    run(scenario)


def test_a_purged_held_message_takes_its_report_mark_along(tmp_path):
    """The mark table has no foreign key: the purge deletes a held message's mark with it."""
    import asyncio
    import sqlite3

    from sealpost.store import open_store

    async def main():
        store = open_store("sqlite:///q.db", base_dir=tmp_path)
        await store.open()
        try:
            mid = new_message_id(T0)
            await store.enqueue(mid, message("a@local.test"), T0, state="held", report_mark=True)
            assert (await store.purge_expired(Cutoffs(held=T0 + DAY), batch=10)).messages == 1
        finally:
            await store.close()
        with sqlite3.connect(tmp_path / "q.db") as conn:
            assert conn.execute("SELECT count(*) FROM tlsrpt_marks").fetchone()[0] == 0

    asyncio.run(main())
