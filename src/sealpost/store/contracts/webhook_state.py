"""The contract for the webhooks' delivery state (``model.webhook_delivery``): a typed record
per webhook (cursor, pending batch, times) with its batch status history, not a document,
because the worker reads and writes it on every batch of every webhook."""

from __future__ import annotations

from typing import Protocol

from sealpost.model.webhook_delivery import DeliveryState


class WebhookStateStore(Protocol):
    async def get_webhook_state(self, webhook_id: str) -> DeliveryState | None: ...

    async def put_webhook_state(self, state: DeliveryState, now: float) -> None:
        """Create or replace the webhook's state, its history included, in one write."""

    async def webhook_state_ids(self) -> list[str]:
        """The ids of every webhook with a state, ordered."""

    async def delete_webhook_state(self, webhook_id: str) -> bool:
        """Forget the webhook's state and history; False when there was none."""
