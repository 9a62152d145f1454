"""Received TLS-RPT reports on PostgreSQL (``contracts.received_reports``): the typed table
``tlsrpt_received`` (schema version 8), unique on ``(organization, report_id)``. Two nodes
reading the same held report race on that constraint: ``ON CONFLICT DO NOTHING`` makes the
second one find the first one's row, never an error."""

from __future__ import annotations

from typing import Any

import asyncpg

from sealpost.model.received_report import ReceivedReport, ReportQuery, StoredReport
from sealpost.store.postgres import sql
from sealpost.store.postgres.database import Database
from sealpost.store.received_report_rows import report_of, report_row


def _listing(query: ReportQuery) -> tuple[str, list[Any]]:
    text, params = sql.SELECT_RECEIVED_REPORTS, []

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    if query.after is not None:
        text += f" AND id > {param(query.after)}"
    if query.domain is not None:
        params.append(query.domain)
        text += " AND " + sql.RECEIVED_REPORT_HAS_DOMAIN.format(n=len(params))
    if query.scope is not None:
        either = []
        for domain in query.scope:
            params.append(domain)
            either.append(sql.RECEIVED_REPORT_HAS_DOMAIN.format(n=len(params)))
        text += f" AND ({' OR '.join(either) or 'false'})"
    if query.since is not None:
        text += f" AND end_time >= {param(query.since)}"
    if query.until is not None:
        text += f" AND start_time < {param(query.until)}"
    return text + f" ORDER BY id LIMIT {param(query.limit)}", params


class PostgresReceivedReports(Database):
    """``ReceivedTlsReports``."""

    async def add_received_report(self, report: ReceivedReport) -> StoredReport:
        async def add(conn: asyncpg.Connection) -> StoredReport:
            status = await conn.execute(sql.INSERT_RECEIVED_REPORT, *report_row(report))
            key = (report.organization, report.report_id)
            row = await conn.fetchrow(sql.SELECT_RECEIVED_REPORT_BY_SENDER, *key)
            return StoredReport(report_of(row), status.endswith(" 1"))

        result: StoredReport = await self._write(add)
        return result

    async def get_received_report(self, report_id: str) -> ReceivedReport | None:
        row = await self._read(lambda conn: conn.fetchrow(sql.SELECT_RECEIVED_REPORT, report_id))
        return None if row is None else report_of(row)

    async def list_received_reports(self, query: ReportQuery) -> list[ReceivedReport]:
        text, params = _listing(query)
        rows = await self._read(lambda conn: conn.fetch(text, *params))
        return [report_of(row) for row in rows]
