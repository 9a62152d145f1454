"""The QueueStore/KeyStore contract, run against every backend (memory, sqlite)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.grants import ALL_GRANTS, Grant
from sealpost.model.ids import new_message_id
from sealpost.model.queue import RecipientResult, StoredRecipient
from sealpost.model.tls_record import TlsRecord
from sealpost.store.errors import DuplicateError, LeaseLostError, StoreError

T0 = 1_700_000_000.0
DATA = b"Subject: hi\r\n\r\n" + bytes(range(256)) + b"\r\n"


def message(
    *recipients: str, data: bytes = DATA, listener: str = "smtp", tls: bool = True
) -> InboundMessage:
    record = TlsRecord(
        version="TLSv1.3",
        cipher="TLS_AES_256_GCM_SHA384",
        bits=256,
        sni="mx.example.test",
        peer_cert_sha256="ab" * 32,
        verified=False,
        verify_error="self-signed certificate",
        extra={"alpn": None, "groups": ["x25519"]},
    )
    return InboundMessage(
        envelope=Envelope(
            mail_from="sender@example.test",
            recipients=recipients or ("a@example.test", "b@example.test"),
            body="8BITMIME",
            smtputf8=True,
            requiretls=True,
            declared_size=4096,
        ),
        session=SessionInfo(
            listener=listener,
            client_ip="127.0.0.1",
            client_port=40000,
            helo="client.example.test",
            esmtp=True,
            auth_user="0123abcd",
            tls=record if tls else None,
            local_hostname="mx.sealpost.test",
        ),
        data=data,
        extra_headers=("X-One: 1", "X-Two: ü"),
    )


def ids(n: int) -> list[str]:
    return [new_message_id(T0 + i) for i in range(n)]


# --- enqueue / get --------------------------------------------------------------------------
def test_enqueue_get_round_trip(run):
    async def scenario(store):
        msg = message()
        [mid] = ids(1)
        await store.enqueue(mid, msg, T0)
        stored = await store.get(mid)
        assert stored is not None
        assert stored.id == mid
        assert stored.message == msg  # envelope, session with TlsRecord, extra headers
        assert stored.message.data == DATA and stored.size == len(DATA)
        assert stored.message.session.tls.extra == {"alpn": None, "groups": ["x25519"]}
        assert (stored.state, stored.attempts) == ("queued", 0)
        assert stored.created_at == T0 and stored.next_attempt_at == T0
        assert stored.recipients == (
            StoredRecipient("a@example.test", "queued"),
            StoredRecipient("b@example.test", "queued"),
        )
        assert await store.get(new_message_id(T0)) is None

    run(scenario)


def test_round_trip_without_tls_and_null_sender(run):
    async def scenario(store):
        msg = message("only@example.test", tls=False, data=b"")
        msg = replace(msg, envelope=replace(msg.envelope, mail_from="", declared_size=None))
        await store.enqueue("m1", msg, T0)
        stored = await store.get("m1")
        assert stored.message == msg
        assert stored.message.session.tls is None

    run(scenario)


def test_duplicate_id_is_refused_and_original_kept(run):
    async def scenario(store):
        await store.enqueue("m1", message(), T0)
        with pytest.raises(DuplicateError):
            await store.enqueue("m1", message("other@example.test", data=b"x"), T0 + 1)
        stored = await store.get("m1")
        assert stored.message.data == DATA and len(stored.recipients) == 2

    run(scenario)


def test_message_without_recipients_is_refused(run):
    async def scenario(store):
        msg = replace(message(), envelope=replace(message().envelope, recipients=()))
        with pytest.raises(StoreError):
            await store.enqueue("m1", msg, T0)
        assert await store.get("m1") is None

    run(scenario)


# --- list / count ---------------------------------------------------------------------------
def test_list_pages_by_id_and_filters_by_state(run):
    async def scenario(store):
        all_ids = ids(25)
        for i, mid in enumerate(reversed(all_ids)):
            await store.enqueue(mid, message(listener=f"l{i}"), T0)
        first = await store.list(limit=10)
        assert [r.id for r in first] == all_ids[:10]
        second = await store.list(limit=10, after=first[-1].id)
        assert [r.id for r in second] == all_ids[10:20]
        third = await store.list(limit=10, after=second[-1].id)
        assert [r.id for r in third] == all_ids[20:]
        assert await store.list(after=all_ids[-1]) == []

        row = first[0]
        assert (row.mail_from, row.recipient_count, row.size) == (
            "sender@example.test",
            2,
            len(DATA),
        )
        assert (row.state, row.attempts, row.created_at, row.next_attempt_at) == (
            "queued",
            0,
            T0,
            T0,
        )
        assert row.listener == "l24" and row.tls_version == "TLSv1.3"

        for mid in all_ids[3:8]:
            assert await store.cancel(mid)
        cancelled = await store.list(state="cancelled")
        assert [r.id for r in cancelled] == all_ids[3:8]
        page = await store.list(state="queued", limit=4, after=all_ids[1])
        assert [r.id for r in page] == [all_ids[2], *all_ids[8:11]]
        assert await store.list(state="done") == []

    run(scenario)


def test_count_per_state(run):
    async def scenario(store):
        assert await store.count() == {"queued": 0, "held": 0, "done": 0, "cancelled": 0}
        a, b, c, d = ids(4)
        for mid in (a, b, c):
            await store.enqueue(mid, message("x@example.test"), T0)
        await store.enqueue(d, message("x@example.test"), T0, state="held")
        await store.cancel(b)
        [claim] = await store.claim_due(T0, 1, 60)
        await store.record_attempt(claim, [RecipientResult("x@example.test", "delivered")], T0)
        assert await store.count() == {"queued": 1, "held": 1, "done": 1, "cancelled": 1}

    run(scenario)


# --- claim_due ------------------------------------------------------------------------------
def test_claim_due_only_due_messages_oldest_first(run):
    async def scenario(store):
        early, late, future = ids(3)
        await store.enqueue(future, message(), T0 + 100)
        await store.enqueue(late, message(), T0 + 10)
        await store.enqueue(early, message(), T0)
        assert await store.claim_due(T0 - 1, 10, 60) == []
        claims = await store.claim_due(T0 + 50, 10, 60)
        assert [c.message.id for c in claims] == [early, late]
        claim = claims[0]
        assert claim.lease_until == T0 + 110
        assert claim.message.message == message() and claim.message.state == "queued"
        assert claims[0].token != claims[1].token

    run(scenario)


def test_claim_due_respects_limit(run):
    async def scenario(store):
        for mid in ids(7):
            await store.enqueue(mid, message(), T0)
        first = await store.claim_due(T0, 3, 60)
        second = await store.claim_due(T0, 3, 60)
        third = await store.claim_due(T0, 3, 60)
        assert [len(first), len(second), len(third)] == [3, 3, 1]
        claimed = {c.message.id for c in first + second + third}
        assert len(claimed) == 7
        assert await store.claim_due(T0, 0, 60) == []

    run(scenario)


def test_live_lease_excludes_and_expired_lease_is_reclaimable(run):
    async def scenario(store):
        [mid] = ids(1)
        await store.enqueue(mid, message(), T0)
        [first] = await store.claim_due(T0, 10, 60)
        assert await store.claim_due(T0 + 30, 10, 60) == []
        assert await store.claim_due(T0 + 60, 10, 60) == []  # lease_until is still live
        # The worker crashed: once the lease expires the message comes back (K11).
        [second] = await store.claim_due(T0 + 61, 10, 60)
        assert second.message.id == mid and second.token != first.token
        assert second.lease_until == T0 + 121

    run(scenario)


# --- record_attempt -------------------------------------------------------------------------
def test_partial_delivery_keeps_message_queued(run):
    async def scenario(store):
        [mid] = ids(1)
        await store.enqueue(mid, message(), T0)
        [claim] = await store.claim_due(T0, 10, 60)
        await store.record_attempt(
            claim,
            [
                RecipientResult("a@example.test", "delivered", "250 2.0.0 ok"),
                RecipientResult("b@example.test", "queued", "451 4.3.0 try later"),
            ],
            T0 + 300,
        )
        stored = await store.get(mid)
        assert (stored.state, stored.attempts, stored.next_attempt_at) == ("queued", 1, T0 + 300)
        assert stored.recipients == (
            StoredRecipient("a@example.test", "delivered", 1, "250 2.0.0 ok"),
            StoredRecipient("b@example.test", "queued", 1, "451 4.3.0 try later"),
        )
        # Lease cleared, but not due before next_attempt_at.
        assert await store.claim_due(T0 + 299, 10, 60) == []
        [again] = await store.claim_due(T0 + 300, 10, 60)
        # The delivered recipient is final: a later result for it changes nothing (K6).
        await store.record_attempt(
            again,
            [
                RecipientResult("a@example.test", "bounced", "550 no"),
                RecipientResult("b@example.test", "bounced", "550 5.1.1 unknown user"),
            ],
            T0 + 900,
        )
        stored = await store.get(mid)
        assert (stored.state, stored.attempts) == ("done", 2)
        assert stored.recipients == (
            StoredRecipient("a@example.test", "delivered", 1, "250 2.0.0 ok"),
            StoredRecipient("b@example.test", "bounced", 2, "550 5.1.1 unknown user"),
        )
        assert await store.claim_due(T0 + 10_000, 10, 60) == []

    run(scenario)


def test_all_final_in_one_attempt_is_done(run):
    async def scenario(store):
        [mid] = ids(1)
        await store.enqueue(mid, message(), T0)
        [claim] = await store.claim_due(T0, 10, 60)
        await store.record_attempt(
            claim,
            [
                RecipientResult("a@example.test", "delivered", "250 ok"),
                RecipientResult("b@example.test", "bounced", "550 no"),
            ],
            T0 + 60,
        )
        stored = await store.get(mid)
        assert stored.state == "done" and stored.attempts == 1
        assert [r.status for r in stored.recipients] == ["delivered", "bounced"]

    run(scenario)


def test_unlisted_recipients_are_untouched(run):
    async def scenario(store):
        [mid] = ids(1)
        await store.enqueue(mid, message(), T0)
        [claim] = await store.claim_due(T0, 10, 60)
        await store.record_attempt(claim, [RecipientResult("a@example.test", "delivered")], T0)
        stored = await store.get(mid)
        assert stored.state == "queued"
        assert stored.recipients[1] == StoredRecipient("b@example.test", "queued")

    run(scenario)


def test_stale_token_is_refused(run):
    async def scenario(store):
        [mid] = ids(1)
        await store.enqueue(mid, message(), T0)
        [old] = await store.claim_due(T0, 10, 60)
        [new] = await store.claim_due(T0 + 61, 10, 60)  # the old lease expired, stolen
        results = [RecipientResult("a@example.test", "delivered")]
        with pytest.raises(LeaseLostError):
            await store.record_attempt(old, results, T0 + 100)
        stored = await store.get(mid)
        assert stored.attempts == 0 and stored.recipients[0].status == "queued"
        await store.record_attempt(new, results, T0 + 100)
        with pytest.raises(StoreError):  # its lease is gone once recorded
            await store.record_attempt(new, results, T0 + 100)
        assert (await store.get(mid)).attempts == 1

    run(scenario)


def test_unknown_recipient_in_results_is_refused(run):
    async def scenario(store):
        [mid] = ids(1)
        await store.enqueue(mid, message(), T0)
        [claim] = await store.claim_due(T0, 10, 60)
        with pytest.raises(StoreError):
            await store.record_attempt(
                claim,
                [
                    RecipientResult("a@example.test", "delivered"),
                    RecipientResult("stranger@example.test", "delivered"),
                ],
                T0,
            )
        stored = await store.get(mid)
        assert stored.attempts == 0 and stored.recipients[0].status == "queued"
        await store.release(claim)  # the claim is still valid after the refusal

    run(scenario)


# --- cancel / release -----------------------------------------------------------------------
def test_cancel(run):
    async def scenario(store):
        a, b = ids(2)
        await store.enqueue(a, message(), T0)
        await store.enqueue(b, message("x@example.test"), T0)
        [claim, _] = await store.claim_due(T0, 10, 60)
        assert claim.message.id == a
        await store.record_attempt(claim, [RecipientResult("a@example.test", "delivered")], T0)
        assert await store.cancel(a) is True
        stored = await store.get(a)
        assert stored.state == "cancelled"
        assert [r.status for r in stored.recipients] == ["delivered", "cancelled"]
        assert await store.cancel(a) is False
        assert await store.cancel("no-such-message") is False
        later = await store.claim_due(T0 + 10_000, 10, 60)
        assert [c.message.id for c in later] == [b]  # the cancelled one is never claimed

    run(scenario)


def test_cancel_done_message_is_refused_and_cancelled_is_not_claimed(run):
    async def scenario(store):
        a, b = ids(2)
        await store.enqueue(a, message("x@example.test"), T0)
        await store.enqueue(b, message("y@example.test"), T0)
        [claim_a, claim_b] = await store.claim_due(T0, 10, 60)
        await store.record_attempt(claim_a, [RecipientResult("x@example.test", "delivered")], T0)
        assert await store.cancel(a) is False
        assert (await store.get(a)).state == "done"
        await store.release(claim_b)
        assert await store.cancel(b) is True
        assert await store.claim_due(T0 + 10_000, 10, 60) == []

    run(scenario)


def test_release_gives_lease_back_unchanged(run):
    async def scenario(store):
        [mid] = ids(1)
        await store.enqueue(mid, message(), T0)
        [claim] = await store.claim_due(T0, 10, 60)
        await store.release(claim)
        stored = await store.get(mid)
        assert (stored.state, stored.attempts, stored.next_attempt_at) == ("queued", 0, T0)
        [again] = await store.claim_due(T0, 10, 60)  # claimable at once
        await store.release(claim)  # stale: must not free the new holder's lease
        assert await store.claim_due(T0 + 1, 10, 60) == []
        await store.record_attempt(again, [RecipientResult("a@example.test", "delivered")], T0)

    run(scenario)


# --- held (mail that stays here) ------------------------------------------------------------
def test_held_is_stored_held_and_never_claimed(run):
    async def scenario(store):
        held, queued = ids(2)
        await store.enqueue(held, message(), T0, state="held")
        await store.enqueue(queued, message(), T0)
        stored = await store.get(held)
        assert (stored.state, stored.attempts, stored.next_attempt_at) == ("held", 0, T0)
        assert [r.status for r in stored.recipients] == ["queued", "queued"]
        for later in (T0, T0 + 86_400, T0 + 10**9):
            claims = await store.claim_due(later, 100, 10**10)  # the queued one stays leased
            assert [c.message.id for c in claims] == ([queued] if later == T0 else [])
        assert (await store.get(held)).attempts == 0
        assert await store.release_all_leases() == 1  # the queued one's lease only
        assert (await store.get(held)).state == "held"

    run(scenario)


def test_held_is_counted_and_listed(run):
    async def scenario(store):
        a, b, c = ids(3)
        await store.enqueue(a, message(), T0, state="held")
        await store.enqueue(b, message(), T0)
        await store.enqueue(c, message(), T0, state="held")
        assert await store.count() == {"queued": 1, "held": 2, "done": 0, "cancelled": 0}
        rows = await store.list(state="held")
        assert [(r.id, r.state, r.attempts) for r in rows] == [(a, "held", 0), (c, "held", 0)]
        assert [r.state for r in await store.list()] == ["held", "queued", "held"]
        assert [r.id for r in await store.list(state="held", after=a)] == [c]
        assert [r.id for r in await store.list(state="queued")] == [b]

    run(scenario)


def test_retry_now_releases_a_held_message(run):
    async def scenario(store):
        [mid] = ids(1)
        await store.enqueue(mid, message(), T0, state="held")
        assert await store.retry_now(mid, T0 + 500) is True
        stored = await store.get(mid)
        assert (stored.state, stored.next_attempt_at, stored.attempts) == ("queued", T0 + 500, 0)
        assert await store.claim_due(T0 + 499, 10, 60) == []
        [claim] = await store.claim_due(T0 + 500, 10, 60)
        assert claim.message.id == mid and claim.message.state == "queued"
        assert await store.retry_now("no-such-message", T0) is False

    run(scenario)


def test_cancel_works_on_a_held_message(run):
    async def scenario(store):
        [mid] = ids(1)
        await store.enqueue(mid, message(), T0, state="held")
        assert await store.cancel(mid) is True
        stored = await store.get(mid)
        assert stored.state == "cancelled"
        assert [r.status for r in stored.recipients] == ["cancelled", "cancelled"]
        assert await store.retry_now(mid, T0) is False  # cancelled is final
        assert await store.cancel(mid) is False
        assert await store.count() == {"queued": 0, "held": 0, "done": 0, "cancelled": 1}

    run(scenario)


# --- concurrency ----------------------------------------------------------------------------
def test_200_concurrent_enqueues_are_all_stored(run):
    async def scenario(store):
        all_ids = [new_message_id(T0) for _ in range(200)]
        payload = {mid: mid.encode() * 100 for mid in all_ids}
        await asyncio.gather(
            *(store.enqueue(mid, message(data=payload[mid]), T0) for mid in all_ids)
        )
        assert (await store.count())["queued"] == 200
        listed = await store.list(limit=1000)
        assert [r.id for r in listed] == sorted(all_ids)
        stored = await asyncio.gather(*(store.get(mid) for mid in all_ids))
        assert all(s.message.data == payload[s.id] for s in stored)

    run(scenario)


# --- KeyStore -------------------------------------------------------------------------------
def test_key_store(run):
    async def scenario(store):
        one = ApiKeyRecord("0123abcd", "ci", b"s" * 16, b"d" * 32, T0)
        two = ApiKeyRecord("89abcdef", "web", b"t" * 16, b"e" * 32, T0 + 1)
        await store.add_key(two)
        await store.add_key(one)
        with pytest.raises(DuplicateError):
            await store.add_key(replace(one, label="other"))
        assert await store.find_key("0123abcd") == one
        assert await store.find_key("ffffffff") is None
        assert await store.list_keys() == [one, two]
        assert await store.revoke_key("0123abcd", T0 + 5) is True
        assert await store.revoke_key("0123abcd", T0 + 6) is False
        assert await store.revoke_key("ffffffff", T0 + 6) is False
        revoked = await store.find_key("0123abcd")
        assert revoked.revoked_at == T0 + 5 and not revoked.active

    run(scenario)


def test_key_grants_round_trip(run):
    """Issue 10 item 2: a key's grants come back exactly as stored, whatever they are."""

    async def scenario(store):
        some = frozenset({Grant.TEMPLATES_VIEW, Grant.SMTP_INJECT, Grant.QUEUE_MANAGE})
        records = [
            ApiKeyRecord("0000000a", "some", b"s" * 16, b"d" * 32, T0, grants=some),
            ApiKeyRecord("0000000b", "all", b"s" * 16, b"d" * 32, T0 + 1, grants=ALL_GRANTS),
            ApiKeyRecord(
                "0000000c",
                "one",
                b"s" * 16,
                b"d" * 32,
                T0 + 2,
                None,
                ("a.test",),
                frozenset({Grant.TLS_CHECK_VIEW}),
            ),
            ApiKeyRecord("0000000d", "none", b"s" * 16, b"d" * 32, T0 + 3),
        ]
        for record in records:
            await store.add_key(record)
        for record in records:
            assert await store.find_key(record.id) == record
        assert await store.list_keys() == records
        assert [r.grants for r in await store.list_keys()] == [
            some,
            ALL_GRANTS,
            {Grant.TLS_CHECK_VIEW},
            set(),
        ]
        assert await store.revoke_key("0000000a", T0 + 9)
        assert (await store.find_key("0000000a")).grants == some
        found = await store.find_key("0000000b")
        assert found.allows(Grant.SMTP_INJECT) and not records[2].allows(Grant.SMTP_INJECT)

    run(scenario)


def test_release_all_leases_makes_held_messages_due_again(run):
    async def scenario(store):
        for mid in ids(3):
            await store.enqueue(mid, message(), T0)
        claimed = await store.claim_due(T0, 2, 3600)
        assert len(claimed) == 2
        assert await store.release_all_leases() == 2
        again = await store.claim_due(T0 + 1, 10, 3600)
        assert len(again) == 3

    run(scenario)


def test_retry_now_makes_a_queued_message_due(run):
    async def scenario(store):
        [mid] = ids(1)
        await store.enqueue(mid, message(), T0)
        [claim] = await store.claim_due(T0, 1, 60)
        await store.record_attempt(claim, [], T0 + 3600)
        assert await store.claim_due(T0 + 1, 1, 60) == []
        assert await store.retry_now(mid, T0 + 1)
        assert [c.message.id for c in await store.claim_due(T0 + 1, 1, 60)] == [mid]
        assert not await store.retry_now("nope", T0)

    run(scenario)
