"""A webhook's durable delivery state: cursor, the batch in flight, batch status history.

Stored as the document ``("webhook_state", <webhook id>)``. ``cursor`` is the id of the last
event delivered (or given up on); until the first one, ``since`` (the webhook's creation
time) bounds which events are new. The pending batch is written BEFORE it is posted, so a
restart re-sends it with the same batch id (at-least-once, deduplicable by
``X-MessageSystems-Batch-ID``). Batch status entries are kept for ``retention`` seconds
(SparkPost: 24 hours) and at most ``limit`` of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from sealpost.events.records import iso
from sealpost.model.document import Document
from sealpost.store.contracts.documents import DocumentStore

KIND = "webhook_state"


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

    def public_view(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "batch_id": self.batch_id,
            "ts": iso(self.ts),
            "attempts": self.attempts,
            "response_code": str(self.response_code or 0),
            "latency": self.latency_ms,
        }
        if self.failure_code is not None:
            view["failure_code"] = self.failure_code.value
        return view


@dataclass(frozen=True, slots=True)
class DeliveryState:
    webhook_id: str
    since: float
    cursor: int | None = None
    pending: PendingBatch | None = None
    last_successful: float | None = None
    last_failure: float | None = None
    history: tuple[BatchStatus, ...] = ()

    def recorded(
        self, status: BatchStatus, *, now: float, retention: float, limit: int
    ) -> DeliveryState:
        kept = [s for s in self.history if now - s.ts < retention]
        kept.append(status)
        return replace(self, history=tuple(kept[-limit:]))

    def to_payload(self) -> dict[str, Any]:
        return {
            "webhook_id": self.webhook_id,
            "since": self.since,
            "cursor": self.cursor,
            "pending": asdict(self.pending) if self.pending else None,
            "last_successful": self.last_successful,
            "last_failure": self.last_failure,
            "history": [
                {**asdict(s), "failure_code": s.failure_code.value if s.failure_code else None}
                for s in self.history
            ],
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> DeliveryState:
        pending = payload.get("pending")
        return cls(
            webhook_id=str(payload["webhook_id"]),
            since=float(payload["since"]),
            cursor=payload.get("cursor"),
            pending=PendingBatch(**pending) if pending else None,
            last_successful=payload.get("last_successful"),
            last_failure=payload.get("last_failure"),
            history=tuple(
                BatchStatus(
                    **{
                        **h,
                        "failure_code": FailureCode(h["failure_code"])
                        if h.get("failure_code")
                        else None,
                    }
                )
                for h in payload.get("history") or ()
            ),
        )

    def times_view(self) -> dict[str, str | None]:
        """``last_successful`` / ``last_failure`` as the webhook object shows them."""
        return {
            "last_successful": iso(self.last_successful) if self.last_successful else None,
            "last_failure": iso(self.last_failure) if self.last_failure else None,
        }


async def load_state(store: DocumentStore, webhook_id: str) -> DeliveryState | None:
    doc = await store.get_document(KIND, webhook_id)
    return DeliveryState.from_payload(doc.payload) if doc is not None else None


async def save_state(store: DocumentStore, state: DeliveryState, now: float) -> None:
    await store.put_document(Document(KIND, state.webhook_id, state.to_payload(), now))


async def delete_state(store: DocumentStore, webhook_id: str) -> None:
    await store.delete_document(KIND, webhook_id)


async def retry_now(store: DocumentStore, webhook_id: str, now: float) -> bool:
    """Make a batch waiting out its backoff due at once (the webhook was just changed)."""
    state = await load_state(store, webhook_id)
    if state is None or state.pending is None or state.pending.next_attempt_at <= now:
        return False
    pending = replace(state.pending, next_attempt_at=now)
    await save_state(store, replace(state, pending=pending), now)
    return True
