"""TLS-RPT tallies and sent reports in dicts (``contracts.tls_reports``), with the SQL
backends' semantics: tallies summed by key, one report per (day, policy domain)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sealpost.model.tlsrpt_report import ReportTarget, SentReport, TargetState, TlsTally

_Key = tuple[str, str, str, str, str, str, str]


def _key(t: TlsTally) -> _Key:
    return (
        t.day,
        t.policy_domain,
        t.policy.type.value,
        t.policy.key,
        t.receiving_mx,
        t.receiving_ip,
        t.result_text,
    )


class MemoryTlsReports:
    """``TlsReportStore``."""

    def __init__(self) -> None:
        self._tallies: dict[_Key, TlsTally] = {}
        self._reports: dict[tuple[str, str], SentReport] = {}

    def _add_tallies(self, tallies: Sequence[TlsTally]) -> None:
        for tally in tallies:
            key = _key(tally)
            known = self._tallies.get(key)
            sessions = tally.sessions + (known.sessions if known else 0)
            self._tallies[key] = replace(tally, sessions=sessions)

    async def add_tls_tallies(self, tallies: Sequence[TlsTally]) -> None:
        self._add_tallies(tallies)

    async def tls_tallies(self, day: str) -> list[TlsTally]:
        return [self._tallies[k] for k in sorted(self._tallies) if k[0] == day]

    async def claim_tls_report(self, report: SentReport) -> bool:
        key = (report.day, report.policy_domain)
        taken = {r.report_id for r in self._reports.values()}
        if key in self._reports or report.report_id in taken:
            return False
        self._reports[key] = report
        return True

    async def set_tls_report_target(
        self, report_id: str, uri: str, state: TargetState, detail: str | None, now: float
    ) -> None:
        for key, report in self._reports.items():
            if report.report_id != report_id:
                continue
            targets = tuple(
                ReportTarget(uri, state, detail, now) if t.uri == uri else t for t in report.targets
            )
            self._reports[key] = replace(report, targets=targets)

    async def tls_reports(self, *, day: str | None = None, limit: int = 100) -> list[SentReport]:
        found = [r for r in self._reports.values() if day is None or r.day == day]
        found.sort(key=lambda r: r.policy_domain)
        found.sort(key=lambda r: r.day, reverse=True)
        return [
            replace(r, targets=tuple(sorted(r.targets, key=lambda t: t.uri)))
            for r in found[: max(limit, 0)]
        ]

    async def forget_tls_before(self, day: str) -> int:
        tallies = [k for k in self._tallies if k[0] < day]
        reports = [k for k in self._reports if k[0] < day]
        targets = sum(len(self._reports[k].targets) for k in reports)
        for k in tallies:
            del self._tallies[k]
        for r in reports:
            del self._reports[r]
        return len(tallies) + len(reports) + targets
