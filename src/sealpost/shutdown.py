"""Stopping a server process: the stop signals, and the drain of listeners and deliveries.

The first SIGTERM/SIGINT asks for a drain; one that arrives within ``SAME_STOP`` seconds of
it is the same request (``pkill sealpost`` signals a worker directly as well as through its
supervisor's forward); a later one exits at once, status 1: every acknowledged message is
already durable in the queue.

The drain (``drain``) runs for at most ``[server] drain_timeout`` seconds: new SMTP
connections get ``421 4.3.2`` (RFC 5321 section 3.8), idle sessions are closed with it,
transactions in progress get their final reply first (``inbound.drain``), the dispatcher
claims nothing new and its deliveries in flight finish their message. What it did is a
``model.drain.DrainTally``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sealpost.inbound.context import ListenerContext
from sealpost.inbound.drain import drain_inbound
from sealpost.model.drain import DrainTally

log = logging.getLogger("sealpost")
SAME_STOP = 1.0  # seconds: stop signals this close together are one request


class StopSignals:
    """Turns SIGTERM/SIGINT into a set ``stop`` event, or an exit at once (see the module doc)."""

    def __init__(
        self,
        stop: asyncio.Event,
        drain_timeout: float,
        open_sessions: Callable[[], int],
    ) -> None:
        self._stop = stop
        self._drain_timeout = drain_timeout
        self._open_sessions = open_sessions
        self._signalled_at = 0.0
        self._installed = False

    def install(self, *, worker: bool, reload: Callable[[], None]) -> None:
        """SIGTERM (and SIGINT, but in a worker) stop; SIGHUP calls ``reload``. A worker
        leaves SIGINT (a terminal's Ctrl-C reaches the whole process group) to its
        supervisor, which forwards it as SIGTERM. Once: a second call changes nothing."""
        if self._installed:
            return
        self._installed = True
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.on_signal, "SIGTERM")
        if worker:
            loop.add_signal_handler(signal.SIGINT, lambda: None)
        else:
            loop.add_signal_handler(signal.SIGINT, self.on_signal, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, reload)

    def on_signal(self, name: str) -> None:
        """The first SIGTERM/SIGINT drains; another one exits at once. One that arrives
        within ``SAME_STOP`` seconds of the first is the same request."""
        now = time.monotonic()
        if not self._stop.is_set():
            log.info("%s: draining for at most %g s", name, self._drain_timeout)
            self._signalled_at = now
            self._stop.set()
            return
        if now - self._signalled_at < SAME_STOP:
            return
        log.warning(
            "%s again: exiting now; %d SMTP session(s) cut (acknowledged mail is in the queue)",
            name,
            self._open_sessions(),
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        os._exit(1)


class Dispatching(Protocol):
    """The dispatcher as the drain sees it."""

    @property
    def in_flight(self) -> int: ...

    def abandon(self) -> None: ...


@dataclass(slots=True)
class Deliveries:
    """The dispatcher, its running task, and how many deliveries were in flight at the stop."""

    dispatcher: Dispatching
    task: asyncio.Task[None]
    in_flight_at_stop: int

    async def drain(self, deadline: float) -> tuple[int, int]:
        """The dispatcher claims nothing more once stopped; its deliveries in flight get
        until ``deadline`` to finish their message. (finished, cut): a cut one keeps its
        lease until the next start releases it (``release_all_leases``)."""
        timeout = max(0.0, deadline - asyncio.get_running_loop().time())
        await asyncio.wait([self.task], timeout=timeout)
        cut = 0
        if not self.task.done():
            cut = self.dispatcher.in_flight
            self.dispatcher.abandon()
            self.task.cancel()
            await asyncio.wait([self.task], timeout=5)
        return max(0, self.in_flight_at_stop - cut), cut


class HttpListener(Protocol):
    async def stop(self) -> None: ...


async def drain(
    contexts: Sequence[ListenerContext],
    servers: list[asyncio.Server],
    http: Sequence[HttpListener | None],
    deliveries: Deliveries | None,
    timeout: float,
) -> DrainTally:
    """Drain the SMTP sessions and the deliveries for at most ``timeout`` seconds, stop the
    HTTP listeners, then close the SMTP listeners (``servers`` is emptied)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout
    inbound = loop.create_task(drain_inbound(contexts, deadline))
    outbound = loop.create_task(_drain_deliveries(deliveries, deadline))
    for listener in http:
        if listener is not None:
            await listener.stop()
    drained, cut = await inbound
    # The listeners stay open until the deliveries are done too: a client that connects
    # meanwhile gets 421 4.3.2 (RFC 5321 section 3.8), not a refused connection.
    finished, deliveries_cut = await outbound
    for server in servers:
        server.close()
    for server in servers:
        try:
            await asyncio.wait_for(server.wait_closed(), 5)
        except TimeoutError:
            log.warning("listener did not close within 5 s")
    servers.clear()
    return DrainTally(
        sessions_drained=drained,
        sessions_cut=cut,
        refused=sum(ctx.refused_draining for ctx in contexts),
        deliveries_finished=finished,
        deliveries_cut=deliveries_cut,
        seconds=loop.time() - started,
    )


async def _drain_deliveries(deliveries: Deliveries | None, deadline: float) -> tuple[int, int]:
    return (0, 0) if deliveries is None else await deliveries.drain(deadline)
