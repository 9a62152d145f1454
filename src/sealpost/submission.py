"""The one door for new mail: every listener and (later) the HTTP API call ``submit``.

It stamps the ``Received:`` trace header (RFC 5321 section 4.4), gives the message its id,
stores it durably (``QueueStore.enqueue`` returns only after fsync, RFC 5321 section 6.1)
and then wakes whoever delivers queued mail. Nothing may acknowledge a message before
``submit`` has returned.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sealpost.inbound.received import received_header
from sealpost.model.envelope import InboundMessage
from sealpost.model.ids import new_message_id
from sealpost.store.base import QueueStore


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: str


class Submission:
    """Validates nothing the protocol layer has not; stamps, stores, wakes."""

    def __init__(self, store: QueueStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self.queued = asyncio.Event()
        self.accepted = 0

    async def submit(self, message: InboundMessage) -> Accepted:
        """Durably queue ``message``; raises ``StoreError`` when it could not be stored."""
        now = self._clock()
        message_id = new_message_id(now)
        trace = received_header(message.session, message.envelope, message_id)
        stamped = replace(message, data=trace + message.data)
        await self._store.enqueue(message_id, stamped, now)
        self.accepted += 1
        self.queued.set()
        return Accepted(message_id)
