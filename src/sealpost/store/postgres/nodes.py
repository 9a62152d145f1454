"""The registry of running nodes on PostgreSQL (``contracts.nodes``): the table ``nodes``
(schema version 6), one row per node id. Registering is one insert-or-take-over statement
through the writer: two nodes starting at once under one id serialise on the row, and the
second finds the first's fresh heartbeat and is refused."""

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
                node.heartbeat_at - stale_after,
                replacing,
            )
            if won is not None:
                return None
            row = await conn.fetchrow(sql.SELECT_NODE, node.node_id)
            return NodeRecord(*tuple(row))

        held: NodeRecord | None = await self._write(register)
        return held

    async def node_heartbeat(self, node_id: str, instance: str, now: float) -> bool:
        async def beat(conn: asyncpg.Connection) -> bool:
            return ops.changed(await conn.execute(sql.NODE_HEARTBEAT, node_id, instance, now)) > 0

        renewed: bool = await self._write(beat)
        return renewed

    async def unregister_node(self, node_id: str, instance: str) -> None:
        await self._write(lambda conn: conn.execute(sql.UNREGISTER_NODE, node_id, instance))
