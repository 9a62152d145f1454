"""The MTA-STS policy cache: what was fetched, under which id, until when.

RFC 8461 section 5: a sender keeps each valid policy for its ``max_age`` after the fetch
and, while it is unexpired, MUST apply it even when DNS or HTTPS later fail (downgrade
resistance, checklist C4); a changed TXT ``id`` triggers a refetch. ``StsCache`` is the
contract the store implements persistently (``CachedPolicy.to_dict`` is JSON-safe);
``MemoryStsCache`` is the in-process one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sealpost.policy.mta_sts import StsPolicy


@dataclass(frozen=True, slots=True)
class CachedPolicy:
    policy: StsPolicy
    policy_id: str  # the TXT record id the policy was fetched under
    fetched_at: float  # Unix seconds
    expires_at: float  # fetched_at + max_age

    def fresh(self, now: float) -> bool:
        """Unexpired at ``now``: usable without (or despite) DNS and HTTPS."""
        return now < self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.to_dict(),
            "policy_id": self.policy_id,
            "fetched_at": self.fetched_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CachedPolicy:
        """Rebuild what ``to_dict`` made; ValueError on anything else."""
        try:
            policy = StsPolicy.from_dict(data["policy"])
            policy_id = data["policy_id"]
            fetched_at = float(data["fetched_at"])
            expires_at = float(data["expires_at"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a cached MTA-STS policy: {exc!r}") from None
        if not isinstance(policy_id, str) or not policy_id:
            raise ValueError(f"cached MTA-STS policy has a bad id: {policy_id!r}")
        return cls(policy, policy_id, fetched_at, expires_at)


class StsCache(Protocol):
    async def get(self, domain: str) -> CachedPolicy | None:
        """The policy last stored for ``domain`` (lower case, no trailing dot), expired or not."""

    async def put(self, domain: str, cached: CachedPolicy) -> None:
        """Store ``cached`` for ``domain``, replacing any earlier entry."""


class MemoryStsCache:
    """A dict; lost on restart (the store's cache is the persistent one)."""

    def __init__(self) -> None:
        self._entries: dict[str, CachedPolicy] = {}

    async def get(self, domain: str) -> CachedPolicy | None:
        return self._entries.get(domain.lower().removesuffix("."))

    async def put(self, domain: str, cached: CachedPolicy) -> None:
        self._entries[domain.lower().removesuffix(".")] = cached

    def __len__(self) -> int:
        return len(self._entries)
