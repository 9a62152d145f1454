"""The TLS memory in memory (``contracts.tls_memory``): two dicts of at most ``LIMIT``
entries each (past it, the entry remembered longest ago goes), so a flood of distinct hosts
cannot grow them without end."""

from __future__ import annotations

from sealpost.model.tls_memory import FetchHoldoff

LIMIT = 10_000  # entries per dict


class MemoryTlsMemory:
    """``TlsMemory``."""

    def __init__(self) -> None:
        self._broken_tls: dict[tuple[str, int], float] = {}
        self._sts_holdoffs: dict[str, FetchHoldoff] = {}

    async def remember_broken_tls(self, host: str, port: int, until: float, now: float) -> None:
        if len(self._broken_tls) >= LIMIT:
            self._broken_tls.pop(next(iter(self._broken_tls)))
        self._broken_tls.pop((host, port), None)
        self._broken_tls[(host, port)] = until

    async def broken_tls_until(self, host: str, port: int, now: float) -> float | None:
        until = self._broken_tls.get((host, port))
        return until if until is not None and until > now else None

    async def hold_sts_fetch(self, domain: str, holdoff: FetchHoldoff, now: float) -> None:
        if len(self._sts_holdoffs) >= LIMIT:
            self._sts_holdoffs.pop(next(iter(self._sts_holdoffs)))
        self._sts_holdoffs.pop(domain, None)
        self._sts_holdoffs[domain] = holdoff

    async def sts_fetch_holdoff(self, domain: str, now: float) -> FetchHoldoff | None:
        holdoff = self._sts_holdoffs.get(domain)
        return holdoff if holdoff is not None and holdoff.until > now else None

    async def clear_sts_fetch_holdoff(self, domain: str) -> None:
        self._sts_holdoffs.pop(domain, None)
