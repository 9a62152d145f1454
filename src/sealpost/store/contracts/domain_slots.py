"""The contract for per-domain session slots: ``[delivery] per_domain_concurrency`` held by
the store, so the limit holds for every dispatcher on the store together, not per node.

A dispatcher takes one of a domain's ``limit`` slots before it opens (or reuses) a session
to the domain and frees it when the attempt ends. A slot is a lease: one whose holder died
without freeing it is free again after ``ttl`` seconds, and a node that starts gives back the
slots its previous run held (``DeliveryQueue.release_all_leases``). On a single-node backend
(SQLite, memory) the slots live in the process, which is the only dispatcher.
"""

from __future__ import annotations

from typing import Protocol

from sealpost.model.queue import DomainSlot


class DomainSlots(Protocol):
    async def take_domain_slot(
        self, domain: str, limit: int, now: float, ttl: float
    ) -> DomainSlot | None:
        """One of ``domain``'s ``limit`` slots, leased to this node until ``now + ttl``, or
        None while all of them are held by live leases (ask again later)."""

    async def free_domain_slot(self, slot: DomainSlot) -> None:
        """Give the slot back; harmless when it was already taken over or freed."""
