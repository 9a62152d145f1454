"""One day's TLS reports: build them from the tallies, claim each, deliver to every rua.

For each policy domain with tallies on the UTC day (``aggregate``), the domain's
``_smtp._tls`` record is read (``rua``); a domain without a usable one gets no report. The
report is built (RFC 8460 section 4), gzipped, and claimed in the store: at most one report
per policy domain and day, whichever node or command claims it first (RFC 8460 section 3
period; on PostgreSQL two nodes never both send). Only the claimant delivers it:

- ``mailto:`` -> a ``multipart/report`` message (``report_mail``) queued through the
  submission door as listener ``tlsrpt`` (``model.tlsrpt_report.REPORT_LISTENER``), so it
  is DKIM-signed like all mail we originate, is delivered by our own queue with retries,
  and is never counted in a TLS report itself (loop safety);
- ``https:`` -> POSTed at once (``post``).

What became of each target is recorded (``queued`` with the message id, ``posted`` with the
HTTP status, ``failed`` with the reason) for ``sealpost tlsrpt list``. A failed POST is not
retried: the next day's report follows.
"""

from __future__ import annotations

import gzip
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Protocol

from sealpost.dns.resolver import Resolver
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.tlsrpt_report import (
    REPORT_LISTENER,
    PolicyResult,
    ReportTarget,
    SentReport,
    TargetState,
    TlsReport,
)
from sealpost.store.contracts.tls_reports import TlsReportStore
from sealpost.tlsrpt import aggregate, rua
from sealpost.tlsrpt.post import PostResult
from sealpost.tlsrpt.report_mail import report_message

log = logging.getLogger("sealpost.tlsrpt")

MailQueue = Callable[[InboundMessage], Awaitable[str]]  # queues, returns the message id


class Poster(Protocol):
    async def post(self, url: str, body: bytes) -> PostResult: ...


@dataclass(frozen=True, slots=True)
class ReporterSettings:
    organization_name: str
    contact_info: str
    sender: str  # From: and envelope sender of mailed reports
    submitter: str  # our domain in file names and headers (the [server] hostname)
    max_report_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DomainOutcome:
    """What a run did for one policy domain."""

    domain: str
    report: SentReport | None = None  # None: nothing sent (``skipped`` says why)
    skipped: str | None = None


class TlsReporter:
    def __init__(
        self,
        store: TlsReportStore,
        resolver: Resolver,
        queue_mail: MailQueue,
        poster: Poster,
        settings: ReporterSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._resolver = resolver
        self._queue_mail = queue_mail
        self._poster = poster
        self._settings = settings
        self._clock = clock

    async def send_day(self, day: date) -> list[DomainOutcome]:
        """Build, claim and deliver the reports of the UTC ``day``; one outcome per domain."""
        tallies = await self._store.tls_tallies(day.isoformat())
        outcomes = []
        for domain, policies in aggregate.by_domain(tallies).items():
            outcomes.append(await self._domain(day, domain, policies))
        return outcomes

    async def _domain(
        self, day: date, domain: str, policies: tuple[PolicyResult, ...]
    ) -> DomainOutcome:
        targets = await rua.lookup(self._resolver, domain)
        if isinstance(targets, rua.NoRua):
            return DomainOutcome(domain, skipped=targets.reason)
        unique = secrets.token_hex(8)
        s = self._settings
        report = TlsReport(
            organization_name=s.organization_name,
            contact_info=s.contact_info,
            report_id=f"{day.isoformat()}.{unique}@{s.submitter}",
            day=day,
            policy_domain=domain,
            policies=policies,
        )
        now = self._clock()
        sent = SentReport(
            report_id=report.report_id,
            day=day.isoformat(),
            policy_domain=domain,
            created_at=now,
            report=report.to_json(),
            targets=tuple(ReportTarget(t.uri, updated_at=now) for t in targets),
        )
        if not await self._store.claim_tls_report(sent):
            return DomainOutcome(domain, skipped=f"a report for {day.isoformat()} exists")
        body = gzip.compress(report.encoded(), mtime=0)
        done = []
        for target in targets:
            state, detail = await self._deliver(report, body, target, unique)
            now = self._clock()
            await self._store.set_tls_report_target(
                report.report_id, target.uri, state, detail, now
            )
            done.append(ReportTarget(target.uri, state, detail, now))
            log.info(
                "TLS report %s for %s -> %s: %s %s",
                report.report_id,
                domain,
                target.uri,
                state,
                detail or "",
            )
        return DomainOutcome(domain, replace(sent, targets=tuple(done)))

    async def _deliver(
        self, report: TlsReport, body: bytes, target: rua.Rua, unique: str
    ) -> tuple[TargetState, str | None]:
        if len(body) > self._settings.max_report_bytes:
            limit = self._settings.max_report_bytes
            return TargetState.FAILED, f"report is {len(body)} bytes, over {limit}"
        if target.scheme is rua.Scheme.HTTPS:
            result = await self._poster.post(target.target, body)
            return (TargetState.POSTED if result.ok else TargetState.FAILED), result.detail
        try:
            message_id = await self._queue_mail(self._message(report, body, target, unique))
        except Exception as exc:  # the store refused it: recorded, the other targets go on
            log.exception("cannot queue the TLS report for %s", target.target)
            return TargetState.FAILED, f"not queued: {exc}"[:300]
        return TargetState.QUEUED, message_id

    def _message(
        self, report: TlsReport, body: bytes, target: rua.Rua, unique: str
    ) -> InboundMessage:
        s = self._settings
        data = report_message(
            report,
            body,
            sender=s.sender,
            recipient=target.target,
            submitter=s.submitter,
            unique_id=unique,
            now=self._clock(),
        )
        session = SessionInfo(
            listener=REPORT_LISTENER,
            client_ip="127.0.0.1",
            client_port=0,
            helo=s.submitter,
            local_hostname=s.submitter,
        )
        return InboundMessage(Envelope(s.sender, (target.target,)), session, data)
