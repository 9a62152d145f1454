"""A webhook's durable delivery state: cursor, the batch in flight, batch status history.

``cursor`` is the id of the last event delivered (or given up on); until the first one,
``since`` (the webhook's creation time) bounds which events are new. The pending batch is
written BEFORE it is posted, so a restart re-sends it with the same batch id (at-least-once,
deduplicable by ``X-MessageSystems-Batch-ID``). Batch status entries are kept for
``retention`` seconds (SparkPost: 24 hours) and at most ``limit`` of them. The store keeps
this in typed tables (``WebhookStateStore``), one row per webhook and one per batch status.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class FailureCode(StrEnum):
    """Why an attempt failed (``failure_code`` in batch status)."""

    CONNECTION = "connection"  # refused, reset, DNS
    TLS = "tls"  # handshake or certificate verification
    TIMEOUT = "timeout"
    HTTP_STATUS = "http_status"  # the receiver answered non-2xx
    AUTH = "auth"  # no OAuth2 token could be obtained
    REFUSED = "target_refused"  # the egress rule refused the target's address: nothing sent
    DROPPED = "dropped"  # retries exhausted: the batch was given up


@dataclass(frozen=True, slots=True)
class PendingBatch:
    batch_id: str
    last_event_id: int
    size: int
    attempts: int
    first_attempt_at: float
    next_attempt_at: float


@dataclass(frozen=True, slots=True)
class BatchStatus:
    batch_id: str
    ts: float
    attempts: int
    response_code: int | None
    failure_code: FailureCode | None
    latency_ms: int


@dataclass(frozen=True, slots=True)
class DeliveryState:
    webhook_id: str
    since: float
    cursor: int | None = None
    pending: PendingBatch | None = None
    last_successful: float | None = None
    last_failure: float | None = None
    history: tuple[BatchStatus, ...] = ()  # oldest first

    def recorded(
        self, status: BatchStatus, *, now: float, retention: float, limit: int
    ) -> DeliveryState:
        kept = [s for s in self.history if now - s.ts < retention]
        kept.append(status)
        return replace(self, history=tuple(kept[-limit:]))
