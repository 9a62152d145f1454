"""Queue administration in memory (``contracts.queue_admin``): same semantics as
``store.sqlite.queue_admin``, over ``memory.queue``'s entries; each batch is changed without
yielding, as one transaction would be."""

from __future__ import annotations

from dataclasses import replace

from sealpost.model.queue_admin import (
    AGE_BUCKETS,
    AdminAction,
    Selection,
    SummaryRow,
    Suspension,
    admin_event,
    resume_event,
    suspend_event,
)
from sealpost.store.attempts import cancelled
from sealpost.store.memory.queue import MemoryQueue, _Entry


def _domain(address: str) -> str:
    return address.partition("@")[2].lower()


def _queued_domains(entry: _Entry) -> set[str]:
    return {_domain(r.address) for r in entry.stored.recipients if r.status == "queued"}


def _selected(entry: _Entry, action: AdminAction, selection: Selection, now: float) -> bool:
    stored = entry.stored
    if stored.state not in selection.states_for(action):
        return False
    if selection.state == "deferred" and stored.attempts == 0:
        return False
    if action is AdminAction.RELEASE and entry.admin_mark != "hold":
        return False
    if selection.message_id is not None and stored.id != selection.message_id:
        return False
    if selection.sender is not None and stored.message.envelope.mail_from.lower() != (
        selection.sender
    ):
        return False
    if selection.campaign is not None and (
        stored.message.annotations.get("campaign_id") != selection.campaign
    ):
        return False
    if selection.older_than is not None and stored.created_at > now - selection.older_than:
        return False
    if selection.younger_than is not None and stored.created_at < now - selection.younger_than:
        return False
    return selection.domain is None or selection.domain in _queued_domains(entry)


def _bucket(age: float) -> int:
    for i, minutes in enumerate(AGE_BUCKETS):
        if age < minutes * 60:
            return i
    return len(AGE_BUCKETS)


class MemoryQueueAdmin(MemoryQueue):
    """``QueueAdmin``."""

    async def count_selected(self, action: AdminAction, selection: Selection, now: float) -> int:
        return sum(1 for e in self._messages.values() if _selected(e, action, selection, now))

    async def apply_selection(
        self,
        action: AdminAction,
        selection: Selection,
        now: float,
        *,
        by: str,
        batch: int = 1000,
    ) -> int:
        entries = (e for _, e in sorted(self._messages.items()))
        chosen = [e for e in entries if _selected(e, action, selection, now)]
        for start in range(0, len(chosen), max(batch, 1)):
            part = chosen[start : start + max(batch, 1)]
            for entry in part:
                self._apply(entry, action, now)
            self._append([admin_event(action.value, selection.as_dict(), len(part), by, now)])
        if chosen and action not in (AdminAction.HOLD, AdminAction.CANCEL):
            self._mail_queued.notify()
        return len(chosen)

    @staticmethod
    def _apply(entry: _Entry, action: AdminAction, now: float) -> None:
        stored = entry.stored
        if action is AdminAction.HOLD:
            entry.stored, entry.admin_mark = replace(stored, state="held"), "hold"
        elif action is AdminAction.RELEASE:
            entry.stored = replace(stored, state="queued", next_attempt_at=now)
            entry.admin_mark = None
        elif action is AdminAction.RETRY:
            entry.stored = replace(stored, next_attempt_at=now)
        elif action is AdminAction.CANCEL:
            recipients = cancelled(stored.recipients)
            entry.stored = replace(stored, state="cancelled", recipients=recipients)
        else:  # BOUNCE: the dispatcher fails it with a DSN at its next claim
            entry.stored = replace(stored, state="queued", next_attempt_at=now)
            entry.admin_mark = "bounce"

    async def queue_summary(self, now: float) -> list[SummaryRow]:
        counts: dict[tuple[str, str, int], int] = {}
        for entry in self._messages.values():
            stored = entry.stored
            if stored.state not in ("queued", "held"):
                continue
            state = (
                "held"
                if stored.state == "held"
                else ("deferred" if stored.attempts > 0 else "queued")
            )
            bucket = _bucket(now - stored.created_at)
            for r in stored.recipients:
                if r.status == "queued":
                    key = (_domain(r.address), state, bucket)
                    counts[key] = counts.get(key, 0) + 1
        return [SummaryRow(d, s, b, n) for (d, s, b), n in sorted(counts.items())]

    async def suspend_domain(self, suspension: Suspension, now: float) -> int:
        self._suspensions = {
            d: s for d, s in self._suspensions.items() if s.until is None or s.until > now
        }
        self._suspensions[suspension.domain] = suspension
        self._append([suspend_event(suspension, now)])
        until = suspension.park_until(now)
        parked = 0
        for entry in self._messages.values():
            stored = entry.stored
            if (
                stored.state == "queued"
                and entry.admin_mark != "bounce"
                and stored.next_attempt_at < until
                and _queued_domains(entry) == {suspension.domain}
            ):
                entry.stored = replace(stored, next_attempt_at=until)
                parked += 1
        return parked

    async def resume_domain(self, domain: str, now: float, *, by: str) -> bool:
        existed = self._suspensions.pop(domain, None) is not None
        if existed:
            self._append([resume_event(domain, now, by)])
        flushed = 0
        for entry in self._messages.values():
            stored = entry.stored
            if (
                stored.state == "queued"
                and stored.next_attempt_at > now
                and domain in _queued_domains(entry)
            ):
                entry.stored = replace(stored, next_attempt_at=now)
                flushed += 1
        if flushed:
            self._mail_queued.notify()
        return existed

    async def suspensions(self, now: float) -> list[Suspension]:
        return sorted(
            (s for s in self._suspensions.values() if s.until is None or s.until > now),
            key=lambda s: s.domain,
        )
