"""The webhooks' delivery state on SQLite (``contracts.webhook_state``): the typed tables
``webhook_state`` and ``webhook_batch_status`` (schema version 6).

The pattern for every record that gets a table of its own: a value in ``model/``, a contract
in ``store/contracts/``, a migration in ``schema`` (moving old rows), statements in ``sql``,
row conversions in ``codec``, multi-statement writes in ``ops``, and a class here joined
into ``SqliteStore``; the memory backend gets the same, and ``tests/conformance`` one file.

The lease on a webhook's cursor is trivially this process's: one node owns the SQLite file,
and only its first worker runs the webhook worker.
"""

from __future__ import annotations

import sqlite3
from functools import partial

from sealpost.model.webhook_delivery import DeliveryState
from sealpost.store import codec
from sealpost.store.sqlite import ops, sql
from sealpost.store.sqlite.database import Database


class SqliteWebhookState(Database):
    """``WebhookStateStore``."""

    async def get_webhook_state(self, webhook_id: str) -> DeliveryState | None:
        rows = await self._read(partial(ops.select_webhook_state, webhook_id=webhook_id))
        return None if rows is None else codec.delivery_state(*rows)

    async def put_webhook_state(self, state: DeliveryState, now: float) -> None:
        op = partial(
            ops.put_webhook_state,
            state=codec.webhook_state_row(state, now),
            statuses=codec.batch_status_rows(state),
        )
        await self._write(op)

    async def webhook_state_ids(self) -> list[str]:
        def ids(conn: sqlite3.Connection) -> list[str]:
            return [row[0] for row in conn.execute(sql.SELECT_WEBHOOK_STATE_IDS)]

        found: list[str] = await self._read(ids)
        return found

    async def delete_webhook_state(self, webhook_id: str) -> bool:
        deleted: bool = await self._write(partial(ops.delete_webhook_state, webhook_id=webhook_id))
        return deleted

    async def lease_webhook(self, webhook_id: str, now: float, ttl: float) -> bool:
        return True  # one node owns the file: nobody else can hold it

    async def release_webhook(self, webhook_id: str) -> None:
        return None
