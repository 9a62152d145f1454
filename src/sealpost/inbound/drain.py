"""Draining the inbound side on SIGTERM (RFC 5321 sections 3.8 and 4.2.2).

Owns the order: every listener context is marked draining, so a new connection is answered
``421 4.3.2`` and closed (``SmtpConnection.connection_made``); every open session is told
to shut down, which closes the idle ones at once with the same 421 and lets a transaction
in progress reach its final reply (the ``250`` after the queue's fsync) before it closes.
At the deadline, what is still open is cut, with the same 421 where the connection can
still take it (section 3.8: a server forced down SHOULD try to send it); a client cut
mid-transaction got no 250, so it keeps its message and retries (section 4.5.4.1).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sealpost.inbound.context import ListenerContext

_POLL = 0.05


async def drain_inbound(contexts: Sequence[ListenerContext], deadline: float) -> tuple[int, int]:
    """Drain until ``deadline`` (loop time); (sessions that ended cleanly, sessions cut)."""
    loop = asyncio.get_running_loop()
    for ctx in contexts:
        ctx.draining = True
    open_at_start = [conn for ctx in contexts for conn in list(ctx.connections)]
    for conn in open_at_start:
        conn.drain()
    while loop.time() < deadline and any(ctx.connections for ctx in contexts):
        await asyncio.sleep(_POLL)
    cut = 0
    for ctx in contexts:
        for conn in list(ctx.connections):
            cut += 1
            conn.drain(now=True)
            conn.close()
    in_flight = [t for ctx in contexts for c in ctx.connections for t in c.tasks]
    if in_flight:  # a store write already begun finishes (its client gets no 250 now)
        await asyncio.wait(in_flight, timeout=10)
    return max(0, len(open_at_start) - cut), cut
