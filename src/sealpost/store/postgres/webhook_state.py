"""The webhooks' delivery state on PostgreSQL (``contracts.webhook_state``): the typed tables
``webhook_state`` and ``webhook_batch_status``, as on SQLite, and the leases on the
webhooks' cursors (``webhook_leases``, schema version 3): one row per webhook naming the
node that sends its batches and until when. A lease is taken, renewed or taken over in one
upsert through the writer, so of two nodes asking at once exactly one gets it."""

from __future__ import annotations

from functools import partial

from sealpost.model.webhook_delivery import DeliveryState
from sealpost.store import codec
from sealpost.store.postgres import ops, sql
from sealpost.store.postgres.database import Database


class PostgresWebhookState(Database):
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
        rows = await self._read(lambda conn: conn.fetch(sql.SELECT_WEBHOOK_STATE_IDS))
        return [row[0] for row in rows]

    async def delete_webhook_state(self, webhook_id: str) -> bool:
        deleted: bool = await self._write(partial(ops.delete_webhook_state, webhook_id=webhook_id))
        return deleted

    async def lease_webhook(self, webhook_id: str, now: float, ttl: float) -> bool:
        op = partial(
            ops.lease_webhook, webhook_id=webhook_id, node=self.node_id, now=now, until=now + ttl
        )
        held: bool = await self._write(op)
        return held

    async def release_webhook(self, webhook_id: str) -> None:
        await self._write(
            lambda conn: conn.execute(sql.RELEASE_WEBHOOK_LEASE, webhook_id, self.node_id)
        )
