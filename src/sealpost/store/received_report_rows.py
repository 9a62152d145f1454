"""Received TLS-RPT reports as rows of the ``tlsrpt_received`` table, the same on SQLite and
PostgreSQL (``sealpost store copy`` moves them column for column).

``policy_domains`` is one text column of space-separated names (domain names hold no
spaces): a report names one policy domain in practice and a handful at most, and the
listing filters match a whole word of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sealpost.model.received_report import ReceivedReport, ReportSource


def report_row(report: ReceivedReport) -> tuple[Any, ...]:
    """The row's values, in ``RECEIVED_REPORT_COLUMNS`` order."""
    return (
        report.id,
        report.organization,
        report.report_id,
        report.start,
        report.end,
        " ".join(report.policy_domains),
        report.successful,
        report.failed,
        report.contact_info,
        report.received_at,
        report.source.value,
        report.message_id,
        report.report_json,
    )


def report_of(row: Sequence[Any]) -> ReceivedReport:
    """The report a row (in ``RECEIVED_REPORT_COLUMNS`` order) holds."""
    return ReceivedReport(
        id=row[0],
        organization=row[1],
        report_id=row[2],
        start=float(row[3]),
        end=float(row[4]),
        policy_domains=tuple(row[5].split()),
        successful=int(row[6]),
        failed=int(row[7]),
        contact_info=row[8],
        received_at=float(row[9]),
        source=ReportSource(row[10]),
        message_id=row[11],
        report_json=row[12],
    )
