"""The outbound policy cache's contract: a small durable map (the MTA-STS cache, RFC 8461
section 5.1, kept across restarts)."""

from __future__ import annotations

from typing import Any, Protocol


class PolicyStore(Protocol):
    async def get_policy(self, key: str) -> dict[str, Any] | None: ...

    async def put_policy(self, key: str, payload: dict[str, Any]) -> None: ...
