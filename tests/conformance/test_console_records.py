"""What the web console keeps in the store and asks of it, on every backend: console users
(argon2id hashes, grants) and sessions as documents, a one-message ``Selection`` (the
console's hold and release buttons) and the events search by envelope sender."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sealpost.console.sessions import TOUCH, Sessions, session_id
from sealpost.console.users import (
    UserError,
    create_user,
    delete_user,
    find_user,
    list_users,
    verify_user,
)
from sealpost.model.events import EventQuery, EventRecord
from sealpost.model.grants import Grant
from sealpost.model.ids import new_message_id
from sealpost.model.queue_admin import AdminAction, Selection
from sealpost.store.errors import DuplicateError
from tests.conformance.test_queue_admin import message

T0 = 1_700_000_000.0
PASSWORD = "correct horse battery"


def test_users_are_created_verified_listed_and_deleted(run):
    async def scenario(store):
        grants = {Grant.CONSOLE_ACCESS, Grant.QUEUE_VIEW}
        ann = await create_user(store, "ann", PASSWORD, T0, grants)
        assert ann.password_hash.startswith("$argon2id$") and PASSWORD not in ann.password_hash
        await create_user(store, "bob", PASSWORD + "!", T0 + 1)
        with pytest.raises(DuplicateError):
            await create_user(store, "ann", PASSWORD, T0)
        with pytest.raises(UserError):
            await create_user(store, "carl", "short", T0)
        with pytest.raises(UserError):
            await create_user(store, "Bad Name", PASSWORD, T0)
        assert (await find_user(store, "ann")).grants == frozenset(grants)
        assert (await find_user(store, "bob")).allows(Grant.CONSOLE_ACCESS), "default: every"
        assert [u.name for u in await list_users(store)] == ["ann", "bob"]
        assert (await verify_user(store, "ann", PASSWORD)).name == "ann"
        assert await verify_user(store, "ann", PASSWORD + "!") is None
        assert await verify_user(store, "nobody", PASSWORD) is None
        assert await delete_user(store, "ann")
        assert not await delete_user(store, "ann")
        assert await verify_user(store, "ann", PASSWORD) is None

    run(scenario)


def test_sessions_resume_until_idle_and_end_at_log_out(run):
    async def scenario(store):
        now = [T0]
        sessions = Sessions(store, idle=600, clock=lambda: now[0])
        token, record = await sessions.start("key", "0123abcd")
        assert record.id == session_id(token) and token not in record.id
        assert await store.get_document("console_session", token) is None, "token not stored"
        now[0] += 500
        resumed = await sessions.resume(token)
        assert resumed is not None and resumed.subject == "0123abcd"
        assert resumed.last_seen == now[0], "used after TOUCH: last_seen moves"
        now[0] += 500  # 500 s after the last use: still live (idle is 600)
        assert await sessions.resume(token) is not None
        assert await sessions.resume("not-a-token") is None
        now[0] += 601
        assert await sessions.resume(token) is None, "idle too long"
        assert await store.get_document("console_session", record.id) is None, "deleted"
        other, other_record = await sessions.start("user", "ann")
        stale, _ = await sessions.start("user", "bob")
        now[0] += TOUCH / 2
        await sessions.end(other_record)
        assert await sessions.resume(other) is None, "logged out"
        now[0] += 700
        await sessions.start("user", "carl")  # sweeps the idle ones
        kept = await store.list_documents("console_session")
        assert len(kept) == 1 and kept[0].payload["subject"] == "carl"
        assert await sessions.resume(stale) is None

    run(scenario)


def test_a_selection_names_one_message(run):
    async def scenario(store):
        ids = [new_message_id(T0 + i) for i in range(3)]
        for i, mid in enumerate(ids):
            await store.enqueue(mid, message(f"r{i}@x.test"), T0)
        one = Selection.of(message_id=ids[1])
        assert await store.count_selected(AdminAction.HOLD, one, T0) == 1
        assert await store.apply_selection(AdminAction.HOLD, one, T0, by="console:key:x") == 1
        assert [(await store.get(m)).state for m in ids] == ["queued", "held", "queued"]
        assert await store.apply_selection(AdminAction.RELEASE, one, T0, by="t") == 1
        assert (await store.get(ids[1])).state == "queued"
        missing = Selection.of(message_id="nope")
        assert await store.apply_selection(AdminAction.CANCEL, missing, T0, by="t") == 0

    run(scenario)


def test_events_are_searched_by_sender_regardless_of_case(run):
    async def scenario(store):
        def injection(mid: str, sender: str) -> EventRecord:
            fields = {"type": "injection", "msg_from": sender}
            return EventRecord("injection", mid, T0, fields, "r@x.test")

        await store.add_events(
            [injection("m1", "Alice@Sender.test"), injection("m2", "bob@sender.test")]
        )
        found = await store.search_events(EventQuery(senders=["alice@sender.TEST"]))
        assert [e.message_id for e in found] == ["m1"]
        both = EventQuery(senders=["alice@sender.test", "BOB@sender.test"])
        assert await store.count_events(both) == 2

    run(scenario)


def test_events_page_newest_first(run):
    async def scenario(store):
        events = [
            EventRecord("injection", f"m{i}", T0 + i, {"msg_from": "a@s.test"}, "r@x.test")
            for i in range(5)
        ]
        events.insert(2, EventRecord("delivery", "m9", T0, {}, "r@x.test"))
        await store.add_events(events)
        query = EventQuery(types=["injection"], limit=2, newest_first=True)
        first = await store.search_events(query)
        assert [e.message_id for e in first] == ["m4", "m3"]
        second = await store.search_events(replace(query, after=first[-1].event_id))
        assert [e.message_id for e in second] == ["m2", "m1"]
        last = await store.search_events(replace(query, after=second[-1].event_id))
        assert [e.message_id for e in last] == ["m0"]
        oldest = await store.search_events(replace(query, newest_first=False))
        assert [e.message_id for e in oldest] == ["m0", "m1"]

    run(scenario)
