"""One delivery attempt of one message to one destination domain.

Routing (MX, implicit MX, static routes, smarthost), the TLS requirement from the policy
engine (operator rules, MTA-STS, REQUIRETLS), then each target in preference order until
one accepts the session. Before a target is tried its requirement is refined for that host
(``PolicyDecision.for_mx``, the per-MX step of ``policy.mx_policy``; hosts of static routes
and the smarthost go through DANE's step alone, TLSA at the relay's port): DANE (RFC 7672
section 2.2) authenticates a host by its secure TLSA records or takes it out when their
lookup fails; MTA-STS ``enforce`` takes
out MX hosts its policy does not list, implicit MX included (RFC 8461 section 4.1: no MX
matches -> defer), and a ``testing`` mismatch is reported with the delivery. When every
host was taken out, the attempt defers with the last one's reason, or bounces with 5.7.30
when REQUIRETLS took it out for good (RFC 8689 section 4.2.1, ``policy.requiretls_mx``).
A REQUIRETLS message also passes over a host whose TLS falls short or that does not offer
REQUIRETLS, and bounces at once when every host failed such a step
(``delivery.requiretls_path``). A
message with ``TLS-Required: No`` (RFC 8689 section 3, ``model.tls_required``; ignored on a
REQUIRETLS message) is delivered without DANE and MTA-STS, and its TLS record says
``tls_required: false``. Per-recipient outcomes
come from that session; when no target can be reached every recipient gets the last
failure. Every path returns the TLS record of what happened, for the events.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sealpost.delivery.pool import SessionPool
from sealpost.delivery.requiretls_path import (
    NO_AUTHENTICATED_TLS,
    NOT_A_REQUIRETLS_PATH,
    RequireTlsPath,
)
from sealpost.delivery.route import Route, RouteFailure, RouteSettings, Via, route
from sealpost.delivery.session import OpenFailure
from sealpost.delivery.types import OutboundMessage, Outcome, RecipientOutcome, Target
from sealpost.dns.names import address_literal, normalize_domain
from sealpost.dns.resolver import Resolver
from sealpost.model import tls_required
from sealpost.model.reply import Reply
from sealpost.model.tls_record import TlsRecord
from sealpost.model.tlsrpt import TlsFailure
from sealpost.model.tlsrpt_report import ReportedPolicy
from sealpost.policy.dane import dane_view
from sealpost.policy.dane_lookup import SMTP_PORT, HostDns
from sealpost.policy.engine import PolicyDecision, PolicyEngine
from sealpost.policy.levels import PolicySource, Requirement, TlsLevel
from sealpost.policy.mx_policy import MxRequirement
from sealpost.policy.reported import reported_policy

# Hosts that DNS named for the domain: MTA-STS `mx` patterns apply to them (RFC 8461 section
# 4.1), to an implicit MX (the domain's own address records, RFC 5321 section 5.1) as well.
# Static routes and smarthosts are the operator's choice and are not filtered.
_FROM_DNS = (Via.MX, Via.IMPLICIT_MX)


@dataclass(frozen=True, slots=True)
class DomainAttempt:
    outcomes: tuple[RecipientOutcome, ...]
    tls: TlsRecord | None = None
    mx: str | None = None
    ip: str | None = None
    local: bool = False  # a local domain without a route: keep the mail queued
    tls_failures: tuple[TlsFailure, ...] = ()
    # The RFC 8460 policy of the host the attempt ended on, for TLS reports (None: no MX
    # of the domain's was tried, e.g. a static route or the smarthost)
    reported: ReportedPolicy | None = None
    sent: bool = False  # a session met the policy and carried the transaction (metrics)


def _all(message: OutboundMessage, outcome: Outcome, reply: Reply) -> tuple[RecipientOutcome, ...]:
    return tuple(RecipientOutcome(r, outcome, reply) for r in message.recipients)


def _with_message_minimum(decision: PolicyDecision, minimum: str | None) -> PolicyDecision:
    """Raise the requirement to the message's own minimum (API ``options.tls``), never
    lower it; a raised level is enforced, not report-only."""
    if not minimum or minimum == "requiretls":
        return decision
    level = TlsLevel(minimum)
    current = decision.requirement
    if level.rank <= current.level.rank and not current.report_only:
        return decision
    if level.rank <= current.level.rank:
        level = current.level
    raised = replace(current, level=level, source=PolicySource.MESSAGE, report_only=False)
    return replace(decision, requirement=raised)


def _policy_record(requirement: Requirement) -> TlsRecord:
    return TlsRecord(
        level_required=requirement.level.value,
        policy_source=requirement.source.value,
        policy_mode=requirement.mode,
        dane=dane_view(requirement.tlsa, None, requirement.tlsa_owner),
    )


class DomainDelivery:
    def __init__(
        self,
        resolver: Resolver,
        policy: PolicyEngine | None,
        settings: RouteSettings,
        pool: SessionPool,
    ) -> None:
        self._resolver = resolver
        self._policy = policy
        self._settings = settings
        self._pool = pool

    def update_routes(self, settings: RouteSettings) -> None:
        """Routes from a reloaded config (SIGHUP): used from the next domain attempt on."""
        self._settings = settings

    async def _decide(self, domain: str, message: OutboundMessage) -> PolicyDecision:
        relaxed = tls_required.relaxes(message.data, requiretls=message.requiretls)
        if self._policy is not None:
            decision = await self._policy.requirement_for(
                domain, requiretls=message.requiretls, relaxed=relaxed
            )
        elif message.requiretls:
            decision = PolicyDecision(Requirement(TlsLevel.VERIFY, PolicySource.REQUIRETLS))
        else:
            decision = PolicyDecision(Requirement(), relaxed=relaxed)
        return _with_message_minimum(decision, message.tls_minimum)

    async def deliver(self, domain: str, message: OutboundMessage) -> DomainAttempt:
        found = await route(domain, self._resolver, self._settings)
        if isinstance(found, RouteFailure):
            return DomainAttempt(_all(message, found.outcome, found.reply), local=found.local)
        decision = await self._decide(domain, message)
        attempt = await self._deliver(found, decision, message, normalize_domain(domain))
        if decision.relaxed and attempt.tls is not None:  # RFC 8689 section 3, in the events
            return replace(attempt, tls=replace(attempt.tls, tls_required=False))
        return attempt

    async def _deliver(
        self, found: Route, decision: PolicyDecision, message: OutboundMessage, domain: str
    ) -> DomainAttempt:
        last: tuple[Target, MxRequirement, OpenFailure] | None = None
        out: MxRequirement | None = None  # the last host a policy took out
        skipped: tuple[TlsFailure, ...] = ()  # what taking hosts out reported
        path = RequireTlsPath() if message.requiretls else None  # RFC 8689 section 4.2.1
        tried: TlsRecord | None = None  # what TLS the last host tried got (for a bounce)
        seen: MxRequirement | None = None  # the last host's requirement (TLS-RPT's policy)
        for target in found.targets:
            mx = seen = await self._refine(decision, found, target, domain)
            if not mx.allowed:
                out, skipped = mx, (*skipped, *mx.failures)
                tried = _policy_record(mx.requirement)
                if path is not None:
                    _note_out(path, mx)
                continue
            session = await self._pool.acquire(target, mx.requirement)
            if isinstance(session, OpenFailure):
                last = (target, mx, session)
                tried = session.tls or _policy_record(mx.requirement)
                if path is not None:
                    _note_failed(path, target.host, session)
                continue
            if path is not None and not session.offers_requiretls:  # step 6: next MX host
                self._pool.release(session, target, mx.requirement)
                path.miss(target.host, NOT_A_REQUIRETLS_PATH, "REQUIRETLS not offered")
                tried = session.tls
                continue
            try:
                outcomes = await session.send(message)
            except Exception:
                self._pool.discard(session)
                raise
            self._pool.release(session, target, mx.requirement)
            failures = decision.failures
            if session.verdict.failure is not None:
                failures = (*failures, session.verdict.failure)
            return DomainAttempt(
                tuple(outcomes),
                session.tls,
                target.host,
                session.peer_ip,
                tls_failures=(*failures, *skipped, *mx.failures),
                reported=self._reported(decision, found, mx),
                sent=True,
            )
        bounce = path.bounce(domain) if path is not None else None
        if bounce is not None:  # RFC 8689 section 4.2.1: no host left, MUST NOT transmit
            failures = (*decision.failures, *skipped)
            if last is not None and last[2].failure is not None:
                failures = (*failures, last[2].failure)
            return DomainAttempt(
                _all(message, Outcome.PERMANENT, bounce),
                tried,
                tls_failures=failures,
                reported=self._reported(decision, found, seen) if seen is not None else None,
            )
        if last is None:  # every host was taken out (MTA-STS enforce, RFC 8461 section 4.1;
            # DANE, RFC 7672 section 2.2)
            assert out is not None  # a route has at least one target
            record = _policy_record(out.requirement)  # (REQUIRETLS bounced above)
            failures = (*decision.failures, *(skipped or (TlsFailure.VALIDATION_FAILURE,)))
            reply = Reply.of(451, "4.7.5", out.reason)
            return DomainAttempt(
                _all(message, Outcome.TRANSIENT, reply),
                record,
                tls_failures=failures,
                reported=self._reported(decision, found, out),
            )
        target, mx, failed = last
        failures = (*decision.failures, *skipped, *((failed.failure,) if failed.failure else ()))
        tls = failed.tls or _policy_record(mx.requirement)
        return DomainAttempt(
            _all(message, failed.outcome, failed.reply),
            tls,
            target.host,
            failed.peer_ip,
            tls_failures=failures,
            reported=self._reported(decision, found, mx),
        )

    @staticmethod
    def _reported(
        decision: PolicyDecision, found: Route, mx: MxRequirement
    ) -> ReportedPolicy | None:
        """The TLS-RPT policy of a host DNS named for the domain; None for relays."""
        return reported_policy(decision, mx) if found.via in _FROM_DNS else None

    @staticmethod
    async def _refine(
        decision: PolicyDecision, found: Route, target: Target, domain: str
    ) -> MxRequirement:
        """The per-MX step: hosts DNS named go through the decision's MX sources; a relay
        through DANE's alone (Postfix's ``[host]:port``: TLSA at the relay's port)."""
        host = target.host
        if found.via in _FROM_DNS:  # RFC 7672 section 2.2.1: secure MX RRset and addresses
            dns = HostDns(host, domain, SMTP_PORT, found.secure, target.secure, target.canonical)
            return await decision.for_mx(host, secure=found.secure and target.secure, dns=dns)
        if address_literal(host) is not None:
            return await decision.for_relay(host)
        dns = HostDns(host, host, target.port, True, target.secure, target.canonical)
        return await decision.for_relay(host, dns)


def _note_out(path: RequireTlsPath, mx: MxRequirement) -> None:
    """A host a policy took out: a REQUIRETLS failure when REQUIRETLS took it out for good
    (``policy.requiretls_mx``), else (DANE lookup failed, MTA-STS) one a retry may change."""
    if mx.permanent:
        path.miss(mx.host, NOT_A_REQUIRETLS_PATH, mx.reason)
    else:
        path.other()


def _note_failed(path: RequireTlsPath, host: str, failed: OpenFailure) -> None:
    """A host whose session failed: a REQUIRETLS failure when TLS fell short (no STARTTLS,
    a failed handshake, a certificate neither PKIX nor DANE authenticates), else (no
    connection, a 4xx greeting) one a retry may change."""
    if failed.tls_refused:
        path.miss(host, NO_AUTHENTICATED_TLS, failed.reply.text)
    else:
        path.other()
