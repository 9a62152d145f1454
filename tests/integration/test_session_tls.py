"""One outbound session against a real SMTP sink on 127.0.0.1: checklist class B.

B1 response injection after STARTTLS, B2 STARTTLS stripped or refused, B3 bad certificates,
B4 failed or stalled handshakes, B5 AUTH only inside verified TLS, B6 SNI and TLS versions;
each under no policy (``may``) and under policies that forbid plaintext or unverified TLS.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

from sealpost.delivery.session import (
    BrokenTlsHosts,
    ClientSettings,
    OpenFailure,
    OutboundSession,
)
from sealpost.delivery.types import OutboundMessage, Outcome, RecipientOutcome, Target
from sealpost.model.tls_record import Fallback
from sealpost.model.tlsrpt import TlsFailure
from sealpost.net.client_tls import unverified, verifying
from sealpost.policy.levels import PolicySource, Requirement, TlsLevel
from sealpost.store.memory.store import MemoryStore
from tests.fixtures.smtp_sink import (
    SinkCertificates,
    SmtpSink,
    make_certificates,
    running_sinks,
)

HOST = "mx.example.test"
MESSAGE = OutboundMessage(
    "m1", "sender@example.org", ("rcpt@example.net",), b"Subject: hi\r\n\r\nbody\r\n"
)
MAY = Requirement()
ENCRYPT = Requirement(TlsLevel.ENCRYPT, PolicySource.OPERATOR)
VERIFY = Requirement(TlsLevel.VERIFY, PolicySource.OPERATOR)
STS_ENFORCE = Requirement(TlsLevel.VERIFY, PolicySource.MTA_STS, "enforce", (HOST,))
STS_TESTING = Requirement(TlsLevel.VERIFY, PolicySource.MTA_STS, "testing", report_only=True)
REFUSING = [ENCRYPT, VERIFY, STS_ENFORCE]
SinkFactory = Callable[..., SmtpSink]
LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


def run(coro: Coroutine[Any, Any, Any], loop: str = "uvloop") -> Any:
    """Run on the production loop (uvloop) unless told otherwise; every test is bounded."""
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        return runner.run(asyncio.wait_for(coro, 60))


@pytest.fixture
def sinks() -> Iterator[SinkFactory]:
    yield from running_sinks()


@pytest.fixture
def certs(tmp_path: Path) -> SinkCertificates:
    return make_certificates(tmp_path / "pki")


@pytest.fixture(params=sorted(LOOPS))
def loop(request) -> str:
    return request.param


def settings(certs: SinkCertificates, **overrides: Any) -> ClientSettings:
    values: dict[str, Any] = {
        "helo_name": "client.example.test",
        "ca_file": certs.ca_file,
        "connect_timeout": 5,
        "command_timeout": 5,
        "data_timeout": 5,
        "tls_handshake_timeout": 2,
    }
    return ClientSettings(**{**values, **overrides})


def target(sink: SmtpSink, host: str = HOST) -> Target:
    return Target(host, ("127.0.0.1",), sink.port)


async def deliver(
    sink: SmtpSink,
    certs: SinkCertificates,
    requirement: Requirement = MAY,
    message: OutboundMessage = MESSAGE,
    broken: BrokenTlsHosts | None = None,
    **overrides: Any,
) -> tuple[OutboundSession | OpenFailure, list[RecipientOutcome] | None]:
    session = await OutboundSession.open(
        target(sink), requirement, settings(certs, **overrides), broken or BrokenTlsHosts()
    )
    if isinstance(session, OpenFailure):
        return session, None
    outcomes = await session.send(message)
    await session.close()
    return session, outcomes


def delivered(outcomes: list[RecipientOutcome] | None) -> bool:
    return outcomes is not None and all(o.outcome is Outcome.DELIVERED for o in outcomes)


def refused(result: OutboundSession | OpenFailure, failure: TlsFailure) -> OpenFailure:
    assert isinstance(result, OpenFailure), result
    assert result.outcome is Outcome.TRANSIENT and result.failure is failure
    assert result.reply.code == 451 and result.reply.enhanced is not None
    assert result.reply.enhanced.startswith("4.7.")
    assert result.tls is not None and result.tls.offered is not None
    return result


# -- good TLS and B6 ------------------------------------------------------------------------


@pytest.mark.parametrize("requirement", [MAY, ENCRYPT, VERIFY, STS_ENFORCE])
def test_verified_tls_with_a_good_certificate(sinks, certs, requirement, loop):
    sink = sinks(cert=certs.good)
    session, outcomes = run(deliver(sink, certs, requirement), loop)
    assert isinstance(session, OutboundSession) and delivered(outcomes)
    tls = session.tls
    assert tls.verified is True and tls.verify_error is None and tls.offered is True
    assert tls.version in ("TLSv1.2", "TLSv1.3") and tls.cipher and tls.bits
    assert tls.peer_name == HOST and tls.sni == HOST
    assert tls.peer_cert_sha256 and tls.peer_cert_not_after and tls.peer_cert_subject
    assert tls.level_required == requirement.level.value
    assert tls.policy_source == requirement.source.value and tls.policy_mode == requirement.mode
    assert session.verdict.ok and session.verdict.failure is None
    assert sink.messages[0].tls and sink.sessions[0].sni == HOST  # B6: SNI is sent
    assert sink.violations == []


def test_client_contexts_refuse_old_protocols():
    for ctx in (verifying(None), unverified()):
        assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
        assert ctx.options & ssl.OP_NO_COMPRESSION
    assert verifying(None).check_hostname and verifying(None).verify_mode is ssl.CERT_REQUIRED


def test_tls_1_2_only_peer(sinks, certs):
    versions = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
    sink = sinks(cert=certs.good, tls_versions=versions)
    session, outcomes = run(deliver(sink, certs, VERIFY))
    assert delivered(outcomes) and session.tls.version == "TLSv1.2"  # type: ignore[union-attr]


# -- B1: response injection after 220 to STARTTLS --------------------------------------------


def test_injected_capabilities_are_discarded(sinks, certs, loop):
    sink = sinks(cert=certs.good, starttls_inject=b"250-fake\r\n250 AUTH PLAIN\r\n")
    result, _ = run(deliver(sink, certs, auth=("user", "secret")), loop)
    # the only AUTH offer came in the clear after 220: the post-TLS EHLO has none
    assert isinstance(result, OpenFailure) and result.reply.code == 504
    assert sink.auths == [] and not any(c.startswith("AUTH") for c in sink.commands)


def test_injected_replies_do_not_desynchronise_the_session(sinks, certs, loop):
    inject = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n250 2.0.0 Ok: queued\r\n"
    sink = sinks(cert=certs.good, starttls_inject=inject)
    session, outcomes = run(deliver(sink, certs), loop)
    assert isinstance(session, OutboundSession) and session.tls.verified is True
    assert delivered(outcomes) and len(sink.messages) == 1 and sink.messages[0].tls
    assert sink.commands[:4] == [
        "EHLO client.example.test",
        "STARTTLS",
        "EHLO client.example.test",
        "MAIL FROM:<sender@example.org> SIZE=21",
    ]
    assert sink.violations == []


# -- B2: STARTTLS stripped or refused ----------------------------------------------------------


def test_hidden_starttls_under_may_delivers_in_plaintext(sinks, certs):
    sink = sinks(cert=certs.good, starttls=False)
    session, outcomes = run(deliver(sink, certs))
    assert isinstance(session, OutboundSession) and delivered(outcomes)
    assert session.tls.offered is False and session.tls.version is None
    assert session.tls.verified is None and session.verdict.ok
    assert not sink.messages[0].tls and "STARTTLS" not in sink.commands


@pytest.mark.parametrize("requirement", REFUSING)
def test_hidden_starttls_under_a_policy_defers(sinks, certs, requirement):
    sink = sinks(cert=certs.good, starttls=False)
    result, _ = run(deliver(sink, certs, requirement))
    failure = refused(result, TlsFailure.STARTTLS_NOT_SUPPORTED)
    assert failure.reply.enhanced == "4.7.4" and failure.tls.offered is False  # type: ignore[union-attr]
    assert sink.messages == [] and not any(c.startswith("MAIL") for c in sink.commands)


@pytest.mark.parametrize("reply", [b"502 5.5.1 no\r\n", b"454 4.7.0 not now\r\n", b"500 what\r\n"])
def test_refused_starttls_under_may_delivers_in_plaintext(sinks, certs, reply):
    sink = sinks(cert=certs.good, starttls_reply=reply)
    session, outcomes = run(deliver(sink, certs))
    assert isinstance(session, OutboundSession) and delivered(outcomes)
    assert session.tls.offered is True and session.tls.version is None
    assert session.tls.fallback is Fallback.STARTTLS_REFUSED
    assert session.tls.starttls_reply_code == int(reply[:3])
    assert session.tls.fallback_text == f"plaintext: STARTTLS refused ({reply[:3].decode()})"
    assert not sink.messages[0].tls


def test_421_to_starttls_defers_with_that_reply(sinks, certs):
    sink = sinks(cert=certs.good, starttls_reply=b"421 4.3.2 shutting down\r\n")
    result, _ = run(deliver(sink, certs))
    assert isinstance(result, OpenFailure) and result.outcome is Outcome.TRANSIENT
    assert result.reply.code == 421 and result.tls is not None and result.tls.offered
    assert sink.messages == []


@pytest.mark.parametrize("requirement", REFUSING)
def test_refused_starttls_under_a_policy_defers(sinks, certs, requirement):
    sink = sinks(cert=certs.good, starttls_reply=b"454 4.7.0 TLS not available\r\n")
    result, _ = run(deliver(sink, certs, requirement))
    refused(result, TlsFailure.STARTTLS_NOT_SUPPORTED)
    assert sink.messages == []


def test_mta_sts_testing_delivers_and_records_the_failure(sinks, certs):
    sink = sinks(cert=certs.good, starttls=False)
    session, outcomes = run(deliver(sink, certs, STS_TESTING))
    assert isinstance(session, OutboundSession) and delivered(outcomes)
    assert session.verdict.ok and session.verdict.failure is TlsFailure.STARTTLS_NOT_SUPPORTED
    assert session.tls.policy_mode == "testing"


# -- B3: bad certificates ------------------------------------------------------------------------

BAD_CERTS = {
    "expired": TlsFailure.CERTIFICATE_EXPIRED,
    "wrong_name": TlsFailure.CERTIFICATE_HOST_MISMATCH,
    "untrusted": TlsFailure.CERTIFICATE_NOT_TRUSTED,
    "self_signed": TlsFailure.CERTIFICATE_NOT_TRUSTED,
}


@pytest.mark.parametrize("kind", sorted(BAD_CERTS))
@pytest.mark.parametrize("requirement", [MAY, ENCRYPT, STS_TESTING])
def test_bad_certificate_is_used_but_never_reported_verified(sinks, certs, kind, requirement):
    sink = sinks(cert=getattr(certs, kind))
    session, outcomes = run(deliver(sink, certs, requirement))
    assert isinstance(session, OutboundSession) and delivered(outcomes)
    tls = session.tls
    assert tls.version is not None and tls.verified is False and tls.verify_error
    assert tls.failure is BAD_CERTS[kind]
    assert tls.peer_cert_sha256  # the certificate that was presented is recorded
    assert session.verdict.ok
    expected = BAD_CERTS[kind] if requirement.report_only else None
    assert session.verdict.failure is expected
    assert sink.messages[0].tls and len(sink.sessions) == 2  # verifying try, then unverified


@pytest.mark.parametrize("kind", sorted(BAD_CERTS))
@pytest.mark.parametrize("requirement", [VERIFY, STS_ENFORCE])
def test_bad_certificate_under_verification_defers(sinks, certs, kind, requirement):
    sink = sinks(cert=getattr(certs, kind))
    result, _ = run(deliver(sink, certs, requirement))
    failure = refused(result, BAD_CERTS[kind])
    assert failure.reply.enhanced == "4.7.5"
    assert failure.tls.verified is False and failure.tls.verify_error  # type: ignore[union-attr]
    assert sink.messages == [] and len(sink.sessions) == 1


def test_without_the_test_ca_a_good_certificate_is_not_trusted(sinks, certs):
    sink = sinks(cert=certs.good)
    session, outcomes = run(deliver(sink, certs, ca_file=None))
    assert isinstance(session, OutboundSession) and delivered(outcomes)
    assert session.tls.verified is False
    assert session.tls.failure is TlsFailure.CERTIFICATE_NOT_TRUSTED


# -- B4: failed or stalled handshakes ----------------------------------------------------------

HANDSHAKES = {
    "fail": {"handshake": "fail"},
    "stall": {"handshake": "stall"},
    "tls1.0": {"tls_versions": (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1)},
}


@pytest.mark.parametrize("fault", sorted(HANDSHAKES))
def test_failed_handshake_under_may_falls_back_and_is_remembered(sinks, certs, fault, loop):
    sink = sinks(cert=certs.good, **HANDSHAKES[fault])
    broken = BrokenTlsHosts()
    timeout = 0.5 if fault == "stall" else 5
    session, outcomes = run(
        deliver(sink, certs, broken=broken, tls_handshake_timeout=timeout), loop
    )
    assert isinstance(session, OutboundSession) and delivered(outcomes)
    assert session.tls.fallback is Fallback.HANDSHAKE_FAILED and session.tls.version is None
    assert session.tls.fallback_text == "plaintext after TLS handshake failure"
    assert session.tls.offered is True and session.verdict.ok
    assert not sink.messages[0].tls
    assert run(broken.is_broken(HOST, sink.port))
    assert len(sink.sessions) == 2 and "STARTTLS" not in sink.sessions[1].commands
    # the next session to that host goes straight to plaintext
    again, outcomes = run(deliver(sink, certs, broken=broken), loop)
    assert delivered(outcomes)
    assert again.tls.fallback is Fallback.HANDSHAKE_FAILED_RECENTLY  # type: ignore[union-attr]
    assert again.tls.fallback_text == "plaintext: TLS handshake failed recently"  # type: ignore[union-attr]
    assert "STARTTLS" not in sink.sessions[2].commands


@pytest.mark.parametrize("fault", sorted(HANDSHAKES))
@pytest.mark.parametrize("requirement", REFUSING)
def test_failed_handshake_under_a_policy_never_goes_plaintext(sinks, certs, fault, requirement):
    sink = sinks(cert=certs.good, **HANDSHAKES[fault])
    broken = BrokenTlsHosts()
    run(broken.remember(HOST, sink.port, 3600))  # a remembered failure does not matter here either
    result, _ = run(deliver(sink, certs, requirement, broken=broken, tls_handshake_timeout=0.5))
    refused(result, TlsFailure.VALIDATION_FAILURE)
    assert sink.messages == [] and len(sink.sessions) == 1
    assert "STARTTLS" in sink.sessions[0].commands


def test_broken_hosts_forget_after_their_time():
    now = [1000.0]
    broken = BrokenTlsHosts(clock=lambda: now[0])

    async def check() -> None:
        await broken.remember("MX.example.test.", 25, 60)
        assert await broken.is_broken("mx.example.test", 25)
        assert not await broken.is_broken("mx.example.test", 26)
        now[0] += 59
        assert await broken.is_broken("mx.example.test", 25)
        now[0] += 1
        assert not await broken.is_broken("mx.example.test", 25)

    run(check())


def test_a_host_one_node_found_broken_goes_plaintext_on_another(sinks, certs):
    """The memory is in the store: node b, which never met the failure, skips STARTTLS."""
    sink = sinks(cert=certs.good, handshake="fail")
    store = MemoryStore()
    node_a, node_b = BrokenTlsHosts(store), BrokenTlsHosts(store)
    session, outcomes = run(deliver(sink, certs, broken=node_a))
    assert delivered(outcomes)
    assert session.tls.fallback is Fallback.HANDSHAKE_FAILED  # type: ignore[union-attr]
    again, outcomes = run(deliver(sink, certs, broken=node_b))
    assert delivered(outcomes)
    assert again.tls.fallback is Fallback.HANDSHAKE_FAILED_RECENTLY  # type: ignore[union-attr]
    assert "STARTTLS" not in sink.sessions[2].commands
    assert not run(BrokenTlsHosts(MemoryStore()).is_broken(HOST, sink.port)), "no store, no memory"


# -- B5: smarthost credentials -------------------------------------------------------------------


def test_auth_inside_verified_tls(sinks, certs):
    sink = sinks(cert=certs.good, auth=True)
    session, outcomes = run(deliver(sink, certs, auth=("relay-user", "s3cret")))
    assert isinstance(session, OutboundSession) and delivered(outcomes)
    assert [(a.username, a.password, a.tls) for a in sink.auths] == [("relay-user", "s3cret", True)]
    assert sink.messages[0].auth_user == "relay-user"
    assert "s3cret" not in repr(settings(certs, auth=("relay-user", "s3cret")))


@pytest.mark.parametrize("kind", ["expired", "wrong_name", "self_signed"])
def test_credentials_never_go_to_an_unverified_peer(sinks, certs, kind):
    sink = sinks(cert=getattr(certs, kind), auth=True)
    result, _ = run(deliver(sink, certs, auth=("relay-user", "s3cret")))
    assert isinstance(result, OpenFailure) and result.outcome is Outcome.TRANSIENT
    assert result.reply.enhanced == "4.7.0" and result.tls is not None
    assert result.tls.verified is False
    assert sink.auths == [] and sink.messages == []


@pytest.mark.parametrize("options", [{"starttls": False}, {"handshake": "fail"}])
def test_credentials_never_go_in_plaintext(sinks, certs, options):
    sink = sinks(cert=certs.good, auth=True, **options)
    result, _ = run(deliver(sink, certs, auth=("relay-user", "s3cret")))
    assert isinstance(result, OpenFailure) and sink.auths == [] and sink.messages == []


def test_refused_credentials_defer(sinks, certs):
    bad = b"535 5.7.8 Authentication failed\r\n"
    sink = sinks(cert=certs.good, auth=True, replies={"AUTH": bad})
    result, _ = run(deliver(sink, certs, auth=("relay-user", "wrong")))
    assert isinstance(result, OpenFailure) and result.outcome is Outcome.TRANSIENT
    assert result.reply.code == 535 and sink.messages == []


def test_level_none_never_starts_tls(sinks, certs):
    sink = sinks(cert=certs.good)
    requirement = dataclasses.replace(MAY, level=TlsLevel.NONE, source=PolicySource.OPERATOR)
    session, outcomes = run(deliver(sink, certs, requirement))
    assert delivered(outcomes) and "STARTTLS" not in sink.commands
    assert session.tls.offered is True and session.tls.level_required == "none"  # type: ignore[union-attr]
