"""Received TLS-RPT reports on SQLite (``contracts.received_reports``): the typed table
``tlsrpt_received`` (schema version 10), unique on ``(organization, report_id)``."""

from __future__ import annotations

import sqlite3
from typing import Any

from sealpost.model.received_report import ReceivedReport, ReportQuery, StoredReport
from sealpost.store.received_report_rows import report_of, report_row
from sealpost.store.sqlite import sql
from sealpost.store.sqlite.database import Database


def _listing(query: ReportQuery) -> tuple[str, list[Any]]:
    text, params = sql.SELECT_RECEIVED_REPORTS, []
    if query.after is not None:
        text, params = text + " AND id > ?", [*params, query.after]
    if query.domain is not None:
        text, params = text + f" AND {sql.RECEIVED_REPORT_HAS_DOMAIN}", [*params, query.domain]
    if query.scope is not None:
        if not query.scope:
            text += " AND 0 = 1"
        else:
            either = " OR ".join(sql.RECEIVED_REPORT_HAS_DOMAIN for _ in query.scope)
            text, params = text + f" AND ({either})", [*params, *query.scope]
    if query.since is not None:
        text, params = text + " AND end_time >= ?", [*params, query.since]
    if query.until is not None:
        text, params = text + " AND start_time < ?", [*params, query.until]
    return text + " ORDER BY id LIMIT ?", [*params, query.limit]


class SqliteReceivedReports(Database):
    """``ReceivedTlsReports``."""

    async def add_received_report(self, report: ReceivedReport) -> StoredReport:
        def add(conn: sqlite3.Connection) -> StoredReport:
            created = conn.execute(sql.INSERT_RECEIVED_REPORT, report_row(report)).rowcount == 1
            key = (report.organization, report.report_id)
            row = conn.execute(sql.SELECT_RECEIVED_REPORT_BY_SENDER, key).fetchone()
            return StoredReport(report_of(row), created)

        return await self._write(add)

    async def get_received_report(self, report_id: str) -> ReceivedReport | None:
        row = await self._read(
            lambda c: c.execute(sql.SELECT_RECEIVED_REPORT, (report_id,)).fetchone()
        )
        return None if row is None else report_of(row)

    async def list_received_reports(self, query: ReportQuery) -> list[ReceivedReport]:
        text, params = _listing(query)
        rows = await self._read(lambda c: c.execute(text, params).fetchall())
        return [report_of(row) for row in rows]
