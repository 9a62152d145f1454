"""One SMTP/TLS probe of one MX address: banner, EHLO, STARTTLS, handshake, each bounded.

A probe connects, reads the greeting, says EHLO, and (when offered) sends STARTTLS and does
the handshake with the context it was given; with ``implicit`` the handshake comes first
(RFC 8314 section 3.3) and the greeting is read inside TLS. After ``220`` to STARTTLS the
client discards everything received in the clear and says EHLO again (RFC 3207 section 4.2;
the sans-I/O ``SmtpClient`` does both). The dialogue is delivery's (``net.smtp_dialogue``),
with faults raised (``OnFault.RAISE``) so that the report names the step that failed. Every
step is bounded by ``timeout`` and timed.

``version_context`` pins one protocol version (min = max); TLS 1.0 and 1.1 need
``@SECLEVEL=0`` so that OpenSSL offers them at all (RFC 8996 deprecates them: a server
accepting them is reported, not trusted more).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import warnings
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sealpost.model.reply import Reply
from sealpost.model.tlsrpt import TlsFailure
from sealpost.net.client_tls import classify_verify_error
from sealpost.net.peer_chain import peer_chain
from sealpost.net.smtp_dialogue import Dialogue, OnFault, Timeouts
from sealpost.net.stream import Stream, StreamClosed, TlsHandshakeError, TlsVerifyError
from sealpost.smtp.client import SmtpClient

VERSIONS = (
    ssl.TLSVersion.TLSv1,
    ssl.TLSVersion.TLSv1_1,
    ssl.TLSVersion.TLSv1_2,
    ssl.TLSVersion.TLSv1_3,
)
VERSION_NAMES = {
    ssl.TLSVersion.TLSv1: "TLSv1",
    ssl.TLSVersion.TLSv1_1: "TLSv1.1",
    ssl.TLSVersion.TLSv1_2: "TLSv1.2",
    ssl.TLSVersion.TLSv1_3: "TLSv1.3",
}


class ProbeStep(StrEnum):
    CONNECT = "connect"
    BANNER = "banner"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    HANDSHAKE = "handshake"


class VersionResult(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    NOT_TESTED = "not-tested"  # no TLS to test (no STARTTLS, or the session failed before)
    UNAVAILABLE = "unavailable"  # this machine's OpenSSL cannot offer that version


@dataclass(frozen=True, slots=True)
class Negotiated:
    version: str
    cipher: str
    bits: int | None
    key_exchange: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "cipher": self.cipher,
            "bits": self.bits,
            "key_exchange": self.key_exchange,
        }


@dataclass(slots=True)
class ProbeResult:
    """What one session saw; ``failed_at`` names the step that failed (None: all went)."""

    address: str
    port: int
    banner: str | None = None
    ehlo: tuple[str, ...] = ()
    starttls_offered: bool | None = None
    negotiated: Negotiated | None = None
    der: bytes | None = None
    chain: tuple[bytes, ...] = ()  # every certificate the server sent, leaf first (DANE-TA)
    failed_at: ProbeStep | None = None
    error: str | None = None
    timed_out: bool = False
    verify_failure: TlsFailure | None = None  # the handshake failed on the certificate
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def tls_up(self) -> bool:
        return self.negotiated is not None


def version_context(version: ssl.TLSVersion) -> ssl.SSLContext | None:
    """A context offering exactly ``version`` and checking nothing; None if unavailable."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():  # TLS 1.0/1.1 on purpose, to see if the peer takes it
            warnings.simplefilter("ignore", DeprecationWarning)
            if version < ssl.TLSVersion.TLSv1_2:
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = version
            ctx.maximum_version = version
    except (ValueError, ssl.SSLError):
        return None
    return ctx


def key_exchange(version: str, cipher: str) -> str:
    """The key exchange a cipher suite implies (TLS 1.3 suites do not name the group)."""
    if version == "TLSv1.3":
        return "ECDHE/DHE (TLS 1.3)"
    first = cipher.split("-", 1)[0]
    if first in ("ECDHE", "DHE", "ECDH", "DH"):
        return first
    return "RSA (no forward secrecy)"


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)


async def probe(
    address: str,
    port: int,
    *,
    context: ssl.SSLContext,
    server_hostname: str | None,
    helo: str,
    timeout: float,
    implicit: bool = False,
    ehlo_after_tls: bool = True,
) -> ProbeResult:
    """Run one session up to (and, with ``ehlo_after_tls``, past) the TLS handshake."""
    result = ProbeResult(address, port)
    step = ProbeStep.CONNECT
    stream: Stream | None = None
    try:
        started = time.monotonic()
        stream = await Stream.connect(address, port, timeout)
        result.timings_ms["connect"] = _ms(started)
        dialog = Dialogue(
            stream, SmtpClient(helo), Timeouts(timeout, timeout), on_fault=OnFault.RAISE
        )
        if implicit:
            step = ProbeStep.HANDSHAKE
            await _handshake(dialog, context, server_hostname, timeout, result)
        step = ProbeStep.BANNER
        started = time.monotonic()
        greeted = await dialog.greeting()
        result.timings_ms["banner"] = _ms(started)
        if greeted.reply.code != 220:
            return _fail(result, step, f"greeting: {_reply(greeted.reply)}")
        result.banner = greeted.reply.text
        step = ProbeStep.EHLO
        started = time.monotonic()
        hello = await dialog.ehlo()
        result.timings_ms["ehlo"] = _ms(started)
        if hello.extensions is None:
            return _fail(result, step, f"EHLO: {_reply(hello.reply)}")
        result.ehlo = tuple(hello.reply.lines[1:])
        if implicit:
            return result
        result.starttls_offered = hello.extensions.starttls
        if not result.starttls_offered:
            return result
        step = ProbeStep.STARTTLS
        started = time.monotonic()
        done = await dialog.starttls()
        result.timings_ms["starttls"] = _ms(started)
        if done.reply.code != 220:
            return _fail(result, step, f"STARTTLS: {_reply(done.reply)}")
        step = ProbeStep.HANDSHAKE
        await _handshake(dialog, context, server_hostname, timeout, result)
        if ehlo_after_tls:
            step = ProbeStep.EHLO
            hello = await dialog.tls_established(verified=False)
            if hello.extensions is not None:
                result.ehlo = tuple(hello.reply.lines[1:])
        return result
    except TlsVerifyError as exc:
        result.verify_failure = classify_verify_error(exc.error)
        return _fail(result, step, str(exc))
    except TlsHandshakeError as exc:
        result.timed_out = exc.stalled
        return _fail(result, step, str(exc))
    except TimeoutError:
        result.timed_out = True
        return _fail(result, step, f"no answer within {timeout:g} s")
    except (OSError, StreamClosed) as exc:
        return _fail(result, step, str(exc) or type(exc).__name__)
    finally:
        if stream is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):
                    await stream.close()


async def _handshake(
    dialog: Dialogue,
    context: ssl.SSLContext,
    server_hostname: str | None,
    timeout: float,
    result: ProbeResult,
) -> None:
    started = time.monotonic()
    await dialog.handshake(context, server_hostname, timeout)
    result.timings_ms["handshake"] = _ms(started)
    ssl_object = dialog.stream.ssl_object
    if ssl_object is None:
        raise StreamClosed("no TLS session after the handshake")
    version = ssl_object.version() or ""
    cipher = ssl_object.cipher()
    name = cipher[0] if cipher else ""
    result.negotiated = Negotiated(
        version, name, cipher[2] if cipher else None, key_exchange(version, name)
    )
    result.der = ssl_object.getpeercert(binary_form=True)
    result.chain = peer_chain(ssl_object)


def _fail(result: ProbeResult, step: ProbeStep, error: str) -> ProbeResult:
    result.failed_at = step
    result.error = error
    return result


def _reply(reply: Reply) -> str:
    return f"{reply.code} {reply.text}"


async def probe_version(
    address: str,
    port: int,
    version: ssl.TLSVersion,
    *,
    server_hostname: str | None,
    helo: str,
    timeout: float,
    implicit: bool = False,
) -> VersionResult:
    """Whether the server completes a handshake offering only ``version``."""
    context = version_context(version)
    if context is None:
        return VersionResult.UNAVAILABLE
    result = await probe(
        address,
        port,
        context=context,
        server_hostname=server_hostname,
        helo=helo,
        timeout=timeout,
        implicit=implicit,
        ehlo_after_tls=False,
    )
    if result.tls_up:
        return VersionResult.ACCEPTED
    if result.failed_at is ProbeStep.HANDSHAKE:
        return VersionResult.TIMEOUT if result.timed_out else VersionResult.REFUSED
    return VersionResult.NOT_TESTED
