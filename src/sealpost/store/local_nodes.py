"""The registry of running nodes in the process (``contracts.nodes``), for the single-node
backends (SQLite, memory): one node owns the file, so the registry only has to hold within
the process, a dict by node id (a conflict means two servers in one process)."""

from __future__ import annotations

import dataclasses

from sealpost.model.node import NodeRecord


class LocalNodes:
    """``NodeRegistry``."""

    _running: dict[str, NodeRecord]  # node id -> its running instance

    @property
    def _nodes(self) -> dict[str, NodeRecord]:
        if not hasattr(self, "_running"):
            self._running = {}
        return self._running

    async def register_node(
        self, node: NodeRecord, stale_after: float, replacing: str | None = None
    ) -> NodeRecord | None:
        held = self._nodes.get(node.node_id)
        if (
            held is not None
            and held.instance != node.instance
            and held.instance != replacing
            and held.heartbeat_at > node.heartbeat_at - stale_after
        ):
            return held
        self._nodes[node.node_id] = node
        return None

    async def node_heartbeat(
        self, node_id: str, instance: str, now: float, kek_ids: tuple[str, ...] | None = None
    ) -> bool:
        held = self._nodes.get(node_id)
        if held is None or held.instance != instance:
            return False
        ids = held.kek_ids if kek_ids is None else kek_ids
        self._nodes[node_id] = dataclasses.replace(held, heartbeat_at=now, kek_ids=ids)
        return True

    async def nodes(self) -> list[NodeRecord]:
        return [self._nodes[i] for i in sorted(self._nodes)]

    async def unregister_node(self, node_id: str, instance: str) -> None:
        held = self._nodes.get(node_id)
        if held is not None and held.instance == instance:
            del self._nodes[node_id]
