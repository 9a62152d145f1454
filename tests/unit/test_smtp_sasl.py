"""SASL PLAIN (RFC 4616) and LOGIN exchanges, independent of the session."""

from __future__ import annotations

import base64

import pytest

from sealpost.smtp.sasl import (
    Challenge,
    Credentials,
    SaslExchange,
    SaslFailure,
    SaslFault,
)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_plain_initial_response():
    exchange, step = SaslExchange.begin("PLAIN " + b64(b"\0alice\0secret"))
    assert exchange is not None
    assert step == Credentials("PLAIN", "", "alice", "secret")


def test_plain_mechanism_is_case_insensitive_and_authzid_may_equal_user():
    _, step = SaslExchange.begin("plain " + b64(b"alice\0alice\0secret"))
    assert step == Credentials("PLAIN", "alice", "alice", "secret")


def test_plain_with_challenge():
    exchange, step = SaslExchange.begin("PLAIN")
    assert step == Challenge("")
    assert exchange is not None
    assert exchange.respond(b64(b"\0bob\0pw")) == Credentials("PLAIN", "", "bob", "pw")


def test_plain_authzid_other_user_refused():
    _, step = SaslExchange.begin("PLAIN " + b64(b"root\0alice\0secret"))
    assert step == SaslFailure(SaslFault.AUTHZID_MISMATCH)


@pytest.mark.parametrize(
    ("response", "fault"),
    [
        ("*", SaslFault.CANCELLED),
        ("not base64!", SaslFault.BAD_BASE64),
        ("YWJj=", SaslFault.BAD_BASE64),
        ("=", SaslFault.MALFORMED),
        (b64(b"alice\0secret"), SaslFault.MALFORMED),
        (b64(b"\0alice\0secret\0x"), SaslFault.MALFORMED),
        (b64(b"\0\0secret"), SaslFault.EMPTY_CREDENTIALS),
        (b64(b"\0alice\0"), SaslFault.EMPTY_CREDENTIALS),
        (b64(b"\0\xff\0x"), SaslFault.BAD_BASE64),
        ("w6k=\u00e9", SaslFault.BAD_BASE64),
    ],
)
def test_plain_failures(response: str, fault: SaslFault):
    exchange, step = SaslExchange.begin("PLAIN")
    assert isinstance(step, Challenge) and exchange is not None
    assert exchange.respond(response) == SaslFailure(fault)


def test_login_exchange():
    exchange, step = SaslExchange.begin("LOGIN")
    assert step == Challenge("VXNlcm5hbWU6")
    assert exchange is not None
    assert exchange.respond(b64(b"alice")) == Challenge("UGFzc3dvcmQ6")
    assert exchange.respond(b64(b"secret")) == Credentials("LOGIN", "", "alice", "secret")


def test_login_initial_response_is_the_user_name():
    exchange, step = SaslExchange.begin("LOGIN " + b64(b"alice"))
    assert step == Challenge("UGFzc3dvcmQ6")
    assert exchange is not None
    assert exchange.respond(b64(b"pw")) == Credentials("LOGIN", "", "alice", "pw")


def test_login_cancel_and_empty():
    exchange, _ = SaslExchange.begin("LOGIN")
    assert exchange is not None
    assert exchange.respond("*") == SaslFailure(SaslFault.CANCELLED)
    exchange, _ = SaslExchange.begin("LOGIN =")
    assert exchange is not None
    assert exchange.respond(b64(b"pw")) == SaslFailure(SaslFault.EMPTY_CREDENTIALS)


@pytest.mark.parametrize("argument", ["CRAM-MD5", "XOAUTH2 abc", "GSSAPI", "PLAINX"])
def test_unknown_mechanisms(argument: str):
    exchange, step = SaslExchange.begin(argument)
    assert exchange is None
    assert step == SaslFailure(SaslFault.UNKNOWN_MECHANISM)


def test_password_not_in_repr_of_event():
    from sealpost.smtp.events import Authenticate

    assert "secret" not in repr(Authenticate("PLAIN", "", "alice", "secret"))
