"""Mail that stays here costs one transaction (issue 12 item 2), on a real server.

Delivery is ENABLED (the default) in every test: the dispatcher runs, and still never sees
mail for a local domain without a route. Messages come in over real SMTP (smtplib, STARTTLS
with the trustme CA) and the store is the real SQLite queue.
"""

from __future__ import annotations

import logging
import smtplib
import time

import pytest

from sealpost.api_keys import create_key
from tests.support import Pki, ServerThread

MESSAGE = b"From: a@sender.test\r\nTo: u@example.test\r\nSubject: hi\r\n\r\nhello\r\n"
QUIET_DNS = {"nameservers": ["127.0.0.1:9"], "timeout": 1}  # never the system resolver


def send(server: ServerThread, pki: Pki, rcpts: list[str], *, api_key: str | None = None) -> str:
    """One message over SMTP; its queue id from the ``250`` reply."""
    listener = "submission" if api_key else "mx"
    with smtplib.SMTP("127.0.0.1", server.ports[listener], timeout=10) as client:
        client.ehlo("client.test")
        client.starttls(context=pki.client_context())
        client.ehlo("client.test")
        if api_key:
            client.login("SMTP_Injection", api_key)
        client.mail("a@sender.test")
        for rcpt in rcpts:
            assert client.rcpt(rcpt)[0] == 250
        code, reply = client.data(MESSAGE)
    assert code == 250, reply
    return reply.decode().rsplit(" ", 1)[1]


def commits(server: ServerThread) -> tuple[int, int]:
    """(transactions committed, write operations committed) by the SQLite writer so far."""
    store = server.app.store
    return store.commits, store.writes


def settled(server: ServerThread) -> tuple[int, int]:
    """The commit counters once nothing has been written for 0.5 s (the dispatcher's first
    claim at start, the webhook worker's first look)."""
    last = commits(server)
    for _ in range(40):
        time.sleep(0.5)
        now = commits(server)
        if now == last:
            return now
        last = now
    raise AssertionError("the store never went quiet")


def test_local_mail_is_held_in_one_commit_and_never_claimed(
    start_server, pki: Pki, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, "sealpost")
    # A long poll: the dispatcher looks only when woken, so any claim it made would be ours.
    server = start_server(
        tables={"delivery": {"enabled": True, "poll_interval": 3600.0}, "dns": QUIET_DNS}
    )
    assert server.app.dispatcher is not None  # delivery is on
    before = settled(server)
    message_id = send(server, pki, ["u@example.test", "v@EXAMPLE.test"])
    after_250 = commits(server)
    stored = server.call(lambda: server.app.store.get(message_id))
    assert (stored.state, stored.attempts) == ("held", 0)
    assert [r.status for r in stored.recipients] == ["queued", "queued"]
    # ONE transaction and ONE write for it: before issue 12 the door woke the dispatcher,
    # which claimed the message (a second commit) and recorded "still queued" (a third).
    assert (after_250[0] - before[0], after_250[1] - before[1]) == (1, 1)
    time.sleep(1.0)  # room for a wake-up the door should not have sent
    assert commits(server) == after_250
    # When the dispatcher does look, there is nothing for it.
    assert server.call(lambda: server.app.dispatcher.run_once()) == 0
    assert server.app.dispatcher.attempts == 0
    stored = server.call(lambda: server.app.store.get(message_id))
    assert (stored.state, stored.attempts, stored.recipients[0].attempts) == ("held", 0, 0)
    assert not [r for r in caplog.records if "attempt" in r.getMessage()]
    # The sender's view is unchanged: one injection event per recipient, nothing else.
    events = server.call(lambda: server.app.store.list_events(message_id=message_id))
    assert [e.type for e in events] == ["injection", "injection"]
    # The operator releases it (postsuper -H): queued, due now, and the dispatcher takes it.
    # retry_now wakes the running dispatcher (the store's wake-up), which may claim it before
    # an explicit run_once does: either way, exactly one attempt is made.
    assert server.call(lambda: server.app.store.retry_now(message_id, time.time()))
    server.call(lambda: server.app.dispatcher.run_once())
    for _ in range(50):
        if server.call(lambda: server.app.store.get(message_id)).attempts == 1:
            break
        time.sleep(0.1)
    assert server.call(lambda: server.app.store.get(message_id)).attempts == 1
    assert server.app.dispatcher.attempts == 1


def test_routed_local_domain_null_sender_and_mixed_recipients_are_queued(
    start_server, pki: Pki, smtp_sink
):
    sink = smtp_sink()
    server = start_server(
        server={"local_domains": ["example.test", "routed.test"]},
        tables={
            "delivery": {"enabled": True, "default_tls": "may"},
            "delivery.routes": {"routed.test": f"127.0.0.1:{sink.port}"},
            "dns": QUIET_DNS,
        },
    )
    store = server.app.store
    routed = send(server, pki, ["u@routed.test"])
    held = send(server, pki, ["u@example.test"])
    deadline = time.monotonic() + 20
    while server.call(lambda: store.get(routed)).state != "done":
        assert time.monotonic() < deadline, "the routed message was not delivered"
        time.sleep(0.05)
    assert [m.recipients for m in sink.messages] == [("u@routed.test",)]
    assert server.call(lambda: store.get(held)).state == "held"

    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as client:  # a bounce
        client.ehlo("client.test")
        client.sendmail("", ["u@example.test"], MESSAGE)
    [bounce] = [r for r in server.call(lambda: store.list(limit=10)) if r.mail_from == ""]
    assert bounce.state == "queued"  # the dispatcher reads bounces (out_of_band)


def test_mixed_local_and_remote_recipients_are_queued(start_server, pki: Pki):
    server = start_server(tables={"delivery": {"enabled": True}, "dns": QUIET_DNS})
    key, _ = server.call(lambda: create_key(server.app.store, "test", 0.0))
    mixed = send(server, pki, ["u@example.test", "far@remote.test"], api_key=key)
    stored = server.call(lambda: server.app.store.get(mixed))
    assert stored.state == "queued"  # the remote recipient is the dispatcher's


def test_no_per_message_info_line_but_one_at_debug_and_a_summary(
    start_server, pki: Pki, caplog: pytest.LogCaptureFixture
):
    server = start_server(tables={"delivery": {"enabled": True}, "dns": QUIET_DNS})
    caplog.set_level(logging.INFO, "sealpost")
    quiet = send(server, pki, ["u@example.test"])
    assert [r for r in caplog.records if quiet in r.getMessage()] == []
    caplog.set_level(logging.DEBUG, "sealpost")
    loud = send(server, pki, ["u@example.test"])
    [line] = [r for r in caplog.records if loud in r.getMessage()]
    assert line.levelno == logging.DEBUG and line.name == "sealpost.smtp"
    assert line.getMessage().startswith(f"queued {loud} state=held from=<a@sender.test>")
    caplog.set_level(logging.INFO, "sealpost")
    server.stop()  # the summary task logs the interval it was in when the server stops
    [summary] = [r for r in caplog.records if r.name == "sealpost.submission"]
    assert summary.levelno == logging.INFO
    assert summary.getMessage().startswith(
        "accepted 2 message(s) (2 held for local domains, 0 refused) in the last"
    )
