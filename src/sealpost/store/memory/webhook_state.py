"""The webhooks' delivery state in memory (``contracts.webhook_state``): a dict of the
immutable ``DeliveryState`` values. One process is the only sender, so it always holds
every webhook's lease."""

from __future__ import annotations

from sealpost.model.webhook_delivery import DeliveryState


class MemoryWebhookState:
    """``WebhookStateStore``."""

    def __init__(self) -> None:
        self._webhook_states: dict[str, DeliveryState] = {}

    async def get_webhook_state(self, webhook_id: str) -> DeliveryState | None:
        return self._webhook_states.get(webhook_id)

    async def put_webhook_state(self, state: DeliveryState, now: float) -> None:
        self._webhook_states[state.webhook_id] = state

    async def webhook_state_ids(self) -> list[str]:
        return sorted(self._webhook_states)

    async def delete_webhook_state(self, webhook_id: str) -> bool:
        return self._webhook_states.pop(webhook_id, None) is not None

    async def lease_webhook(self, webhook_id: str, now: float, ttl: float) -> bool:
        return True  # one process, one webhook worker: nobody else can hold it

    async def release_webhook(self, webhook_id: str) -> None:
        return None
