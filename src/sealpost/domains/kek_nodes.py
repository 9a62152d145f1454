"""Whether every running node holds the current key-encryption key, before ``sealpost dkim
reseal`` seals the stored DKIM keys with it (docs/cluster.md, "Rotating the key-encryption
key").

A node publishes the ids of its keyring's keys in its node-registry entry (``node_presence``,
renewed with each heartbeat). A live node (heartbeat fresher than ``stale_after``) that
does not list the current id would open no key re-sealed with it, log "DKIM key not
loaded" and send that domain's mail unsigned; one that lists no id at all runs an older
version and cannot tell (``unknown``). Either way the reseal is refused unless forced.
Stale entries (nodes that died without unregistering) are not checked.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sealpost.model.node import NodeRecord
from sealpost.store.contracts.nodes import NodeRegistry


class Holds(enum.Enum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"  # the node published no ids: an older version


@dataclass(frozen=True, slots=True)
class NodeKek:
    node_id: str
    host: str
    holds: Holds
    kek_ids: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "node_id": self.node_id,
            "host": self.host,
            "holds_current": self.holds.value,
            "kek_ids": list(self.kek_ids),
        }


@dataclass(frozen=True, slots=True)
class NodesCheck:
    """The live nodes and whether each holds ``key_id``, the current key."""

    key_id: str
    nodes: tuple[NodeKek, ...]

    @property
    def lacking(self) -> tuple[NodeKek, ...]:
        """The live nodes not known to hold the current key (no, or unknown)."""
        return tuple(n for n in self.nodes if n.holds is not Holds.YES)

    @property
    def ready(self) -> bool:
        """Every live node holds the current key (true too when no node runs)."""
        return not self.lacking


def holds(node: NodeRecord, key_id: str) -> Holds:
    if not node.kek_ids:
        return Holds.UNKNOWN
    return Holds.YES if key_id in node.kek_ids else Holds.NO


async def check_nodes(
    registry: NodeRegistry, key_id: str, *, now: float, stale_after: float
) -> NodesCheck:
    """The live nodes of ``registry`` (heartbeat within ``stale_after`` of ``now``) and
    whether each holds ``key_id``."""
    live = [n for n in await registry.nodes() if n.heartbeat_at > now - stale_after]
    return NodesCheck(
        key_id, tuple(NodeKek(n.node_id, n.host, holds(n, key_id), n.kek_ids) for n in live)
    )
