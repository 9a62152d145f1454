"""A running node as the store knows it (docs/cluster.md, "node_id and leases"): its id, the
instance (one run of one process, a random token), where it runs, its last heartbeat, and
the ids of the key-encryption keys its keyring holds (docs/cluster.md, "Rotating the
key-encryption key"): empty when the node did not publish them (an older version)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NodeRecord:
    node_id: str
    instance: str  # a random token per run: tells this run from an earlier one of the id
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    kek_ids: tuple[str, ...] = ()  # current first, then previous; () = not published
