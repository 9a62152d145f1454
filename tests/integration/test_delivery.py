"""The dispatcher end to end: real DNS, a real SMTP sink as the MX, the real server.

Covers checklist K6 (per-recipient completion: delivered recipients are never re-sent),
K7 (dropped after the final dot: retried, a duplicate counted, never lost), K8 (4xx defer,
5xx bounce with a DSN, none for the null sender), K9 (DNS faults and null MX), connection
reuse, the per-domain session limit, and the TLS record on every event.
"""

from __future__ import annotations

import email

from tests.integration.delivery_rig import MX, start_rig


def test_delivery_over_verified_starttls_records_everything(
    start_server, dns_server, smtp_sink, sink_certs
):
    sink = smtp_sink(cert=sink_certs.good)
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    mid = rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    assert event.message_id == mid and event.rcpt_to == "bob@example.net"
    f = event.fields
    assert f["outbound_tls"] == "1" and f["num_retries"] == "0" and f["delv_method"] == "esmtp"
    assert f["ip_address"] == "127.0.0.1" and f["routing_domain"] == "example.net"
    assert f["msg_from"] == "alice@sealpost.test" and f["subject"] == "hello"
    tls = f["tls"]
    assert tls["version"] == "TLSv1.3" and tls["verified"] is True and tls["offered"] is True
    assert tls["peer_name"] == MX and tls["level_required"] == "may"
    assert tls["cert_sha256"] and tls["fallback"] is None
    [received] = sink.messages
    assert received.tls and received.sni == MX and received.recipients == ("bob@example.net",)
    assert b"\r\n..dot line\r\n" in received.raw  # dot-stuffed on the wire (F3)
    assert not sink.violations
    assert rig.stored(mid).state == "done"
    [injection] = rig.events("injection")
    assert injection.message_id == mid


def test_untrusted_certificate_under_may_delivers_but_never_claims_verified(
    start_server, dns_server, smtp_sink, sink_certs
):
    sink = smtp_sink(cert=sink_certs.untrusted)
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["version"] and tls["verified"] is False and tls["verify_error"]


def test_transient_rcpt_is_retried_alone_and_delivered_recipients_never_again(
    start_server, dns_server, smtp_sink, sink_certs
):
    sink = smtp_sink(
        cert=sink_certs.good, replies={"RCPT later@example.net": b"450 4.2.0 mailbox busy\r\n"}
    )
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    mid = rig.submit(["now@example.net", "later@example.net"])
    [delay] = rig.wait_events("delay")
    assert delay.rcpt_to == "later@example.net" and delay.fields["error_code"] == "450"
    assert delay.fields["bounce_class"] and delay.fields["outbound_tls"] == "1"
    sink.options.replies = {}
    deliveries = rig.wait_events("delivery", count=2)
    assert sorted(e.rcpt_to for e in deliveries) == ["later@example.net", "now@example.net"]
    later = next(e for e in deliveries if e.rcpt_to == "later@example.net")
    assert later.fields["num_retries"] == "1"
    assert [m.recipients for m in sink.messages] == [("now@example.net",), ("later@example.net",)]
    assert rig.stored(mid).state == "done"


def test_permanent_failure_bounces_with_a_dsn_to_the_sender(
    start_server, dns_server, smtp_sink, sink_certs
):
    sink = smtp_sink(
        cert=sink_certs.good, replies={"RCPT nobody@example.net": b"550 5.1.1 no such user\r\n"}
    )
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    mid = rig.submit(["nobody@example.net"])
    [bounce] = rig.wait_events("bounce")
    assert bounce.fields["bounce_class"] == "10" and bounce.fields["error_code"] == "550"
    assert "5.1.1" in bounce.fields["raw_reason"]
    dsns = [m for m in rig.all_messages() if m.message.envelope.mail_from == ""]
    assert len(dsns) == 1
    dsn = dsns[0].message
    assert dsn.envelope.recipients == ("alice@sealpost.test",)
    parsed = email.message_from_bytes(dsn.data)
    assert parsed.get_content_type() == "multipart/report"
    assert b"Final-Recipient: rfc822; nobody@example.net" in dsn.data
    assert b"Status: 5.1.1" in dsn.data and b"Action: failed" in dsn.data
    assert rig.stored(mid).state == "done"


def test_null_sender_never_gets_a_bounce(start_server, dns_server, smtp_sink, sink_certs):
    sink = smtp_sink(cert=sink_certs.good, replies={"RCPT": b"550 5.1.1 no\r\n"})
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    rig.submit(["x@example.net"], mail_from="")
    rig.wait_events("bounce")
    assert len(rig.all_messages()) == 1  # the original only: no DSN was queued


def test_drop_after_final_dot_is_retried_as_a_duplicate_not_lost(
    start_server, dns_server, smtp_sink, sink_certs
):
    sink = smtp_sink(cert=sink_certs.good, drop_after_dot=True)
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    mid = rig.submit(["bob@example.net"])
    [delay] = rig.wait_events("delay")
    assert delay.fields["possible_duplicate"] is True  # counted as a possible duplicate
    sink.options.drop_after_dot = False
    rig.wait_events("delivery")
    assert len(sink.messages) >= 2  # the same message twice: a duplicate, never a loss
    assert rig.stored(mid).state == "done"


def test_dns_faults_defer_or_bounce(start_server, dns_server, smtp_sink, sink_certs):
    sink = smtp_sink(cert=sink_certs.good)
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    dns_server.add("nullmx.test", "MX", (0, ""))
    dns_server.servfail.add("broken.test")
    rig.submit(["a@nullmx.test"])
    rig.submit(["b@nowhere.test"])
    rig.submit(["c@broken.test"])
    bounces = {e.rcpt_to: e for e in rig.wait_events("bounce", count=2)}
    assert "5.1.10" in bounces["a@nullmx.test"].fields["raw_reason"]
    assert bounces["a@nullmx.test"].fields["error_code"] == "556"
    assert "5.1.2" in bounces["b@nowhere.test"].fields["raw_reason"]
    [delay] = rig.wait_events("delay")
    assert delay.rcpt_to == "c@broken.test" and "4.4.3" in delay.fields["raw_reason"]
    assert sink.sessions == []


def _queued(start_server, dns_server, sink, ca_file, *, per_domain: int, count: int):
    """A rig whose dispatcher is not running yet, with ``count`` one-recipient messages
    queued for example.net and ``per_domain_concurrency = per_domain``."""
    rig = start_rig(
        start_server,
        dns_server,
        sink,
        ca_file=ca_file,
        delivery={"per_domain_concurrency": per_domain, "enabled": False},
    )
    for n in range(count):
        rig.submit([f"r{n}@example.net"])
    return rig


def test_one_connection_carries_several_messages_and_limits_hold(
    start_server, dns_server, smtp_sink, sink_certs
):
    sink = smtp_sink(cert=sink_certs.good)
    rig = _queued(start_server, dns_server, sink, sink_certs.ca_file, per_domain=1, count=5)
    rig.server.call(lambda: _run_once(rig))
    assert len(sink.messages) == 5
    assert len(sink.sessions) == 1, "one session reused for all five messages"
    assert sink.messages[0].tls


def test_two_workers_dispatchers_split_a_domain_and_its_limit_holds_for_both(
    start_server, dns_server, smtp_sink, sink_certs
):
    """``[server] workers = 2``: each worker's dispatcher takes half the per-domain limit
    (rounded up: 2 of 3) and the shared table of ``delivery.shared_slots`` keeps the two
    together at 3, where the halves alone would open 4 sessions."""
    sink = smtp_sink(cert=sink_certs.good, stall={"DOT": 0.3})
    rig = _queued(start_server, dns_server, sink, sink_certs.ca_file, per_domain=3, count=12)
    rig.server.call(lambda: _two_workers(rig))
    assert len(sink.messages) == 12
    assert sorted(m.recipients[0] for m in sink.messages) == sorted(
        f"r{n}@example.net" for n in range(12)
    )
    assert sink.peak_transactions == 3
    assert not sink.violations


async def _two_workers(rig) -> None:
    import asyncio
    import time

    from sealpost.delivery.shared_slots import DomainBoard, SharedDomainSlots
    from sealpost.outbound import build_outbound

    app = rig.server.app
    board = DomainBoard(workers=2, sessions=10)
    outbound = [
        build_outbound(
            app.config,
            app.store,
            app.submission.submit_dsn,
            workers=2,
            slots=SharedDomainSlots(board, worker),
        )
        for worker in (0, 1)
    ]
    claims = await app.store.claim_due(time.time(), 12, 600)
    first, second = (o.dispatcher for o in outbound)
    await asyncio.gather(
        *(first.process(c) for c in claims[:6]), *(second.process(c) for c in claims[6:])
    )
    assert board.held("example.net") == 0
    for o in outbound:
        await o.pool.close_all()


async def _run_once(rig) -> None:
    from sealpost.outbound import build_dispatcher

    app = rig.server.app
    dispatcher, pool = build_dispatcher(app.config, app.store, app.submission.submit_dsn)
    await dispatcher.run_once()
    await pool.close_all()


def test_local_domain_mail_is_held_and_a_returned_dsn_becomes_out_of_band(
    start_server, dns_server, smtp_sink, sink_certs
):
    sink = smtp_sink(cert=sink_certs.good, replies={"RCPT gone@example.net": b"550 5.1.1 gone\r\n"})
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    kept = rig.submit(["postmaster@sealpost.test"])
    original = rig.submit(["gone@example.net"])
    rig.wait_events("bounce")
    # Our own DSN went to alice@sealpost.test (local, no route): it is parsed, recognised as
    # answering `original`, and recorded as an out_of_band event on that message.
    [oob] = rig.wait_events("out_of_band")
    assert oob.message_id == original and oob.rcpt_to == "gone@example.net"
    assert oob.fields["bounce_class"] == "10"
    assert rig.stored(kept).state == "held"  # stored held at once: never claimed
    assert rig.events("delivery", "bounce", "delay", message_id=kept) == []


def test_transient_failures_past_the_lifetime_become_a_bounce(
    start_server, dns_server, smtp_sink, sink_certs
):
    """K8: 4xx is retried with backoff until the queue lifetime, then bounced with a DSN."""
    sink = smtp_sink(cert=sink_certs.good, replies={"RCPT": b"451 4.3.0 try later\r\n"})
    rig = start_rig(
        start_server,
        dns_server,
        sink,
        ca_file=sink_certs.ca_file,
        delivery={"max_lifetime": 1.0, "minimal_backoff": 0.3, "maximal_backoff": 0.3},
    )
    mid = rig.submit(["slow@example.net"])
    [bounce] = rig.wait_events("bounce", message_id=mid)
    assert "gave up" in bounce.fields["raw_reason"]
    assert len(rig.events("delay", message_id=mid)) >= 1
    dsns = [m for m in rig.all_messages() if m.message.envelope.mail_from == ""]
    assert len(dsns) == 1 and b"Action: failed" in dsns[0].message.data


def test_a_delivered_message_costs_no_delay_notice_lookup(
    start_server, dns_server, smtp_sink, sink_certs
):
    """Only deferred recipients past the warning time can owe a notice: a message delivered
    at once never asks the store whether its notice went out (a read per message before)."""
    sink = smtp_sink(cert=sink_certs.good)
    rig = start_rig(
        start_server,
        dns_server,
        sink,
        ca_file=sink_certs.ca_file,
        delivery={"delay_warning_after": 0},
    )
    store = rig.server.app.store
    asked: list[str] = []
    looked_up = store.delay_notice_sent

    async def counting(message_id: str) -> bool:
        asked.append(message_id)
        return await looked_up(message_id)

    store.delay_notice_sent = counting
    mid = rig.submit(["bob@example.net"])
    rig.wait_events("delivery", message_id=mid)
    assert asked == []


def test_one_delay_notice_is_sent_after_the_warning_time(
    start_server, dns_server, smtp_sink, sink_certs
):
    """Postfix's delay_warning_time: the sender hears once that the mail is still queued."""
    sink = smtp_sink(cert=sink_certs.good, replies={"RCPT": b"451 4.3.0 try later\r\n"})
    rig = start_rig(
        start_server,
        dns_server,
        sink,
        ca_file=sink_certs.ca_file,
        delivery={"delay_warning_after": 0.2},
    )
    mid = rig.submit(["slow@example.net"])
    rig.wait_events("delay", message_id=mid, count=4)
    notices = [m for m in rig.all_messages() if m.message.envelope.mail_from == ""]
    assert len(notices) == 1, "exactly one delay notice, however many retries"
    data = notices[0].message.data
    assert b"Action: delayed" in data and b"Will-Retry-Until:" in data
    assert notices[0].message.envelope.recipients == ("alice@sealpost.test",)
