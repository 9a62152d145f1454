"""The contract for the webhooks' delivery state (``model.webhook_delivery``): a typed record
per webhook (cursor, pending batch, times) with its batch status history, not a document,
because the worker reads and writes it on every batch of every webhook.

Several nodes on one database (cluster mode) each run a webhook worker; the lease on a
webhook's cursor makes one of them at a time the sender of that webhook's batches, so a batch
goes out once per event across the cluster, not once per node. A single-node backend (SQLite,
memory) has one sender by construction: its lease is always this process's."""

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
        """Forget the webhook's state and history (and any lease on it); False when there
        was none."""

    async def lease_webhook(self, webhook_id: str, now: float, ttl: float) -> bool:
        """Hold the webhook's cursor for this node until ``now + ttl``: True when this node
        holds it now (it was free, its holder's lease had expired, or this node renewed its
        own), False while another node's lease has not expired. Committed before returning,
        so two nodes asking at once never both get True."""

    async def release_webhook(self, webhook_id: str) -> None:
        """Give back this node's lease (shutdown), so another node takes over at once; a
        lease another node holds is left alone."""
