"""The memory of hosts whose STARTTLS handshake failed (Postfix "may" with a memory of
broken TLS, checklist B4): while a host is remembered, a session that may be plaintext skips
STARTTLS instead of failing the handshake again on every attempt.

The memory lives in the store (``contracts.tls_memory``), so on PostgreSQL every node
applies what one node learned (docs/cluster.md), on SQLite it survives a restart. A copy is
kept in the process too: a host this node found broken is answered without asking the
store, and when the store cannot be reached the process's copy still answers (a store
error is logged, never fails the session). Times are wall clock, shared between machines.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sealpost.store.contracts.tls_memory import TlsMemory
from sealpost.store.errors import StoreError
from sealpost.store.memory.tls_memory import MemoryTlsMemory

log = logging.getLogger("sealpost.delivery")


class BrokenTlsHosts:
    """Hosts (name and port) whose TLS handshake failed, each until its time runs out."""

    def __init__(
        self, shared: TlsMemory | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._local = MemoryTlsMemory()
        self._shared = shared

    async def remember(self, host: str, port: int, duration: float) -> None:
        host, now = _name(host), self._clock()
        await self._local.remember_broken_tls(host, port, now + duration, now)
        if self._shared is None:
            return
        try:
            await self._shared.remember_broken_tls(host, port, now + duration, now)
        except StoreError as exc:
            log.warning("could not share that TLS to %s:%d is broken: %s", host, port, exc)

    async def is_broken(self, host: str, port: int) -> bool:
        host, now = _name(host), self._clock()
        if await self._local.broken_tls_until(host, port, now) is not None:
            return True
        if self._shared is None:
            return False
        try:
            return await self._shared.broken_tls_until(host, port, now) is not None
        except StoreError as exc:
            log.warning("could not read the broken-TLS memory for %s:%d: %s", host, port, exc)
            return False


def _name(host: str) -> str:
    return host.rstrip(".").lower()
