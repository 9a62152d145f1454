"""TLS-RPT tallies and sent reports on PostgreSQL (``contracts.tls_reports``; schema version
7), shared by every node. Every node adds its attempts' tallies; the daily run on each node
tries to claim each (day, policy domain) with ``INSERT ... ON CONFLICT DO NOTHING``, and only
the node whose insert went in sends that report.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from sealpost.model.tlsrpt_report import SentReport, TargetState, TlsTally
from sealpost.store import tls_report_rows as rows
from sealpost.store.postgres import ops, sql
from sealpost.store.postgres.database import Database


class PostgresTlsReports(Database):
    """``TlsReportStore``."""

    async def add_tls_tallies(self, tallies: Sequence[TlsTally]) -> None:
        params = rows.tally_rows(tallies)
        if params:
            await self._write(lambda conn: conn.executemany(sql.UPSERT_TLS_TALLY, params))

    async def tls_tallies(self, day: str) -> list[TlsTally]:
        found = await self._read(lambda conn: conn.fetch(sql.SELECT_TLS_TALLIES, day))
        return [rows.tally(tuple(r)) for r in found]

    async def claim_tls_report(self, report: SentReport) -> bool:
        row, targets = rows.report_row(report), rows.target_rows(report)

        async def claim(conn: asyncpg.Connection) -> bool:
            if not ops.changed(await conn.execute(sql.INSERT_TLS_REPORT, *row)):
                return False
            if targets:
                await conn.executemany(sql.INSERT_TLS_TARGET, targets)
            return True

        claimed: bool = await self._write(claim)
        return claimed

    async def set_tls_report_target(
        self, report_id: str, uri: str, state: TargetState, detail: str | None, now: float
    ) -> None:
        params = (report_id, uri, state.value, detail, now)
        await self._write(lambda conn: conn.execute(sql.UPDATE_TLS_TARGET, *params))

    async def tls_reports(self, *, day: str | None = None, limit: int = 100) -> list[SentReport]:
        async def select(conn: asyncpg.Connection) -> list[SentReport]:
            if day is None:
                found = await conn.fetch(sql.SELECT_TLS_REPORTS, max(limit, 0))
            else:
                found = await conn.fetch(sql.SELECT_TLS_REPORTS_OF_DAY, day, max(limit, 0))
            return [
                rows.sent_report(
                    tuple(r), [tuple(t) for t in await conn.fetch(sql.SELECT_TLS_TARGETS, r[0])]
                )
                for r in found
            ]

        return await self._read(select)

    async def forget_tls_before(self, day: str) -> int:
        async def forget(conn: asyncpg.Connection) -> int:
            gone = ops.changed(await conn.execute(sql.DELETE_TLS_TALLIES_BEFORE, day))
            gone += ops.changed(await conn.execute(sql.DELETE_TLS_TARGETS_BEFORE, day))
            return gone + ops.changed(await conn.execute(sql.DELETE_TLS_REPORTS_BEFORE, day))

        forgotten: int = await self._write(forget)
        return forgotten
