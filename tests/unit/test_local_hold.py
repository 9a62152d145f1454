"""The door's hold decision (issue 12 item 2): mail whose every recipient is in a local
domain without a static route is stored held in the transaction that queues it; anything
else (a remote recipient, a routed local domain, the null sender) is queued as before."""

from __future__ import annotations

import asyncio

import pytest

from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.store import open_store
from sealpost.submission.door import Accepted, Submission
from sealpost.submission.local_hold import LocalHold

HOLD = LocalHold.of(["Example.test.", "routed.test", "other.test"], ["ROUTED.test"])


def message(*recipients: str, sender: str = "s@remote.test") -> InboundMessage:
    return InboundMessage(
        Envelope(sender, recipients),
        SessionInfo("mx", "127.0.0.1", 1234, helo="client.test", local_hostname="mx.test"),
        b"Subject: hi\r\n\r\nbody\r\n",
    )


@pytest.mark.parametrize(
    ("recipients", "sender", "held"),
    [
        (("a@example.test",), "s@remote.test", True),
        (("a@EXAMPLE.test.", "b@other.test"), "s@remote.test", True),  # as route() compares
        (("a@example.test", "b@remote.test"), "s@remote.test", False),  # mixed
        (("a@routed.test",), "s@remote.test", False),  # a static route delivers it
        (("a@example.test", "b@routed.test"), "s@remote.test", False),
        (("a@example.test",), "", False),  # a bounce: the dispatcher reads DSNs
        (("a@sub.example.test",), "s@remote.test", False),  # subdomains are not local
        (("a@[127.0.0.1]",), "s@remote.test", False),
    ],
)
def test_holds(recipients: tuple[str, ...], sender: str, held: bool):
    assert HOLD.holds(message(*recipients, sender=sender)) is held


def test_no_local_domains_holds_nothing():
    assert not LocalHold().holds(message("a@example.test"))
    assert not LocalHold.of(["example.test"], ["example.test"]).holds(message("a@example.test"))


def door_run(scenario):
    async def main():
        store = open_store("memory://")
        await store.open()
        woken: list[int] = []
        door = Submission(store, lambda: 1_700_000_000.0, local_hold=HOLD)
        door.on_queued(lambda: woken.append(1))
        try:
            return await scenario(store, door, woken)
        finally:
            await store.close()

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("recipients", "sender", "state"),
    [
        (("a@example.test",), "s@remote.test", "held"),
        (("a@example.test", "b@remote.test"), "s@remote.test", "queued"),
        (("a@example.test",), "", "queued"),
        (("a@routed.test",), "s@remote.test", "queued"),
    ],
)
def test_door_stores_held_or_queued_and_wakes_only_for_queued(
    recipients: tuple[str, ...], sender: str, state: str
):
    async def scenario(store, door, woken):
        accepted = await door.submit(message(*recipients, sender=sender))
        assert isinstance(accepted, Accepted) and accepted.held is (state == "held")
        stored = await store.get(accepted.message_id)
        assert (stored.state, stored.attempts) == (state, 0)
        assert woken == ([] if state == "held" else [1])
        # The sender sees the same events either way: the injection per recipient, no more.
        events = await store.list_events(message_id=accepted.message_id)
        assert [(e.type, e.rcpt_to) for e in events] == [("injection", r) for r in recipients]
        assert (door.accepted, door.held) == (1, int(state == "held"))

    door_run(scenario)


def test_door_batch_holds_each_message_on_its_own():
    async def scenario(store, door, woken):
        ids = await door.submit_batch(
            [message("a@example.test"), message("b@remote.test"), message("c@other.test")]
        )
        assert [(await store.get(i)).state for i in ids] == ["held", "queued", "held"]
        assert woken == [1]
        all_held = await door.submit_batch([message("d@example.test")])
        assert (await store.get(all_held[0])).state == "held"
        assert woken == [1]  # nothing for the dispatcher: not woken
        assert door.counts.accepted == 4 and door.counts.held == 3

    door_run(scenario)


def test_our_own_bounces_are_never_held():
    async def scenario(store, door, woken):
        accepted = await door.submit_dsn("a@example.test", b"Subject: bounce\r\n\r\nx\r\n")
        assert (await store.get(accepted.message_id)).state == "queued"
        assert woken == [1]

    door_run(scenario)
