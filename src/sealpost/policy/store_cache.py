"""The MTA-STS cache kept in the queue store, so it survives restarts (RFC 8461 section 5.1:
a cached policy is used until ``max_age`` even when DNS or HTTPS later fail; losing it on a
restart would reopen the downgrade window the cache closes)."""

from __future__ import annotations

import logging

from sealpost.policy.sts_cache import CachedPolicy
from sealpost.store.contracts.policies import PolicyStore

log = logging.getLogger("sealpost.policy")
PREFIX = "mta-sts:"


class StoreStsCache:
    def __init__(self, store: PolicyStore) -> None:
        self._store = store

    async def get(self, domain: str) -> CachedPolicy | None:
        payload = await self._store.get_policy(PREFIX + domain)
        if payload is None:
            return None
        try:
            return CachedPolicy.from_dict(payload)
        except ValueError as exc:
            log.error("ignoring unreadable cached MTA-STS policy for %s: %s", domain, exc)
            return None

    async def put(self, domain: str, cached: CachedPolicy) -> None:
        await self._store.put_policy(PREFIX + domain, cached.to_dict())
