"""Queue administration on PostgreSQL (``contracts.queue_admin``): bulk actions on
selections, one transaction per batch of ids (each batch ONE set-based UPDATE per table,
``id = ANY($1)``, with its ``admin`` event), domain suspensions in ``queue_suspensions``
(schema version 11), which every node's ``claim_due`` reads, and the ``queue summary``
GROUP BY."""

from __future__ import annotations

from functools import partial

import asyncpg

from sealpost.model.queue_admin import AdminAction, Selection, SummaryRow, Suspension
from sealpost.store import codec, queue_admin_rows
from sealpost.store.postgres import admin_sql, ops
from sealpost.store.postgres.database import Database
from sealpost.store.postgres.sql import Params

_TAKES_NOW = {AdminAction.RELEASE, AdminAction.RETRY, AdminAction.BOUNCE}


async def _batch(
    conn: asyncpg.Connection,
    *,
    action: AdminAction,
    selection: Selection,
    now: float,
    after: str,
    limit: int,
    by: str,
) -> tuple[int, str | None]:
    """One batch: the selected messages of the next window of ``limit`` past ``after``
    (``window_query``), changed by one statement per table, with the batch's ``admin`` event;
    (messages changed, last id of the window or None when there is none)."""
    p = Params()
    where = admin_sql.selection_where(selection, action, now, p, lateral=True)
    states = list(selection.states_for(action))
    window = await conn.fetch(admin_sql.window_query(where, p, states, after, limit), *p.values)
    if not window:
        return 0, None
    ids = [row[0] for row in window if row[1]]
    count = 0
    for statement in admin_sql.BATCH_UPDATES[action] if ids else ():
        args = (ids, now) if "$2" in statement else (ids,)
        count = ops.changed(await conn.execute(statement, *args))
    if count:
        event = queue_admin_rows.batch_event_row(action, selection, count, by, now)
        await ops.insert_events(conn, rows=[event])
    return count, window[-1][0]


async def _set_due(
    conn: asyncpg.Connection, *, select: str, when: float, domain: str, after: str, limit: int
) -> tuple[int, str | None]:
    """Park (``PARK_IDS``) or flush (``FLUSH_IDS``) the domain's mail in one window of
    queued messages: next attempt at ``when``; (changed, last id of the window or None)."""
    window = await conn.fetch(select, when, domain, after, limit)
    if not window:
        return 0, None
    ids = [row[0] for row in window if row[1]]
    changed = ops.changed(await conn.execute(admin_sql.SET_DUE, ids, when)) if ids else 0
    return changed, window[-1][0]


class PostgresQueueAdmin(Database):
    """``QueueAdmin``."""

    async def count_selected(self, action: AdminAction, selection: Selection, now: float) -> int:
        p = Params()
        query = admin_sql.count_query(admin_sql.selection_where(selection, action, now, p))
        return int(await self._read(lambda c: c.fetchval(query, *p.values)))

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
        notify = action in _TAKES_NOW
        while True:
            op = partial(
                _batch, action=action, selection=selection, now=now, after=after, limit=batch, by=by
            )
            count, last = await self._write(op, events=True, notify=notify)
            total += count
            if last is None:
                return total
            after = last

    async def queue_summary(self, now: float) -> list[SummaryRow]:
        rows = await self._read(lambda c: c.fetch(admin_sql.summary_query(), now))
        return [codec.summary_row(tuple(r)) for r in rows]

    async def suspend_domain(self, suspension: Suspension, now: float) -> int:
        row = queue_admin_rows.suspension_row(suspension)
        event = queue_admin_rows.suspend_event_row(suspension, now)

        async def record(conn: asyncpg.Connection) -> None:
            await conn.execute(admin_sql.PRUNE_SUSPENSIONS, now)
            await conn.execute(admin_sql.UPSERT_SUSPENSION, *row)
            await ops.insert_events(conn, rows=[event])

        await self._write(record, events=True)
        return await self._each_batch(
            admin_sql.PARK_IDS, suspension.park_until(now), suspension.domain
        )

    async def resume_domain(self, domain: str, now: float, *, by: str) -> bool:
        event = queue_admin_rows.resume_event_row(domain, now, by)

        async def delete(conn: asyncpg.Connection) -> bool:
            if not ops.changed(await conn.execute(admin_sql.DELETE_SUSPENSION, domain)):
                return False
            await ops.insert_events(conn, rows=[event])
            return True

        existed: bool = await self._write(delete, events=True)
        await self._each_batch(admin_sql.FLUSH_IDS, now, domain, notify=True)
        return existed

    async def _each_batch(
        self, select: str, when: float, domain: str, *, notify: bool = False
    ) -> int:
        total, after = 0, ""
        while True:
            op = partial(_set_due, select=select, when=when, domain=domain, after=after, limit=1000)
            count, last = await self._write(op, notify=notify)
            total += count
            if last is None:
                return total
            after = last

    async def suspensions(self, now: float) -> list[Suspension]:
        rows = await self._read(lambda c: c.fetch(admin_sql.SELECT_SUSPENSIONS, now))
        return [codec.suspension(tuple(r)) for r in rows]
