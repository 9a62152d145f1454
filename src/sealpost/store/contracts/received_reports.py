"""The contract for TLS-RPT reports we received (``model.received_report``; RFC 8460 section 4).

Reports are unique on ``(organization, report_id)``: adding one whose pair is stored already
changes nothing and returns the stored one with ``created=False``, so a sender's resend (or
two nodes reading the same held message) is idempotent. Listing is by our id (sortable by
arrival) past a cursor, so pages are stable while reports keep arriving.
"""

from __future__ import annotations

from typing import Protocol

from sealpost.model.received_report import ReceivedReport, ReportQuery, StoredReport


class ReceivedTlsReports(Protocol):
    async def add_received_report(self, report: ReceivedReport) -> StoredReport:
        """Durably store ``report`` unless its ``(organization, report_id)`` is stored; the
        report now stored under that pair, and whether this call stored it."""

    async def get_received_report(self, report_id: str) -> ReceivedReport | None:
        """The report with our id ``report_id``, or None."""

    async def list_received_reports(self, query: ReportQuery) -> list[ReceivedReport]:
        """Reports matching every filter of ``query``, by our id, past ``query.after``, at
        most ``query.limit``."""
