"""``ServerSession.shutdown``: the drain on SIGTERM (RFC 5321 sections 3.8 and 4.2.2)."""

from __future__ import annotations

from sealpost.model.reply import Reply
from sealpost.smtp.server import ServerSession
from tests.unit.test_smtp_support import QUEUED, closes, codes, enhanced, messages, policy, ready


def test_an_idle_session_gets_421_4_3_2_and_is_closed_at_once():
    d = ready()
    events = d.session.shutdown()
    assert codes(events) == [421] and enhanced(events) == ["4.3.2"] and closes(events)
    assert d.session.closed
    assert d.session.shutdown() == []


def test_a_session_before_ehlo_is_idle_too():
    session = ServerSession(policy())
    session.start()
    assert codes(session.shutdown()) == [421]


def test_a_transaction_in_progress_gets_its_250_then_421():
    d = ready()
    d.cmd("MAIL FROM:<a@b.test>")
    d.cmd("RCPT TO:<u@example.test>")
    assert d.session.shutdown() == []  # mid-transaction: not cut
    assert d.code("RCPT TO:<v@example.test>") == 250  # the transaction goes on
    d.feed("DATA\r\n")
    assert d.session.shutdown() == []
    found = messages(d.session.feed(b"Subject: x\r\n\r\nbody\r\n.\r\n"))
    assert len(found) == 1
    after = d.session.store_result(QUEUED)
    assert codes(after) == [250, 421] and enhanced(after) == ["2.0.0", "4.3.2"]
    assert closes(after) and d.session.closed


def test_commands_pipelined_behind_the_final_dot_are_not_run_while_draining():
    d = ready()
    d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    d.session.shutdown()
    events = d.session.feed(b"body\r\n.\r\nMAIL FROM:<c@d.test>\r\nRCPT TO:<u@example.test>\r\n")
    assert len(messages(events)) == 1
    after = d.session.store_result(QUEUED)
    assert codes(after) == [250, 421] and closes(after)


def test_a_transaction_given_up_with_rset_ends_the_session():
    d = ready()
    d.cmd("MAIL FROM:<a@b.test>")
    d.session.shutdown()
    events = d.feed("RSET\r\n")
    assert codes(events) == [250, 421] and closes(events)


def test_at_the_end_of_the_drain_time_a_transaction_is_cut_with_421():
    d = ready()
    d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    assert d.session.shutdown() == []
    d.session.feed(b"half a bo")
    events = d.session.shutdown(now=True)
    assert codes(events) == [421] and enhanced(events) == ["4.3.2"] and closes(events)
    assert d.session.store_result(QUEUED) == []


def test_a_failed_store_write_is_answered_then_421():
    d = ready()
    d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    d.session.shutdown()
    d.session.feed(b"body\r\n.\r\n")
    after = d.session.store_result(Reply.of(451, "4.3.0", "Error: queue file write error"))
    assert codes(after) == [451, 421] and closes(after)
