"""TLS-RPT tallies and sent reports on SQLite (``contracts.tls_reports``; schema version 9).

A report is claimed with ``INSERT ... ON CONFLICT DO NOTHING`` on the unique (day, policy
domain): a second claim for the same pair stores nothing and answers False.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from sealpost.model.tlsrpt_report import SentReport, TargetState, TlsTally
from sealpost.store import tls_report_rows as rows
from sealpost.store.sqlite import sql
from sealpost.store.sqlite.database import Database


class SqliteTlsReports(Database):
    """``TlsReportStore``."""

    async def add_tls_tallies(self, tallies: Sequence[TlsTally]) -> None:
        params = rows.tally_rows(tallies)
        if params:
            await self._write(lambda c: c.executemany(sql.UPSERT_TLS_TALLY, params))

    async def tls_tallies(self, day: str) -> list[TlsTally]:
        found = await self._read(lambda c: c.execute(sql.SELECT_TLS_TALLIES, (day,)).fetchall())
        return [rows.tally(r) for r in found]

    async def claim_tls_report(self, report: SentReport) -> bool:
        row, targets = rows.report_row(report), rows.target_rows(report)

        def claim(conn: sqlite3.Connection) -> bool:
            if conn.execute(sql.INSERT_TLS_REPORT, row).rowcount == 0:
                return False
            conn.executemany(sql.INSERT_TLS_TARGET, targets)
            return True

        claimed: bool = await self._write(claim)
        return claimed

    async def set_tls_report_target(
        self, report_id: str, uri: str, state: TargetState, detail: str | None, now: float
    ) -> None:
        params = (report_id, uri, state.value, detail, now)
        await self._write(lambda c: c.execute(sql.UPDATE_TLS_TARGET, params))

    async def tls_reports(self, *, day: str | None = None, limit: int = 100) -> list[SentReport]:
        def select(conn: sqlite3.Connection) -> list[SentReport]:
            if day is None:
                found = conn.execute(sql.SELECT_TLS_REPORTS, (max(limit, 0),)).fetchall()
            else:
                found = conn.execute(sql.SELECT_TLS_REPORTS_OF_DAY, (day, max(limit, 0)))
            return [
                rows.sent_report(r, conn.execute(sql.SELECT_TLS_TARGETS, (r[0],)).fetchall())
                for r in list(found)
            ]

        return await self._read(select)

    async def forget_tls_before(self, day: str) -> int:
        def forget(conn: sqlite3.Connection) -> int:
            gone = conn.execute(sql.DELETE_TLS_TALLIES_BEFORE, (day,)).rowcount
            gone += conn.execute(sql.DELETE_TLS_TARGETS_BEFORE, (day,)).rowcount
            return gone + conn.execute(sql.DELETE_TLS_REPORTS_BEFORE, (day,)).rowcount

        forgotten: int = await self._write(forget)
        return forgotten
