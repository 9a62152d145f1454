"""A webhook's durable delivery state, as the worker and the API use it.

The values (cursor, pending batch, batch status history) are ``model.webhook_delivery``; the
store keeps them in typed tables through ``WebhookStateStore``. Here: loading, saving and
forgetting a webhook's state, making a waiting batch due at once, and the SparkPost views of
batch status and of the last success and failure times.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sealpost.events.records import iso
from sealpost.model.webhook_delivery import BatchStatus, DeliveryState
from sealpost.store.contracts.webhook_state import WebhookStateStore


async def load_state(store: WebhookStateStore, webhook_id: str) -> DeliveryState | None:
    return await store.get_webhook_state(webhook_id)


async def save_state(store: WebhookStateStore, state: DeliveryState, now: float) -> None:
    await store.put_webhook_state(state, now)


async def delete_state(store: WebhookStateStore, webhook_id: str) -> None:
    await store.delete_webhook_state(webhook_id)


async def retry_now(store: WebhookStateStore, webhook_id: str, now: float) -> bool:
    """Make a batch waiting out its backoff due at once (the webhook was just changed)."""
    state = await load_state(store, webhook_id)
    if state is None or state.pending is None or state.pending.next_attempt_at <= now:
        return False
    pending = replace(state.pending, next_attempt_at=now)
    await save_state(store, replace(state, pending=pending), now)
    return True


def status_view(status: BatchStatus) -> dict[str, Any]:
    """One entry of ``GET /webhooks/{id}/batch-status``."""
    view: dict[str, Any] = {
        "batch_id": status.batch_id,
        "ts": iso(status.ts),
        "attempts": status.attempts,
        "response_code": str(status.response_code or 0),
        "latency": status.latency_ms,
    }
    if status.failure_code is not None:
        view["failure_code"] = status.failure_code.value
    return view


def times_view(state: DeliveryState) -> dict[str, str | None]:
    """``last_successful`` / ``last_failure`` as the webhook object shows them."""
    return {
        "last_successful": iso(state.last_successful) if state.last_successful else None,
        "last_failure": iso(state.last_failure) if state.last_failure else None,
    }
