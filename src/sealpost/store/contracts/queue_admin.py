"""The operator's bulk actions on the queue and the standing suspensions of destination
domains (``model.queue_admin``; issue 15 part 4).

Bulk actions run in batches of ``batch`` messages, each ONE set-based statement (per table)
in its own transaction with its ``admin`` event, so a 100k-message hold never stalls the
dispatcher's claims and a crash leaves whole batches done, never half a message.

Suspensions live in the store, so every node of a cluster obeys them: ``claim_due`` never
hands out a message whose queued recipients are all at suspended domains; it parks it
(``next_attempt_at`` = the suspension's end, or ``PARK_RECHECK`` later for an open-ended one)
without counting an attempt. ``suspend_domain`` parks the domain's queued mail at once, so a
suspended domain with 100k messages costs the claim nothing per scan; ``resume_domain``
makes the domain's queued mail due now (like ``postqueue -s``).
"""

from __future__ import annotations

from typing import Protocol

from sealpost.model.queue_admin import AdminAction, Selection, SummaryRow, Suspension


class QueueAdmin(Protocol):
    async def count_selected(self, action: AdminAction, selection: Selection, now: float) -> int:
        """How many messages ``apply_selection`` would change now (the dry run)."""

    async def apply_selection(
        self,
        action: AdminAction,
        selection: Selection,
        now: float,
        *,
        by: str,
        batch: int = 1000,
    ) -> int:
        """Apply ``action`` to the selected messages in the states it changes, at most
        ``batch`` per transaction, each batch that changed messages with one ``admin`` event
        naming ``by``; returns how many messages changed. ``bounce`` marks the messages and
        makes them due: the dispatcher fails them with a DSN (per-recipient ``bounce``
        events, bounce class 25)."""

    async def queue_summary(self, now: float) -> list[SummaryRow]:
        """Queued recipients of ``queued`` and ``held`` messages by recipient domain, state
        (``queued``, ``deferred``, ``held``) and age bucket (``AGE_BUCKETS``)."""

    async def suspend_domain(self, suspension: Suspension, now: float) -> int:
        """Record (or replace) the suspension, with an ``admin`` event, and park the
        domain's queued mail; returns how many messages were parked."""

    async def resume_domain(self, domain: str, now: float, *, by: str) -> bool:
        """End the domain's suspension (``admin`` event) and make its queued mail due now;
        False when it was not suspended."""

    async def suspensions(self, now: float) -> list[Suspension]:
        """The suspensions in force at ``now``, by domain."""
