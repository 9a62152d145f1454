"""The registry of running nodes on PostgreSQL (``contracts.nodes``): the table ``nodes``
(schema version 6; ``kek_ids`` since 17), one row per node id. Registering is one
insert-or-take-over statement through the writer: two nodes starting at once under one id
serialise on the row, and the second finds the first's fresh heartbeat and is refused."""

from __future__ import annotations

import asyncpg

from sealpost.model.node import NodeRecord
from sealpost.store.postgres import ops, sql
from sealpost.store.postgres.database import Database


class PostgresNodes(Database):
    """``NodeRegistry``."""

    async def register_node(
        self, node: NodeRecord, stale_after: float, replacing: str | None = None
    ) -> NodeRecord | None:
        async def register(conn: asyncpg.Connection) -> NodeRecord | None:
            won = await conn.fetchval(
                sql.REGISTER_NODE,
                node.node_id,
                node.instance,
                node.host,
                node.pid,
                node.started_at,
                node.heartbeat_at,
                ",".join(node.kek_ids),
                node.heartbeat_at - stale_after,
                replacing,
            )
            if won is not None:
                return None
            return _record(await conn.fetchrow(sql.SELECT_NODE, node.node_id))

        held: NodeRecord | None = await self._write(register)
        return held

    async def node_heartbeat(
        self, node_id: str, instance: str, now: float, kek_ids: tuple[str, ...] | None = None
    ) -> bool:
        ids = None if kek_ids is None else ",".join(kek_ids)

        async def beat(conn: asyncpg.Connection) -> bool:
            status = await conn.execute(sql.NODE_HEARTBEAT, node_id, instance, now, ids)
            return ops.changed(status) > 0

        renewed: bool = await self._write(beat)
        return renewed

    async def unregister_node(self, node_id: str, instance: str) -> None:
        await self._write(lambda conn: conn.execute(sql.UNREGISTER_NODE, node_id, instance))

    async def nodes(self) -> list[NodeRecord]:
        rows = await self._read(lambda conn: conn.fetch(sql.SELECT_NODES))
        return [_record(row) for row in rows]


def _record(row: asyncpg.Record) -> NodeRecord:
    *head, kek_ids = tuple(row)
    return NodeRecord(*head, tuple(i for i in kek_ids.split(",") if i))
