"""A running node as the store knows it (docs/cluster.md, "node_id and leases"): its id, the
instance (one run of one process, a random token), where it runs, and its last heartbeat."""

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
