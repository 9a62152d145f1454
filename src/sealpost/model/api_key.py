"""An API key as it is kept: never the key itself, only a salted hash of it, with what the
key may do (its grants) and which sender domains it may use (RFC 6409 section 6.1)."""

from __future__ import annotations

from dataclasses import dataclass

from sealpost.model.grants import Grant


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key as stored: never the key itself, only a salted hash of it."""

    id: str  # the key's first 8 characters: shown in listings, used to find the record
    label: str
    salt: bytes
    digest: bytes
    created_at: float
    revoked_at: float | None = None
    sender_domains: tuple[str, ...] = ()  # envelope/From/Sender domains; () means any
    grants: frozenset[Grant] = frozenset()  # what the key may do; none unless given

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, grant: Grant) -> bool:
        """Whether the key holds ``grant``."""
        return grant in self.grants
