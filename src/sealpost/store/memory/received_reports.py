"""Received TLS-RPT reports in memory (``contracts.received_reports``): a dict by our id and one
by ``(organization, report_id)``; the filters are those the SQL backends apply."""

from __future__ import annotations

from sealpost.model.received_report import ReceivedReport, ReportQuery, StoredReport


def matches(report: ReceivedReport, query: ReportQuery) -> bool:
    """Whether ``report`` passes every filter of ``query`` but the cursor and limit."""
    if query.domain is not None and query.domain not in report.policy_domains:
        return False
    if query.scope is not None and not set(query.scope) & set(report.policy_domains):
        return False
    if query.since is not None and report.end < query.since:
        return False
    return query.until is None or report.start < query.until


class MemoryReceivedReports:
    """``ReceivedTlsReports``."""

    def __init__(self) -> None:
        self._reports: dict[str, ReceivedReport] = {}
        self._by_sender: dict[tuple[str, str], str] = {}

    async def add_received_report(self, report: ReceivedReport) -> StoredReport:
        key = (report.organization, report.report_id)
        existing = self._by_sender.get(key)
        if existing is not None:
            return StoredReport(self._reports[existing], False)
        self._reports[report.id] = report
        self._by_sender[key] = report.id
        return StoredReport(report, True)

    async def get_received_report(self, report_id: str) -> ReceivedReport | None:
        return self._reports.get(report_id)

    async def list_received_reports(self, query: ReportQuery) -> list[ReceivedReport]:
        found: list[ReceivedReport] = []
        for report_id in sorted(self._reports):
            if query.after is not None and report_id <= query.after:
                continue
            report = self._reports[report_id]
            if matches(report, query):
                found.append(report)
                if len(found) >= query.limit:
                    break
        return found
