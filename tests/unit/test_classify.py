"""Reply classification: outcome from the reply code, SparkPost bounce class, reason (tables)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpost.delivery.classify import (
    HARD_CLASSES,
    BounceClass,
    Classification,
    canonical_reason,
    classify,
)
from sealpost.delivery.types import Outcome
from sealpost.model.reply import Reply

D, T, P = Outcome.DELIVERED, Outcome.TRANSIENT, Outcome.PERMANENT

# (code, enhanced, text, stage) -> (outcome, bounce class)
TABLE: list[tuple[int, str | None, str, str, Outcome, str]] = [
    # delivered
    (250, "2.0.0", "Ok: queued as 4F1", "message", D, ""),
    (251, "2.1.5", "User not local; will forward", "rcpt", D, ""),
    # invalid recipient (RFC 3463 x.1.y)
    (
        550,
        "5.1.1",
        "<nobody@example.net>: Recipient address rejected: User unknown",
        "rcpt",
        P,
        "10",
    ),
    (550, "5.1.10", "Recipient address has null MX", "dns", P, "10"),  # RFC 7505
    (550, "5.1.2", "Host unknown", "rcpt", P, "10"),
    (553, "5.1.3", "Bad recipient address syntax", "rcpt", P, "10"),
    (550, "5.1.6", "Mailbox has moved", "rcpt", P, "10"),
    (550, "5.2.1", "Mailbox disabled, not accepting messages", "rcpt", P, "10"),
    (550, "5.7.13", "User account disabled", "rcpt", P, "10"),
    # the same codes as transient replies are delays, never Hard classes
    (
        450,
        "4.1.1",
        "<x@example.net>: Recipient address rejected: unverified address",
        "rcpt",
        T,
        "70",
    ),
    (450, "4.2.1", "Mailbox temporarily disabled", "rcpt", T, "70"),
    # mailbox full / too large
    (552, "5.2.2", "Mailbox full", "rcpt", P, "22"),
    (452, "4.2.2", "Mailbox full, try again later", "rcpt", T, "22"),
    (552, "5.3.4", "Message size exceeds fixed limit", "message", P, "23"),
    (552, "5.2.3", "Message length exceeds administrative limit", "message", P, "23"),
    (452, "4.3.1", "Insufficient system storage", "mail", T, "20"),
    # DNS and connection problems (often synthesized by the delivery code)
    (451, "4.4.3", "Directory server failure", "dns", T, "21"),
    (451, "4.4.4", "[internal] no MX or A for domain", "dns", T, "21"),
    (550, "5.4.4", "Unable to route: no such domain", "dns", P, "21"),
    (421, "4.4.1", "Connection timed out", "connect", T, "24"),
    (421, "4.4.2", "Connection dropped", "message", T, "24"),
    (451, "4.4.7", "Delivery time expired", "rcpt", T, "24"),
    (421, "4.4.5", "System congestion", "connect", T, "20"),
    (452, "4.5.3", "Too many recipients", "rcpt", T, "20"),
    # policy, blocks, spam (x.7.y); generic 5.7.1 is refined from the text
    (550, "5.7.1", "Message rejected as spam", "message", P, "52"),
    (
        554,
        "5.7.1",
        "Service unavailable; Client host [192.0.2.9] blocked using zen.spamhaus.org",
        "rcpt",
        P,
        "51",
    ),
    (550, "5.7.1", "Message content rejected", "message", P, "52"),
    (554, "5.7.1", "<a@b.test>: Relay access denied", "rcpt", P, "54"),
    (550, "5.7.1", "Delivery not authorized, message refused", "rcpt", P, "50"),
    (550, "5.7.1", "Sorry", "rcpt", P, "50"),
    (550, "5.7.26", "Unauthenticated email is not accepted (DMARC)", "message", P, "50"),
    (421, "4.7.28", "Mail flood detected", "rcpt", T, "51"),
    (554, "5.7.0", "Virus found in attachment", "message", P, "53"),
    (450, "4.7.1", "<x@example.net>: Recipient address rejected: Greylisted", "rcpt", T, "70"),
    (421, "4.7.0", "Try again later, closing connection", "greeting", T, "70"),
    (451, "4.7.5", "TLS required by policy: certificate not verified", "starttls", T, "70"),
    (421, "4.7.0", "Temporary rejection: your IP is on a blocklist", "connect", T, "51"),
    (550, "5.1.8", "Sender address rejected: Domain not found", "mail", P, "50"),
    (553, "5.1.0", "<b@shop.test>: Sender address rejected: not owned by user", "mail", P, "50"),
    # protocol / content that says nothing more
    (554, "5.6.0", "Message not RFC 5322 compliant", "message", P, "40"),
    (554, "5.5.0", "Transaction failed", "message", P, "40"),
    (554, "5.0.0", "Error", "message", P, "40"),
    (550, "5.7.30", "REQUIRETLS support required", "rcpt", P, "40"),
    # no enhanced code: the text, then the stage decides
    (550, None, "No such user here", "rcpt", P, "10"),
    (550, None, "Requested action not taken: mailbox unavailable", "rcpt", P, "40"),
    (552, None, "Quota exceeded", "rcpt", P, "22"),
    (554, None, "No SMTP service here", "greeting", P, "50"),
    (554, None, "Go away", "connect", P, "50"),
    (451, None, "Local error in processing", "message", T, "70"),
    (421, None, "Service not available", "greeting", T, "70"),
    (
        550,
        None,
        "5.1.1 The email account that you tried to reach does not exist",
        "rcpt",
        P,
        "10",
    ),  # enhanced code written in the text by a server that did not advertise it
    # an address in the reply cannot steer the class
    (550, "5.7.1", "<spam@example.net>: rejected by policy", "rcpt", P, "50"),
    (550, None, "<spam-trap@example.net>... refused", "rcpt", P, "50"),
    # RFC 3463: the reply code wins over a contradicting enhanced class digit
    (550, "4.2.2", "Mailbox full", "rcpt", P, "22"),
    (450, "5.1.1", "User unknown", "rcpt", T, "70"),
    # replies that are not final where one was due
    (354, None, "End data with <CR><LF>.<CR><LF>", "message", T, "70"),
    (199, None, "odd", "message", T, "70"),
]


@pytest.mark.parametrize(
    ("code", "enhanced", "text", "stage", "outcome", "bounce_class"),
    TABLE,
    ids=[f"{row[0]}-{row[1]}-{row[3]}-{i}" for i, row in enumerate(TABLE)],
)
def test_classification_table(
    code: int, enhanced: str | None, text: str, stage: str, outcome: Outcome, bounce_class: str
) -> None:
    result = classify(Reply.of(code, enhanced, text), stage=stage)
    assert (result.outcome, result.bounce_class) == (outcome, bounce_class)


@pytest.mark.parametrize(
    ("stage", "bounce_class"),
    [("connect", "24"), ("greeting", "24"), ("message", "24"), ("dns", "21")],
)
def test_no_reply_is_transient(stage: str, bounce_class: str) -> None:
    result = classify(None, stage=stage)
    assert result.outcome is Outcome.TRANSIENT
    assert result.bounce_class == bounce_class
    assert result.reason.startswith("[internal]")


def test_reason_is_canonicalised_like_sparkpost() -> None:
    reply = Reply.of(550, "5.1.1", "<nobody@example.net>: Recipient address rejected: User unknown")
    assert classify(reply, stage="rcpt") == Classification(
        Outcome.PERMANENT, "10", "550 5.1.1 ...@... Recipient address rejected: User unknown"
    )


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("550 5.7.1 Client host [192.0.2.44] blocked", "550 5.7.1 Client host [a.b.c.d] blocked"),
        ("451 user a.b@c.example over quota", "451 user ...@... over quota"),
        ("550 first line\r\nInjected: header", "550 first line Injected: header"),
        ("421   many    spaces\t", "421 many spaces"),
        ("250 2.0.0 Ok: queued as 12.34.56", "250 2.0.0 Ok: queued as 12.34.56"),
    ],
)
def test_canonical_reason(raw: str, canonical: str) -> None:
    assert canonical_reason(raw) == canonical


def test_multi_line_replies_are_one_reason() -> None:
    reply = Reply(550, "5.7.1", ("Message rejected", "see https://help.example/spam"))
    result = classify(reply, stage="message")
    assert result.reason == "550 5.7.1 Message rejected see https://help.example/spam"
    assert "\n" not in result.reason


def test_every_class_is_a_string_as_sparkpost_sends_it() -> None:
    for row in TABLE:
        assert isinstance(classify(Reply.of(*row[:3]), stage=row[3]).bounce_class, str)
    assert {c.value for c in BounceClass} >= {"1", "10", "21", "24", "25", "30", "50", "70"}


@given(
    code=st.integers(min_value=100, max_value=699),
    enhanced=st.one_of(
        st.none(), st.from_regex(r"\A[245]\.[0-9]{1,3}\.[0-9]{1,3}\Z"), st.text(max_size=8)
    ),
    text=st.text(max_size=200),
    stage=st.sampled_from(["dns", "connect", "greeting", "ehlo", "rcpt", "message", "other"]),
)
def test_classify_is_total_and_consistent(
    code: int, enhanced: str | None, text: str, stage: str
) -> None:
    result = classify(Reply.of(code, enhanced, text), stage=stage)
    if 200 <= code < 300:
        assert result.outcome is Outcome.DELIVERED and result.bounce_class == ""
    elif 500 <= code < 600:
        assert result.outcome is Outcome.PERMANENT
        assert result.bounce_class in {c.value for c in BounceClass}
    else:
        assert result.outcome is Outcome.TRANSIENT
        assert result.bounce_class not in HARD_CLASSES
    assert "\r" not in result.reason and "\n" not in result.reason
