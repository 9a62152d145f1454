"""What the console's destinations page shows: each recipient domain with attempts in the
last days (the busiest first, a page at a time), the MX hosts its sessions were with, its
MTA-STS mode from the policy cache, whether DANE applied, and the TLS outcomes of those
attempts (``model.event_tally``); and "check now": the tls-check report (``tlscheck``) of
a domain put in plain words.

The list costs one grouped store read plus one policy-cache read per domain on the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sealpost.model.event_tally import OUTCOMES, AttemptCount
from sealpost.store.contracts.event_tallies import EventTallies
from sealpost.store.contracts.policies import PolicyStore
from sealpost.tlscheck import CheckReport, Grade, HostReport

DAY = 86400.0
DAYS_SHOWN = 7
MOST_DOMAINS = 1000  # the list never reaches further into the busiest domains than this
STS_PREFIX = "mta-sts:"  # policy.store_cache.PREFIX: the MTA-STS cache's keys


class DestinationStore(EventTallies, PolicyStore, Protocol):
    """What the destinations page reads of the store."""


@dataclass(slots=True)
class Destination:
    domain: str
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    mx_hosts: list[str] = field(default_factory=list)  # busiest first
    dane_attempts: int = 0  # attempts under a DANE policy (secure TLSA records)
    mta_sts: str = "none cached"  # the cached policy's mode, "(expired)" when past max_age

    @property
    def attempts(self) -> int:
        return sum(self.outcomes.values())

    @property
    def dane(self) -> str:
        return "in use" if self.dane_attempts else "not seen"


@dataclass(frozen=True, slots=True)
class DestinationPage:
    rows: tuple[Destination, ...]
    page: int  # 1-based
    more: bool  # another page follows


async def destinations(
    store: DestinationStore, now: float, *, page: int = 1, size: int = 50
) -> DestinationPage:
    page = max(1, page)
    wanted = min(page * size + 1, MOST_DOMAINS)  # one more than the page: is there a next?
    counts = await store.count_attempts_by_domain(now - DAYS_SHOWN * DAY, now + 1, wanted)
    every = summarize(counts)
    rows = every[(page - 1) * size : page * size]
    for row in rows:
        row.mta_sts = await sts_mode(store, row.domain, now)
    return DestinationPage(tuple(rows), page, len(every) > page * size)


def summarize(counts: Sequence[AttemptCount]) -> list[Destination]:
    """One ``Destination`` per domain, the busiest first (ties by name)."""
    found: dict[str, Destination] = {}
    peers: dict[str, dict[str, int]] = {}
    for c in counts:
        domain = str(c.key)
        row = found.setdefault(domain, Destination(domain))
        row.outcomes[c.outcome] += c.count
        if c.policy_source == "dane":
            row.dane_attempts += c.count
        if c.peer_name:
            hosts = peers.setdefault(domain, {})
            hosts[c.peer_name] = hosts.get(c.peer_name, 0) + c.count
    for domain, hosts in peers.items():
        found[domain].mx_hosts = sorted(hosts, key=lambda h: (-hosts[h], h))
    return sorted(found.values(), key=lambda d: (-d.attempts, d.domain))


async def sts_mode(store: PolicyStore, domain: str, now: float) -> str:
    payload = await store.get_policy(STS_PREFIX + domain)
    if not payload:
        return "none cached"
    try:
        mode = str(payload["policy"]["mode"])
        expired = float(payload["expires_at"]) <= now
    except (KeyError, TypeError, ValueError):
        return "unreadable"
    return f"{mode} (expired)" if expired else mode


# --- check now ---------------------------------------------------------------------------

HEADLINES: dict[Grade, str] = {
    Grade.SECURE: "Secure: mail to this domain is encrypted and the server is authenticated.",
    Grade.DOWNGRADEABLE: (
        "Mail goes through, but an attacker on the path could remove or fake its encryption."
    ),
    Grade.FAILS: "Mail to this domain would fail, or its servers could not be reached.",
    Grade.ERROR: "The check could not be completed.",
}


@dataclass(frozen=True, slots=True)
class HostLine:
    host: str
    words: str  # what the probe found, in a sentence


@dataclass(frozen=True, slots=True)
class CheckView:
    target: str
    grade: str  # Grade value, for styling
    headline: str
    summary: str
    reasons: tuple[str, ...]
    fixes: tuple[str, ...]
    mta_sts: str
    hosts: tuple[HostLine, ...]


def check_view(report: CheckReport) -> CheckView:
    """The tls-check report in words: a headline for the grade, the verdict's own summary,
    reasons and fixes, the MTA-STS finding and one sentence per MX host."""
    verdict = report.verdict
    grade = verdict.grade if verdict else Grade.ERROR
    sts = report.mta_sts
    if sts is None or not sts.published:
        sts_words = "No MTA-STS policy is published."
    elif sts.policy is not None:
        sts_words = f"MTA-STS policy in {sts.policy.mode.value} mode."
    else:
        sts_words = f"MTA-STS is published but unusable: {sts.error}."
    return CheckView(
        target=report.target,
        grade=grade.value,
        headline=HEADLINES[grade],
        summary=verdict.summary if verdict else (report.mx_error or ""),
        reasons=verdict.reasons if verdict else (),
        fixes=verdict.fixes if verdict else (),
        mta_sts=sts_words,
        hosts=tuple(HostLine(h.host, host_words(h)) for h in report.hosts),
    )


def host_words(host: HostReport) -> str:
    if host.refused:
        return f"Not contacted: {host.refused}."
    probe = host.probe
    if host.dns_error:
        return f"Its address could not be found: {host.dns_error}."
    if probe is None or probe.banner is None:
        detail = probe.error if probe and probe.error else "no answer"
        return f"Could not be reached ({detail})."
    if probe.negotiated is None:
        if not probe.starttls_offered:
            return "Does not offer STARTTLS: mail to it travels in plaintext."
        return f"Offers STARTTLS but the handshake failed ({probe.error or 'unknown error'})."
    tls = probe.negotiated
    parts = [f"{tls.version} with {tls.cipher}"]
    if host.verification.verified:
        parts.append("certificate verified")
    else:
        why = host.verification.error or "not checked"
        parts.append(f"certificate NOT verified ({why})")
    parts.append(f"DANE: {host.dane.value}")
    return "; ".join(parts) + "."
