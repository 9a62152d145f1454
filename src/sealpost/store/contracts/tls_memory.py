"""The contract for what outbound delivery remembers about peers' TLS for a while, kept in
the store so that every node sharing it applies what one node learned (docs/cluster.md):

- hosts whose STARTTLS handshake failed, delivered to in plaintext until a time (Postfix
  "may" with a memory of broken TLS, checklist B4), by host name and port;
- MTA-STS policy fetches that failed, not retried for the same policy id until a time
  (RFC 8461 section 3.3).

Times are wall-clock seconds since the epoch (nodes on several machines share them). An
entry whose time has passed is as though absent; backends may drop it whenever they like.
Host names and domains are stored as given: callers normalise them.
"""

from __future__ import annotations

from typing import Protocol

from sealpost.model.tls_memory import FetchHoldoff


class TlsMemory(Protocol):
    async def remember_broken_tls(self, host: str, port: int, until: float, now: float) -> None:
        """``host:port`` failed a TLS handshake: plaintext for it until ``until`` (replaces an
        earlier entry, later or not); entries expired at ``now`` may go."""

    async def broken_tls_until(self, host: str, port: int, now: float) -> float | None:
        """Until when ``host:port`` is remembered as broken, or None when it is not (or no
        longer, at ``now``)."""

    async def hold_sts_fetch(self, domain: str, holdoff: FetchHoldoff, now: float) -> None:
        """The policy fetch for ``domain`` failed: remember it (replacing an earlier one);
        hold-offs expired at ``now`` may go."""

    async def sts_fetch_holdoff(self, domain: str, now: float) -> FetchHoldoff | None:
        """The hold-off on ``domain``'s fetch still running at ``now``, or None."""

    async def clear_sts_fetch_holdoff(self, domain: str) -> None:
        """A fetch for ``domain`` succeeded: forget its hold-off; harmless when there is none."""
