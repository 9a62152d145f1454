"""What the retention purger and a recipient erasure remove: the cutoffs and the counts.

Retention (``[retention]``, ``store.contracts.retention``) deletes, in small batches, what
is older than its cutoff: messages in a final state (delivered, bounced, cancelled) with
their recipients and delay notices, events, idempotency keys (SparkPost keeps them 24
hours), received TLS-RPT reports, local mail held here (not what an operator held with
``queue hold``) and the transmissions API's records (documents of kind ``transmission``),
except one still scheduled: a transmission ages from the later of its last write and its
``not_before``, so one waiting for its start time is never removed (a cancelled one ages
from its cancellation). A cutoff of ``None`` keeps that kind for ever. An
erasure (``sealpost purge --recipient``, GDPR article 17) removes what names one person.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Epoch seconds: rows older than these go (``None``: kept for ever)."""

    messages: float | None = None  # final state reached before this (next_attempt_at)
    events: float | None = None  # event timestamp before this
    idempotency: float | None = None  # key created before this
    received_reports: float | None = None  # received TLS-RPT report stored before this
    held: float | None = None  # local mail held (not by an operator) since before this
    transmissions: float | None = None  # transmission record written and due before this

    @property
    def any(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))


@dataclass(frozen=True, slots=True)
class Purged:
    """Rows removed, by kind (one purge batch, or a whole erasure)."""

    messages: int = 0
    events: int = 0
    idempotency: int = 0
    received_reports: int = 0
    transmissions: int = 0
    suppressions: int = 0
    queued_messages: int = 0  # of ``messages``, those not yet final (erasure only)

    @property
    def total(self) -> int:
        return (
            self.messages
            + self.events
            + self.idempotency
            + self.received_reports
            + self.transmissions
            + self.suppressions
        )

    def __add__(self, other: Purged) -> Purged:
        return Purged(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def transmission_expired(payload: Mapping[str, Any], updated_at: float, cutoff: float) -> bool:
    """Whether a transmission record has aged out: written before ``cutoff`` and either
    cancelled or due (``not_before``, if scheduled) before it. The SQL backends say the same
    in their DELETE."""
    if updated_at >= cutoff:
        return False
    not_before = payload.get("not_before")
    return payload.get("state") == "Canceled" or not not_before or float(not_before) < cutoff
