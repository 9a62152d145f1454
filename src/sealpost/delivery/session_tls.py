"""Securing an outbound session as its Requirement says (DESIGN.md section 4).

``none`` never sends STARTTLS. Otherwise STARTTLS is used when offered, first with a
verifying context (SNI and name check: the target host, RFC 3207 section 4.1 / RFC 8461
section 4.2). A certificate that fails verification is retried on a new connection without
verification and recorded ``verified=False`` with its error (RFC 7435 section 6: never
presented as verified), unless verification is enforced. A refused STARTTLS leaves the
session in plaintext; a handshake that fails or stalls falls back to plaintext on a new
connection, and the host is remembered in ``BrokenTlsHosts`` for a while (Postfix "may";
checklist B4; ``delivery.broken_tls``, kept in the store, so shared by every node), but only
where plaintext is allowed: otherwise, and whenever the verdict
(``policy.verdict.check``) says the requirement is not met, the session is refused with a
4.7.x TRANSIENT ``OpenFailure`` naming the RFC 8460 failure (checklist B2, B3). A
DANE-authenticated requirement (RFC 7672) handshakes once, without WebPKI checks, sending
the TLSA base domain (the MX host, or its secure CNAME expansion: ``policy.dane_lookup``)
as SNI (section 8.1), and the certificate must match a TLSA record (a DANE-TA leaf one of
the reference identifiers, section 3.2.3):
no STARTTLS, a failed handshake or a mismatch defers, with no plaintext and no other
verification mode to fall back on. SMTP AUTH
credentials are sent only inside verified TLS (checklist B5); a refused AUTH is TRANSIENT
(Postfix ``smtp_sasl_auth_soft_bounce``). ``offered`` is recorded in every case.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from sealpost.delivery.broken_tls import BrokenTlsHosts
from sealpost.delivery.session_link import UNUSABLE, ClientSettings, Link, OpenFailure, open_link
from sealpost.delivery.types import Outcome, Target
from sealpost.model.reply import Reply
from sealpost.model.tls_record import Fallback, TlsRecord
from sealpost.model.tlsrpt import TlsFailure
from sealpost.net.client_tls import (
    classify_verify_error,
    client_tls_record,
    unverified,
    verify_message,
    verifying,
)
from sealpost.net.peer_chain import peer_chain
from sealpost.net.stream import TlsHandshakeError, TlsVerifyError
from sealpost.policy.dane import dane_view, matching_record
from sealpost.policy.levels import Requirement, TlsLevel, Verdict
from sealpost.policy.verdict import check
from sealpost.smtp.client_events import AuthDone

log = logging.getLogger("sealpost.delivery")


@dataclass(frozen=True, slots=True)
class Secured:
    """An open session, judged: what TLS proved and the verdict."""

    link: Link
    tls: TlsRecord
    verdict: Verdict


StartTlsResult = TlsRecord | Reply | TlsHandshakeError | OpenFailure


class Negotiation:
    """The steps of opening one session: connections, STARTTLS, fallbacks, AUTH."""

    def __init__(
        self,
        target: Target,
        requirement: Requirement,
        settings: ClientSettings,
        broken: BrokenTlsHosts,
    ) -> None:
        self.target = target
        self.host = target.host.rstrip(".").lower()
        self.requirement = requirement
        self.settings = settings
        self.broken = broken
        self.offered: bool | None = None
        self.peer_ip: str | None = None  # the address the last connection reached

    async def run(self) -> Secured | OpenFailure:
        """The session, or why there is none (with the address that refused, if any)."""
        opened = await self._run()
        if isinstance(opened, OpenFailure) and opened.peer_ip is None and self.peer_ip:
            return dataclasses.replace(opened, peer_ip=self.peer_ip)
        return opened

    async def _run(self) -> Secured | OpenFailure:
        link = await self.connect()
        if isinstance(link, OpenFailure):
            return link
        if self.requirement.level is TlsLevel.NONE:
            return await self.finish(link, None)
        if not self.offered:
            return await self.finish(link, None, failure=TlsFailure.STARTTLS_NOT_SUPPORTED)
        port = self.target.port
        if self.requirement.plaintext_allowed and await self.broken.is_broken(self.host, port):
            failure = TlsFailure.VALIDATION_FAILURE
            return await self.finish(link, None, Fallback.HANDSHAKE_FAILED_RECENTLY, failure)
        if self.requirement.dane_authenticated:  # RFC 7672: the TLSA records, nothing else
            return await self.settle(link, await self.starttls(link, verify=False, dane=True))
        result = await self.starttls(link, verify=True)
        if isinstance(result, TlsVerifyError):
            return await self.unverified_retry(result)
        return await self.settle(link, result)

    async def connect(self) -> Link | OpenFailure:
        link = await open_link(self.target, self.settings)
        if isinstance(link, Link):
            self.peer_ip = link.stream.peer[0]
        if isinstance(link, Link) and self.offered is None:
            extensions = link.client.extensions
            self.offered = extensions is not None and extensions.starttls
        return link

    async def starttls(self, link: Link, *, verify: bool, dane: bool = False) -> StartTlsResult:
        """STARTTLS, the handshake and the second EHLO; else the refusal or the error.
        ``dane``: the certificate is judged by the TLSA records alone (``dane_match``)."""
        done = await link.starttls()
        if done.reply.code != 220:
            return done.reply
        context = verifying(self.settings.ca_file) if verify else unverified()
        sni = (self.requirement.tlsa_base or self.host) if dane else self.host
        try:
            await link.handshake(context, sni, self.settings.tls_handshake_timeout)
        except TlsHandshakeError as exc:
            await link.stream.close()
            return exc
        record = (
            self.dane_match(link)
            if dane
            else client_tls_record(link.stream.ssl_object, self.host, verify, None)
        )
        hello = await link.tls_established(verified=record.verified is True)
        if hello.extensions is None:
            await link.close()
            return OpenFailure(hello.reply, Outcome.TRANSIENT, self.record(record), None)
        return record

    def dane_match(self, link: Link) -> TlsRecord:
        """RFC 7672 section 3.1: the peer must satisfy a usable TLSA record, DANE-EE (the leaf
        matches; its names and dates are not checked) or DANE-TA (the chain leads to the
        TA and the leaf names the host). No match is ``tlsa-invalid``."""
        ssl_object = link.stream.ssl_object
        requirement = self.requirement
        names = requirement.reference_names or (self.host,)
        matched = matching_record(requirement.tlsa, peer_chain(ssl_object), names)
        error = None if matched else "no TLSA record matches the certificate"
        record = client_tls_record(ssl_object, self.host, matched is not None, error)
        failure = None if matched else TlsFailure.TLSA_INVALID
        dane = dane_view(requirement.tlsa, matched, requirement.tlsa_owner)
        return dataclasses.replace(record, dane=dane, failure=failure)

    async def unverified_retry(self, error: TlsVerifyError) -> Secured | OpenFailure:
        failure = classify_verify_error(error.error)
        message = verify_message(error.error)
        if self.requirement.verification_enforced:
            record = self.record(TlsRecord(verified=False, verify_error=message), None, failure)
            return self.refusal(record, failure)
        log.info("certificate of %s not verified (%s): retrying unverified", self.host, message)
        link = await self.connect()
        if isinstance(link, OpenFailure):
            return link
        if link.client.extensions is None or not link.client.extensions.starttls:
            return await self.finish(link, None, failure=TlsFailure.STARTTLS_NOT_SUPPORTED)
        result = await self.starttls(link, verify=False)
        if isinstance(result, TlsRecord):
            record = dataclasses.replace(result, verify_error=message)
            return await self.finish(link, record, failure=failure)
        return await self.settle(link, result)

    async def settle(self, link: Link, result: StartTlsResult) -> Secured | OpenFailure:
        """Go on from what STARTTLS gave: TLS, a refusal (plaintext on this connection),
        a failed handshake (plaintext on a new one), or no session."""
        if isinstance(result, TlsRecord):
            return await self.finish(link, result)
        if isinstance(result, Reply) and not link.client.usable:  # 421: the server left
            await link.close()
            return OpenFailure(result, Outcome.TRANSIENT, self.record(TlsRecord()), None)
        if isinstance(result, Reply):
            refused = TlsRecord(starttls_reply_code=result.code)
            failure = TlsFailure.STARTTLS_NOT_SUPPORTED
            return await self.finish(link, refused, Fallback.STARTTLS_REFUSED, failure)
        if isinstance(result, OpenFailure):
            return result
        failure = TlsFailure.VALIDATION_FAILURE
        if not self.requirement.plaintext_allowed:
            return self.refusal(self.record(TlsRecord(verify_error=str(result)), None, failure))
        kind = "stalled" if result.stalled else "failed"
        log.warning("TLS handshake with %s %s (%s): plaintext", self.host, kind, result)
        await self.broken.remember(self.host, self.target.port, self.settings.broken_tls_memory)
        link = await self.connect()
        if isinstance(link, OpenFailure):
            return link
        return await self.finish(link, None, Fallback.HANDSHAKE_FAILED, failure)

    async def finish(
        self,
        link: Link,
        tls: TlsRecord | None,
        fallback: Fallback | None = None,
        failure: TlsFailure | None = None,
    ) -> Secured | OpenFailure:
        """Judge the session against the requirement, AUTH if configured, hand it over."""
        record = self.record(tls or TlsRecord(), fallback, failure)
        verdict = check(self.requirement, record)
        if not link.client.usable:
            await link.close()
            return OpenFailure(UNUSABLE, Outcome.TRANSIENT, record, verdict.failure)
        if not verdict.ok:
            await link.close()
            return self.refusal(record, verdict.failure, verdict.detail)
        if verdict.failure is not None:
            log.info("TLS with %s: %s", self.host, verdict.detail)
        if self.settings.auth is not None:
            refused = await self.authenticate(link, record, verdict)
            if refused is not None:
                return refused
        return Secured(link, record, verdict)

    async def authenticate(
        self, link: Link, record: TlsRecord, verdict: Verdict
    ) -> OpenFailure | None:
        assert self.settings.auth is not None
        if record.verified is not True:  # checklist B5: no credentials without verified TLS
            await link.close()
            text = f"credentials withheld: TLS with {self.host} is not verified"
            return OpenFailure(Reply.of(451, "4.7.0", text), Outcome.TRANSIENT, record, None)
        done = await link.run(link.client.auth_plain(*self.settings.auth), AuthDone)
        if done.reply.code == 235:
            return None
        await link.close()
        return OpenFailure(done.reply, Outcome.TRANSIENT, record, None)

    def record(
        self, base: TlsRecord, fallback: Fallback | None = None, failure: TlsFailure | None = None
    ) -> TlsRecord:
        requirement = self.requirement
        return dataclasses.replace(
            base,
            peer_name=self.host,
            level_required=requirement.level.value,
            policy_source=requirement.source.value,
            policy_mode=requirement.mode,
            offered=self.offered,
            fallback=fallback or base.fallback,
            failure=failure or base.failure,
            dane=base.dane or dane_view(requirement.tlsa, None, requirement.tlsa_owner),
        )

    def refusal(
        self, record: TlsRecord, failure: TlsFailure | None = None, detail: str = ""
    ) -> OpenFailure:
        failure = failure or TlsFailure.VALIDATION_FAILURE
        enhanced = "4.7.4" if failure is TlsFailure.STARTTLS_NOT_SUPPORTED else "4.7.5"
        requirement = self.requirement
        text = f"TLS {requirement.level.value} required ({requirement.source.value})"
        reply = Reply.of(451, enhanced, f"{text} with {self.host}: {detail or failure.value}")
        log.info("not delivering to %s: %s", self.host, reply)
        return OpenFailure(reply, Outcome.TRANSIENT, record, failure, tls_refused=True)
