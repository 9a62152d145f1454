"""The API keys' contract: records of salted key hashes (never a key), found by key id."""

from __future__ import annotations

from typing import Protocol

from sealpost.model.api_key import ApiKeyRecord


class KeyStore(Protocol):
    async def add_key(self, record: ApiKeyRecord) -> None:
        """``DuplicateError`` when a key with this id exists already."""

    async def find_key(self, key_id: str) -> ApiKeyRecord | None: ...

    async def list_keys(self) -> list[ApiKeyRecord]:
        """Every key, oldest first."""

    async def revoke_key(self, key_id: str, now: float) -> bool:
        """False when there is no such active key."""
