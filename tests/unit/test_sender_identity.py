"""``sender_identity.check_sender``: the pure check of a restricted key's envelope sender and
every header From/Sender address (issue 10 item 1; RFC 5322 section 3.6.2)."""

from __future__ import annotations

import pytest

from sealpost.submission.sender_identity import ForeignSender, Party, address_refusal, check_sender

DOMAINS = frozenset({"tenant.test", "bücher.test"})


def message(head: str) -> bytes:
    return (head + "Subject: s\r\n\r\nFrom: body@bank.test\r\n").encode()


@pytest.mark.parametrize(
    "head",
    [
        "From: a@tenant.test\r\n",
        "From: A <a@TENANT.test>\r\n",
        "From: a@tenant.test, b@tenant.test\r\nSender: s@tenant.test\r\n",
        "From: Team: a@tenant.test;\r\n",
        'From: "ceo@bank.test" <a@tenant.test>\r\n',  # a display name is not an address
        "From: J. Smith <a@tenant.test>\r\n",  # obsolete syntax, still one reading
        "from :\r\n a@tenant.test\r\n",  # folded, odd case and spacing
        "From: a@xn--bcher-kva.test\r\n",  # the A-label of an allowed U-label domain
        "From: a@bücher.test\r\n",
    ],
)
def test_allowed(head: str):
    assert check_sender(message(head), "bounce@tenant.test", DOMAINS) is None
    assert check_sender(message(head), "", DOMAINS) is None  # the null sender


@pytest.mark.parametrize(
    ("head", "party"),
    [
        ("From: CEO <ceo@bank.test>\r\n", Party.FROM),
        ("From: a@tenant.test, ceo@bank.test\r\n", Party.FROM),
        ("From: a@tenant.test\r\nFrom: a@tenant.test\r\n", Party.FROM),
        ("Subject: no from\r\n", Party.FROM),
        ("From: a@tenant.test\r\nSender: ceo@bank.test\r\n", Party.SENDER),
        ("From: a@tenant.test\r\nSender: a@tenant.test, b@tenant.test\r\n", Party.SENDER),
        ("From: a@tenant.test\r\nSender: a@tenant.test\r\nSender: b@tenant.test\r\n", Party.SENDER),
        ("From: a@tenant.test <ceo@bank.test>\r\n", Party.FROM),
        ("From: <a@tenant.test>ceo@bank.test\r\n", Party.FROM),
        ("From: a@tenant.test@bank.test\r\n", Party.FROM),
        ("From: undisclosed:;\r\n", Party.FROM),
        ("From: a@[192.0.2.1]\r\n", Party.FROM),
        ("From: a@mail.tenant.test\r\n", Party.FROM),  # exact domains only
        ("From: a@tenant.test.evil.test\r\n", Party.FROM),
    ],
)
def test_refused(head: str, party: Party):
    refused = check_sender(message(head), "bounce@tenant.test", DOMAINS)
    assert isinstance(refused, ForeignSender) and refused.party is party
    assert str(refused).isascii() and "\r" not in str(refused) and "\n" not in str(refused)


def test_envelope_sender_is_checked_first_and_unrestricted_keys_pass():
    refused = check_sender(message("From: a@tenant.test\r\n"), "x@bank.test", DOMAINS)
    assert refused == ForeignSender(Party.ENVELOPE, "this key may not send as bank.test")
    assert check_sender(message("From: ceo@bank.test\r\n"), "x@bank.test", None) is None


def test_reason_never_carries_a_hostile_domain_verbatim():
    refused = check_sender(message("From: a@b\u00e9\u202eank.test\r\n"), "", DOMAINS)
    assert refused is not None and str(refused).isascii()


def test_address_refusal_for_api_fields():
    assert address_refusal(Party.FROM, "a@Tenant.Test", DOMAINS) is None
    assert address_refusal(Party.FROM, "a@bank.test", None) is None
    assert address_refusal(Party.FROM, "a@bank.test", DOMAINS) is not None
