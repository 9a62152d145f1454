"""Outbound connection reuse: idle SMTP sessions kept per (host, port, TLS requirement).

Postfix's connection cache keeps a session open for a couple of seconds so the next message
to the same destination skips TCP, EHLO and the TLS handshake; we do the same, bounded by a
per-session message count and an idle time. A session is only reused under the very same
requirement it was opened for, so a stricter policy never rides on a weaker session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sealpost.delivery.session import OpenFailure, OutboundSession
from sealpost.delivery.types import Target
from sealpost.policy.levels import Requirement

Opener = Callable[[Target, Requirement], Awaitable["OutboundSession | OpenFailure"]]
Key = tuple[str, int, Requirement]


@dataclass(slots=True)
class _Idle:
    session: OutboundSession
    uses: int
    since: float


@dataclass
class SessionPool:
    opener: Opener
    max_uses: int = 100
    max_idle: float = 2.0
    clock: Callable[[], float] = time.monotonic
    _idle: dict[Key, list[_Idle]] = field(default_factory=dict)
    _uses: dict[int, int] = field(default_factory=dict)
    _closing: set[asyncio.Task[None]] = field(default_factory=set)

    async def acquire(
        self, target: Target, requirement: Requirement
    ) -> OutboundSession | OpenFailure:
        key = (target.host, target.port, requirement)
        now = self.clock()
        idle = self._idle.get(key, [])
        while idle:
            entry = idle.pop()
            if entry.session.usable and now - entry.since <= self.max_idle:
                self._uses[id(entry.session)] = entry.uses
                return entry.session
            self._close(entry.session)
        opened = await self.opener(target, requirement)
        if isinstance(opened, OutboundSession):
            self._uses[id(opened)] = 0
        return opened

    def release(self, session: OutboundSession, target: Target, requirement: Requirement) -> None:
        uses = self._uses.pop(id(session), 0) + 1
        if session.usable and uses < self.max_uses:
            key = (target.host, target.port, requirement)
            self._idle.setdefault(key, []).append(_Idle(session, uses, self.clock()))
        else:
            self._close(session)

    def discard(self, session: OutboundSession) -> None:
        self._uses.pop(id(session), None)
        self._close(session)

    def expire(self) -> None:
        """Close sessions idle for longer than ``max_idle``."""
        now = self.clock()
        for key, entries in list(self._idle.items()):
            keep = [e for e in entries if now - e.since <= self.max_idle and e.session.usable]
            for entry in entries:
                if entry not in keep:
                    self._close(entry.session)
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]

    async def close_all(self) -> None:
        for entries in self._idle.values():
            for entry in entries:
                self._close(entry.session)
        self._idle.clear()
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=10)

    def _close(self, session: OutboundSession) -> None:
        task = asyncio.get_running_loop().create_task(session.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
