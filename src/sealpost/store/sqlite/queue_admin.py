"""Queue administration on SQLite (``contracts.queue_admin``): bulk actions on selections,
one transaction per batch of ids (each batch ONE set-based UPDATE per table, its ids as a
JSON array, and its ``admin`` event), domain suspensions in ``queue_suspensions`` (schema
version 13) and the ``queue summary`` GROUP BY."""

from __future__ import annotations

import json
import sqlite3
from functools import partial

from sealpost.model.queue_admin import AdminAction, Selection, SummaryRow, Suspension
from sealpost.store import codec, queue_admin_rows
from sealpost.store.sqlite import admin_sql, ops
from sealpost.store.sqlite.database import Database


def _batch(
    conn: sqlite3.Connection,
    *,
    action: AdminAction,
    selection: Selection,
    now: float,
    after: str,
    limit: int,
    by: str,
) -> tuple[int, str | None]:
    """One batch: the next ``limit`` selected ids past ``after``, changed by one statement
    per table, with the batch's ``admin`` event; (messages changed, last id or None)."""
    where, params = admin_sql.selection_where(selection, action, now)
    ids = [r[0] for r in conn.execute(admin_sql.batch_ids_query(where), [*params, after, limit])]
    if not ids:
        return 0, None
    id_list = json.dumps(ids)
    count = 0
    for statement in admin_sql.BATCH_UPDATES[action]:
        takes_now = action in admin_sql.TAKES_NOW and statement.startswith("UPDATE messages")
        count = conn.execute(statement, (now, id_list) if takes_now else (id_list,)).rowcount
    if count:
        event = queue_admin_rows.batch_event_row(action, selection, count, by, now)
        ops.insert_events(conn, rows=(event,))
    return count, ids[-1]


def _set_due(
    conn: sqlite3.Connection, *, select: str, when: float, domain: str, after: str, limit: int
) -> tuple[int, str | None]:
    """Park (``PARK_IDS``) or flush (``FLUSH_IDS``) the next ``limit`` of the domain's
    queued messages past ``after``: next attempt at ``when``; (changed, last id or None)."""
    ids = [r[0] for r in conn.execute(select, (when, domain, after, limit))]
    if not ids:
        return 0, None
    return conn.execute(admin_sql.SET_DUE, (when, json.dumps(ids))).rowcount, ids[-1]


class SqliteQueueAdmin(Database):
    """``QueueAdmin``."""

    async def count_selected(self, action: AdminAction, selection: Selection, now: float) -> int:
        where, params = admin_sql.selection_where(selection, action, now)
        query = admin_sql.count_query(where)
        row = await self._read(lambda c: c.execute(query, params).fetchone())
        return int(row[0])

    async def apply_selection(
        self,
        action: AdminAction,
        selection: Selection,
        now: float,
        *,
        by: str,
        batch: int = 1000,
    ) -> int:
        total, after = 0, ""
        while True:
            op = partial(
                _batch, action=action, selection=selection, now=now, after=after, limit=batch, by=by
            )
            count, last = await self._write(op)
            total += count
            if last is None:
                break
            after = last
        if total and action is not AdminAction.HOLD and action is not AdminAction.CANCEL:
            self._mail_queued.notify()
        return total

    async def queue_summary(self, now: float) -> list[SummaryRow]:
        query = admin_sql.summary_query()
        rows = await self._read(lambda c: c.execute(query, (now,)).fetchall())
        return [codec.summary_row(r) for r in rows]

    async def suspend_domain(self, suspension: Suspension, now: float) -> int:
        row = queue_admin_rows.suspension_row(suspension)
        event = queue_admin_rows.suspend_event_row(suspension, now)

        def record(conn: sqlite3.Connection) -> None:
            conn.execute(admin_sql.PRUNE_SUSPENSIONS, (now,))
            conn.execute(admin_sql.UPSERT_SUSPENSION, row)
            ops.insert_events(conn, rows=(event,))

        await self._write(record)
        return await self._each_batch(
            admin_sql.PARK_IDS, suspension.park_until(now), suspension.domain
        )

    async def resume_domain(self, domain: str, now: float, *, by: str) -> bool:
        event = queue_admin_rows.resume_event_row(domain, now, by)

        def delete(conn: sqlite3.Connection) -> bool:
            if conn.execute(admin_sql.DELETE_SUSPENSION, (domain,)).rowcount == 0:
                return False
            ops.insert_events(conn, rows=(event,))
            return True

        existed: bool = await self._write(delete)
        if await self._each_batch(admin_sql.FLUSH_IDS, now, domain):
            self._mail_queued.notify()
        return existed

    async def _each_batch(self, select: str, when: float, domain: str) -> int:
        total, after = 0, ""
        while True:
            op = partial(_set_due, select=select, when=when, domain=domain, after=after, limit=1000)
            count, last = await self._write(op)
            total += count
            if last is None:
                return total
            after = last

    async def suspensions(self, now: float) -> list[Suspension]:
        rows = await self._read(
            lambda c: c.execute(admin_sql.SELECT_SUSPENSIONS, (now,)).fetchall()
        )
        return [codec.suspension(r) for r in rows]
