"""The one door for new mail: every listener and (later) the HTTP API call ``submit``.

It DKIM-signs mail we originate (authenticated submissions and our own bounces; never mail
relayed to us from outside), stamps the ``Received:`` trace header (RFC 5321 section 4.4),
gives the message its id, stores it durably with its injection events (``QueueStore.enqueue``
returns only after fsync, RFC 5321 section 6.1) and then wakes the dispatcher. Nothing may
acknowledge a message before ``submit`` has returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from sealpost.events.records import injection_events
from sealpost.inbound.received import received_header
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.ids import new_message_id
from sealpost.store.base import Document, IdempotencyRecord, QueueStore, Submitted


class Signer(Protocol):
    """DkimSigner, or SigningKeys (config keys plus verified sending domains' keys)."""

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: str


def _originated_here(session: SessionInfo) -> bool:
    return session.auth_user is not None or session.listener in ("api", "dsn")


class Submission:
    """Signs what we originate, stamps, stores, wakes."""

    def __init__(
        self,
        store: QueueStore,
        clock: Callable[[], float] = time.time,
        signer: Signer | None = None,
        hostname: str = "localhost",
    ) -> None:
        self._store = store
        self._clock = clock
        self._signer = signer
        self._hostname = hostname
        self._wake: Callable[[], None] = lambda: None
        self.accepted = 0

    def on_queued(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` after each message is stored (the dispatcher's wake-up)."""
        self._wake = wake

    async def submit(self, message: InboundMessage) -> Accepted:
        """Durably queue ``message``; raises ``StoreError`` when it could not be stored."""
        now = self._clock()
        message_id = new_message_id(now)
        stamped = self._stamp(message_id, message)
        await self._store.enqueue(
            message_id, stamped, now, injection_events(message_id, stamped, now)
        )
        self.accepted += 1
        self._wake()
        return Accepted(message_id)

    async def submit_batch(
        self,
        messages: Sequence[InboundMessage],
        *,
        not_before: float | None = None,
        idempotency: Callable[[list[str]], IdempotencyRecord] | None = None,
        documents: Callable[[list[str]], Sequence[Document]] | None = None,
    ) -> list[str]:
        """Queue many messages (one API transmission) in ONE transaction; returns their ids.

        ``idempotency`` and ``documents`` are built from the ids (the response and the
        transmission record name them) and are committed with the messages, all or nothing;
        ``DuplicateError`` when the idempotency key was used already. ``not_before``
        schedules the batch (``options.start_time``)."""
        now = self._clock()
        items: list[Submitted] = []
        for message in messages:
            message_id = new_message_id(now)
            stamped = self._stamp(message_id, message)
            items.append(Submitted(message_id, stamped, injection_events(message_id, stamped, now)))
        ids = [item.message_id for item in items]
        await self._store.enqueue_batch(  # type: ignore[attr-defined]
            items,
            now,
            not_before=not_before,
            idempotency=idempotency(ids) if idempotency else None,
            documents=documents(ids) if documents else (),
        )
        self.accepted += len(items)
        self._wake()
        return ids

    def _stamp(self, message_id: str, message: InboundMessage) -> InboundMessage:
        data = message.data
        if self._signer is not None and _originated_here(message.session):
            data = self._signer.sign(data)
        trace = received_header(message.session, message.envelope, message_id)
        return replace(message, data=trace + data)

    async def submit_dsn(self, recipient: str, data: bytes) -> Accepted:
        """Queue a bounce we generated: null sender (RFC 5321 section 4.5.5), one recipient."""
        session = SessionInfo(
            listener="dsn",
            client_ip="127.0.0.1",
            client_port=0,
            helo=self._hostname,
            local_hostname=self._hostname,
        )
        envelope = Envelope(
            mail_from="", recipients=(recipient,), body="7BIT" if data.isascii() else "8BITMIME"
        )
        return await self.submit(InboundMessage(envelope, session, data))
