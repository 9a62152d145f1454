"""DomainDelivery and the per-MX step: each target's requirement comes from
``PolicyDecision.for_mx`` (what DANE will raise per host), asked only for the hosts tried,
and a host the step takes out is never contacted. Real sessions against the SMTP sink on
127.0.0.1 (no STARTTLS offered); both MX hosts of the zone resolve to it."""

from __future__ import annotations

import asyncio

from sealpost.delivery.attempt import DomainAttempt, DomainDelivery
from sealpost.delivery.pool import SessionPool
from sealpost.delivery.route import RouteSettings
from sealpost.delivery.session import BrokenTlsHosts, ClientSettings, OpenFailure, OutboundSession
from sealpost.delivery.types import OutboundMessage, Outcome, Target
from sealpost.model.reply import Reply
from sealpost.model.tlsrpt import TlsFailure
from sealpost.policy.engine import PolicyEngine
from sealpost.policy.levels import Requirement, TlsLevel
from sealpost.policy.mta_sts import StsMode, StsPolicy
from sealpost.policy.mx_policy import NO_STS_MX
from sealpost.policy.sts_cache import MemoryStsCache
from tests.fakes.resolver import ZoneResolver
from tests.fixtures.smtp_sink import SmtpSink
from tests.unit.test_mx_policy import ENFORCE, OnePolicy, RaiseFor

MX1, MX2 = "mx1.example.test", "mx2.example.test"
ZONE = {
    "example.test": {"MX": [(10, MX1), (20, MX2)]},
    MX1: {"A": ["127.0.0.1"]},
    MX2: {"A": ["127.0.0.1"]},
}
MESSAGE = OutboundMessage(
    "m1", "sender@example.org", ("bob@example.test",), b"Subject: x\r\n\r\nhi\r\n"
)


def attempt(
    sink: SmtpSink, raising: RaiseFor, zone: dict = ZONE, policy: StsPolicy = ENFORCE
) -> DomainAttempt:
    resolver = ZoneResolver(zone)
    engine = PolicyEngine(
        resolver, OnePolicy(policy), MemoryStsCache(), operator_rules={}, mx_sources=(raising,)
    )
    client = ClientSettings(helo_name="client.example.test", command_timeout=5)
    broken = BrokenTlsHosts()

    async def opener(target: Target, requirement: Requirement) -> OutboundSession | OpenFailure:
        return await OutboundSession.open(target, requirement, client, broken)

    async def main() -> DomainAttempt:
        pool = SessionPool(opener)
        delivery = DomainDelivery(resolver, engine, RouteSettings(smtp_port=sink.port), pool)
        try:
            return await delivery.deliver("example.test", MESSAGE)
        finally:
            await pool.close_all()

    return asyncio.run(main())


def test_only_the_hosts_tried_are_refined(smtp_sink) -> None:
    sink: SmtpSink = smtp_sink()
    raising = RaiseFor(frozenset())
    result = attempt(sink, raising)
    assert [o.outcome for o in result.outcomes] == [Outcome.DELIVERED]
    assert result.mx == MX1 and raising.asked == [MX1]
    assert result.tls is not None and result.tls.level_required == "may"


def test_a_host_raised_by_the_step_is_held_to_it(smtp_sink) -> None:
    """MX1's requirement is raised to ``encrypt``; the sink offers no STARTTLS, so MX1 is
    refused (4.7.4) and MX2, left at the domain's ``may``, takes the mail."""
    sink: SmtpSink = smtp_sink()
    raising = RaiseFor(frozenset({MX1}), TlsLevel.ENCRYPT)
    result = attempt(sink, raising)
    assert [o.outcome for o in result.outcomes] == [Outcome.DELIVERED]
    assert result.mx == MX2 and raising.asked == [MX1, MX2]
    assert result.tls is not None and result.tls.level_required == "may"
    assert len(sink.sessions) == 2 and "MAIL" not in " ".join(sink.sessions[0].commands)
    assert len(sink.messages) == 1


def test_every_host_raised_defers_with_the_hosts_requirement(smtp_sink) -> None:
    sink: SmtpSink = smtp_sink()
    result = attempt(sink, RaiseFor(frozenset({MX1, MX2}), TlsLevel.ENCRYPT))
    [outcome] = result.outcomes
    assert outcome.outcome is Outcome.TRANSIENT and outcome.reply is not None
    assert outcome.reply.enhanced == "4.7.4"
    assert result.mx == MX2 and result.tls is not None
    assert result.tls.level_required == "encrypt"
    assert sink.messages == []


def test_hosts_taken_out_by_the_step_are_never_contacted(smtp_sink) -> None:
    """The MTA-STS enforce source (listing neither host) takes both out: no session at all."""
    sink: SmtpSink = smtp_sink()
    zone = {**ZONE, "_mta-sts.example.test": {"TXT": ["v=STSv1; id=1"]}}
    elsewhere = StsPolicy(StsMode.ENFORCE, 3600, ("*.elsewhere.test",))
    raising = RaiseFor(frozenset())
    result = attempt(sink, raising, zone, elsewhere)
    [outcome] = result.outcomes
    assert outcome.outcome is Outcome.TRANSIENT
    assert outcome.reply == Reply.of(451, "4.7.5", NO_STS_MX)
    assert raising.asked == [MX1, MX2] and sink.sessions == []
    assert result.tls_failures == (TlsFailure.VALIDATION_FAILURE,)
