"""MTA-STS policy fetches held off after a failure (RFC 8461 section 3.3: a sender may limit
fetch attempts to one per five minutes per policy id). A hold-off is for one domain and
policy id: a new id in the TXT record means a fetch at once.

The hold-offs live in the store (``contracts.tls_memory``), so on PostgreSQL a failure one
node met holds every node off (docs/cluster.md). A copy is kept in the process: this node's
own hold-offs are answered without the store, and a store error is logged and falls back to
that copy, never failing a policy decision. Times are wall clock.
"""

from __future__ import annotations

import logging

from sealpost.model.tls_memory import FetchHoldoff
from sealpost.model.tlsrpt import TlsFailure
from sealpost.policy.mta_sts import StsError
from sealpost.store.contracts.tls_memory import TlsMemory
from sealpost.store.errors import StoreError
from sealpost.store.memory.tls_memory import MemoryTlsMemory

log = logging.getLogger("sealpost.policy")


class FetchHoldoffs:
    """Failed fetches, by domain: the error to report until the hold-off ends."""

    def __init__(self, shared: TlsMemory | None = None) -> None:
        self._local = MemoryTlsMemory()
        self._shared = shared

    async def held(self, domain: str, policy_id: str, now: float) -> StsError | None:
        """The error of the failed fetch of ``policy_id`` while it is held off, else None."""
        holdoff = await self._local.sts_fetch_holdoff(domain, now)
        if holdoff is None and self._shared is not None:
            try:
                holdoff = await self._shared.sts_fetch_holdoff(domain, now)
            except StoreError as exc:
                log.warning("could not read the MTA-STS fetch hold-off of %s: %s", domain, exc)
        if holdoff is None or holdoff.policy_id != policy_id:
            return None
        try:
            failure = TlsFailure(holdoff.failure)
        except ValueError:
            return None  # written by a newer Sealpost: fetch again rather than guess
        return StsError(failure, holdoff.detail)

    async def hold(
        self, domain: str, policy_id: str, error: StsError, now: float, for_: float
    ) -> None:
        holdoff = FetchHoldoff(policy_id, now + for_, error.failure.value, error.detail)
        await self._local.hold_sts_fetch(domain, holdoff, now)
        if self._shared is None:
            return
        try:
            await self._shared.hold_sts_fetch(domain, holdoff, now)
        except StoreError as exc:
            log.warning("could not share the MTA-STS fetch hold-off of %s: %s", domain, exc)

    async def clear(self, domain: str) -> None:
        await self._local.clear_sts_fetch_holdoff(domain)
        if self._shared is None:
            return
        try:
            await self._shared.clear_sts_fetch_holdoff(domain)
        except StoreError as exc:
            log.warning("could not clear the MTA-STS fetch hold-off of %s: %s", domain, exc)
