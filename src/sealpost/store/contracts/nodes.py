"""The contract for the registry of running nodes: each node's dispatcher registers its
``[cluster] node_id`` at start and renews a heartbeat while it runs, so a second node that
starts under an id already in use can refuse to (a lease carries the node id: two live
nodes with one id would release each other's leases, docs/cluster.md).

Times are wall clock. An entry whose heartbeat is older than ``stale_after`` seconds is a
node that died without unregistering; it may be replaced.
"""

from __future__ import annotations

from typing import Protocol

from sealpost.model.node import NodeRecord


class NodeRegistry(Protocol):
    async def register_node(
        self, node: NodeRecord, stale_after: float, replacing: str | None = None
    ) -> NodeRecord | None:
        """Record ``node`` as the running instance of ``node.node_id`` and return None,
        unless another instance holds the id with a heartbeat newer than
        ``node.heartbeat_at - stale_after``: then nothing is written and that instance's
        record is returned. ``replacing``: that instance is known dead; replace it whatever
        its heartbeat (only it: a third instance that got in first still wins)."""

    async def node_heartbeat(
        self, node_id: str, instance: str, now: float, kek_ids: tuple[str, ...] | None = None
    ) -> bool:
        """Renew the heartbeat (and, unless None, the published key-encryption key ids);
        False when the id is no longer this instance's."""

    async def nodes(self) -> list[NodeRecord]:
        """Every registered node, live or stale, by node id."""

    async def unregister_node(self, node_id: str, instance: str) -> None:
        """Forget this instance (at a clean stop); harmless when it was replaced."""
