"""Per-domain session slots in the process (``contracts.domain_slots``), for the backends
whose one process is the only dispatcher (SQLite, memory): a dict of each domain's held
slots and their expiry. PostgreSQL keeps them in the database instead (``postgres``)."""

from __future__ import annotations

import uuid

from sealpost.model.queue import DomainSlot


class LocalDomainSlots:
    """``DomainSlots`` in the process (a fresh process holds none)."""

    _held: dict[str, dict[int, tuple[str, float]]]  # domain -> index -> (token, until)

    def _slots(self, domain: str) -> dict[int, tuple[str, float]]:
        if not hasattr(self, "_held"):
            self._held = {}
        return self._held.setdefault(domain, {})

    async def take_domain_slot(
        self, domain: str, limit: int, now: float, ttl: float
    ) -> DomainSlot | None:
        held = self._slots(domain)
        for index in range(limit):
            current = held.get(index)
            if current is None or current[1] <= now:
                token = uuid.uuid4().hex
                held[index] = (token, now + ttl)
                return DomainSlot(domain, index, token)
        return None

    async def free_domain_slot(self, slot: DomainSlot) -> None:
        held = self._slots(slot.domain)
        current = held.get(slot.index)
        if current is not None and current[0] == slot.token:
            del held[slot.index]
            if not held:  # no entry kept for every domain ever tried
                del self._held[slot.domain]
