"""The QueueAdmin contract (``store.contracts.queue_admin``) on every backend: selections,
dry-run counts, bulk hold/release/retry/cancel/bounce in batches with their ``admin`` events,
local held mail left alone by ``release``, domain suspensions parking mail at claim time
without counting attempts, and the qshape summary."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.ids import new_message_id
from sealpost.model.queue import RecipientResult
from sealpost.model.queue_admin import (
    PARK_RECHECK,
    AdminAction,
    Selection,
    SummaryRow,
    Suspension,
)
from sealpost.store import open_store

T0 = 1_700_000_000.0


def message(*recipients: str, sender: str = "app@sender.test", campaign: str | None = None):
    return InboundMessage(
        envelope=Envelope(mail_from=sender, recipients=recipients),
        session=SessionInfo(listener="api", client_ip="127.0.0.1", client_port=1),
        data=b"Subject: hi\r\n\r\nhello\r\n",
        annotations={"campaign_id": campaign} if campaign else {},
    )


async def fill(store) -> dict[str, str]:
    """Six messages of known shape; returns name -> id."""
    shapes = {
        "gmail_old": (message("a@gmail.test", campaign="spring"), T0, "queued"),
        "gmail_new": (message("b@GMAIL.test"), T0 + 3000, "queued"),
        "yahoo": (message("c@yahoo.test", sender="Other@Sender.test"), T0 + 3000, "queued"),
        "mixed": (message("d@gmail.test", "e@yahoo.test", campaign="spring"), T0 + 10, "queued"),
        "local": (message("f@local.test"), T0 + 20, "held"),
        "null": (message("g@gmail.test", sender=""), T0 + 30, "queued"),
    }
    names = {}
    for i, (name, (msg, at, state)) in enumerate(shapes.items()):
        mid = new_message_id(T0 + i)
        await store.enqueue(mid, msg, at, state=state)
        names[name] = mid
    return names


NOW = T0 + 3600


def test_dry_run_counts_follow_every_filter(run):
    async def scenario(store):
        await fill(store)
        count = store.count_selected
        assert await count(AdminAction.HOLD, Selection(), NOW) == 5  # queued only
        assert await count(AdminAction.CANCEL, Selection(), NOW) == 6  # queued and held
        assert await count(AdminAction.HOLD, Selection.of(domain="GMAIL.test."), NOW) == 4
        assert await count(AdminAction.HOLD, Selection.of(sender="other@sender.TEST"), NOW) == 1
        assert await count(AdminAction.HOLD, Selection.of(sender="<>"), NOW) == 1
        assert await count(AdminAction.HOLD, Selection.of(campaign="spring"), NOW) == 2
        assert await count(AdminAction.HOLD, Selection.of(older_than="30m"), NOW) == 3
        assert await count(AdminAction.HOLD, Selection.of(younger_than="50m"), NOW) == 2
        assert await count(AdminAction.HOLD, Selection.of(state="deferred"), NOW) == 0
        assert await count(AdminAction.CANCEL, Selection.of(state="held"), NOW) == 1
        both = Selection.of(domain="gmail.test", campaign="spring", older_than=3000)
        assert await count(AdminAction.RETRY, both, NOW) == 2
        assert await count(AdminAction.RELEASE, Selection(), NOW) == 0, "no admin-held mail"

    run(scenario)


def test_hold_release_retry_in_batches_with_events_and_local_mail_stays(run):
    async def scenario(store):
        names = await fill(store)
        gmail = Selection.of(domain="gmail.test")
        held = await store.apply_selection(AdminAction.HOLD, gmail, NOW, by="key1", batch=3)
        assert held == 4
        assert await store.claim_due(NOW + 10, 100, 60) != []  # yahoo only
        claimed = {c.message.id for c in await store.claim_due(NOW + 100, 100, 60)}
        assert not claimed & {names["gmail_old"], names["gmail_new"], names["mixed"]}
        counts = await store.count()
        assert counts["held"] == 5  # four admin-held plus the local one
        events = [e for e in await store.list_events(types=["admin"], limit=100)]
        counts = [e.fields["count"] for e in events]
        assert sum(counts) == 4 and max(counts) <= 3 and len(counts) >= 2, "event per batch"
        assert events[0].fields["action"] == "hold" and events[0].fields["by"] == "key1"
        assert events[0].fields["selection"] == {"domain": "gmail.test"}
        # release takes only what was admin-held: the local message stays held
        released = await store.apply_selection(AdminAction.RELEASE, Selection(), NOW, by="k")
        assert released == 4
        assert (await store.get(names["local"])).state == "held"
        assert (await store.get(names["gmail_new"])).next_attempt_at == NOW
        # retry makes queued mail due now, whatever its time was
        await store.apply_selection(
            AdminAction.RETRY, Selection.of(sender="other@sender.test"), NOW + 5, by="k"
        )
        yahoo = await store.get(names["yahoo"])
        assert yahoo.next_attempt_at == NOW + 5 and yahoo.state == "queued"

    run(scenario)


def test_cancel_and_bounce(run):
    async def scenario(store):
        names = await fill(store)
        n = await store.apply_selection(
            AdminAction.CANCEL, Selection.of(campaign="spring"), NOW, by="k"
        )
        assert n == 2
        mixed = await store.get(names["mixed"])
        assert mixed.state == "cancelled"
        assert {r.status for r in mixed.recipients} == {"cancelled"}
        # bounce releases the local held message to the dispatcher, marked
        n = await store.apply_selection(AdminAction.BOUNCE, Selection.of(state="held"), NOW, by="k")
        assert n == 1
        claims = await store.claim_due(NOW, 100, 60)
        marked = {c.message.id for c in claims if c.bounce}
        assert marked == {names["local"]}

    run(scenario)


def test_a_suspension_parks_mail_without_attempts_and_resume_makes_it_due(run):
    async def scenario(store):
        names = await fill(store)
        s = Suspension("gmail.test", NOW, until=NOW + 7200, reason="incident", created_by="k")
        parked = await store.suspend_domain(s, NOW)
        assert parked == 3  # gmail_old, gmail_new, null; mixed has a yahoo recipient too
        assert [x.domain for x in await store.suspensions(NOW)] == ["gmail.test"]
        assert await store.suspensions(NOW + 7200) == [], "it runs out"
        claims = {c.message.id: c for c in await store.claim_due(NOW + 60, 100, 60)}
        assert set(claims) == {names["yahoo"], names["mixed"]}
        mixed = claims[names["mixed"]]
        assert mixed.suspended == {"gmail.test"} and mixed.suspended_until == NOW + 7200
        assert not claims[names["yahoo"]].suspended
        # mail arriving meanwhile is parked at claim time, no attempt counted
        late = new_message_id(NOW + 100)
        await store.enqueue(late, message("z@gmail.test"), NOW + 100)
        assert await store.claim_due(NOW + 100, 100, 60) == []
        stored = await store.get(late)
        assert stored.next_attempt_at == NOW + 7200 and stored.attempts == 0
        # due again when the time runs out
        for c in claims.values():
            await store.record_attempt(
                c,
                [
                    RecipientResult(r.address, "delivered")
                    for r in c.message.recipients
                    if r.address[0] != "d"
                ],
                NOW + 9000,
            )
        after = {c.message.id for c in await store.claim_due(NOW + 7200, 100, 60)}
        assert {names["gmail_old"], late} <= after
        # resume: an open-ended suspension, then resumed
        open_ended = replace(s, until=None)
        await store.suspend_domain(open_ended, NOW + 7300)
        assert (await store.get(names["gmail_new"])).next_attempt_at == NOW + 7300 + PARK_RECHECK
        assert await store.resume_domain("gmail.test", NOW + 7400, by="k") is True
        assert (await store.get(names["gmail_new"])).next_attempt_at == NOW + 7400
        assert await store.resume_domain("gmail.test", NOW + 7400, by="k") is False
        types = [e.fields["action"] for e in await store.list_events(types=["admin"])]
        assert types == ["suspend", "suspend", "resume"]

    run(scenario)


def test_summary_groups_by_domain_state_and_age(run):
    async def scenario(store):
        await fill(store)
        rows = sorted(await store.queue_summary(NOW), key=lambda r: (r.domain, r.state, r.bucket))
        assert rows == sorted(
            [
                SummaryRow("gmail.test", "queued", 4, 3),  # 60 min old: bucket <80m
                SummaryRow("gmail.test", "queued", 2, 1),  # 10 min old: <20m
                SummaryRow("local.test", "held", 4, 1),
                SummaryRow("yahoo.test", "queued", 4, 1),
                SummaryRow("yahoo.test", "queued", 2, 1),
            ],
            key=lambda r: (r.domain, r.state, r.bucket),
        )

    run(scenario)


def test_every_node_obeys_a_suspension_made_on_another(pg_url):
    """Two nodes on one PostgreSQL database: node A suspends, node B's claims park the
    domain's mail (no attempt); A resumes, B claims it."""

    async def scenario():
        a, b = open_store(pg_url, node_id="node-a"), open_store(pg_url, node_id="node-b")
        await a.open()
        await b.open()
        try:
            mid = new_message_id(NOW)
            await b.enqueue(mid, message("u@paused.test"), NOW)
            await a.suspend_domain(Suspension("paused.test", NOW, None, "", "a"), NOW)
            late = new_message_id(NOW + 1)
            await b.enqueue(late, message("v@paused.test"), NOW + 1)
            assert await b.claim_due(NOW + 2, 10, 60) == []
            assert (await b.get(late)).attempts == 0
            assert [s.domain for s in await b.suspensions(NOW + 2)] == ["paused.test"]
            assert await a.resume_domain("paused.test", NOW + 3, by="a")
            claimed = {c.message.id for c in await b.claim_due(NOW + 3, 10, 60)}
            assert claimed == {mid, late}
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())
