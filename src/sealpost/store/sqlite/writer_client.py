"""A worker's side of the queue writer (``shared_writer``, in the supervisor): new mail goes there.

One Unix-socket connection per worker, made at the first message and again after it is lost.
Each request is answered once its batch is committed; the answer arrives on the event loop
like any socket read, so no thread and no cross-thread wake-up stand between the commit and
the ``250``.

When the writer is not there (its supervisor was killed, or its socket is gone), the
worker writes through its own writer thread instead (``WriterUnavailable``: the caller
falls back), and tries the socket again after ``RETRY_AFTER`` seconds. A request already
sent when the connection drops fails with ``WriterLost``: it may or may not have been
committed. The caller decides (``Database._write_mail``): a message is written again by the
worker, under the same id, and if that id is already taken, the dead writer had committed
it; anything else is an error, never a false success (RFC 5321 section 6.1).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sealpost.store.errors import StoreError
from sealpost.store.sqlite.shared_writer import FRAME, MAX_FRAME, frame, unframe

RETRY_AFTER = 1.0  # seconds between attempts to reach a queue writer that was not there


class WriterUnavailable(Exception):
    """No connection to the queue writer: write through this process's own writer."""


class WriterLost(StoreError):
    """The connection dropped before this request was answered: it may be committed."""


class WriterClient:
    """Submits named writes to the queue writer at ``socket_path``."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.observer: Callable[[float], None] | None = None  # each commit's wait (gauges)
        self._link: _Link | None = None
        self._connecting: asyncio.Future[_Link | None] | None = None
        self._failed_at = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sent = 0

    async def submit(self, name: str, kwargs: dict[str, Any]) -> None:
        """Run ``shared_writer.OPERATIONS[name](conn, **kwargs)`` in the writer's next
        batch; return once it is committed. ``WriterUnavailable`` when there is no writer
        to send it to (nothing was sent); ``StoreError`` when it failed or its answer was
        lost."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:  # the link's callbacks run on the loop that made it
            raise WriterUnavailable("another event loop")
        link = self._link if self._link is not None and self._link.open else await self._connect()
        if link is None:
            raise WriterUnavailable(self.socket_path)
        started = time.monotonic()
        await link.request(name, kwargs)
        self.sent += 1
        if self.observer is not None:
            self.observer(time.monotonic() - started)

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None

    async def _connect(self) -> _Link | None:
        if self._connecting is not None:  # another caller is connecting: share its result
            return await asyncio.shield(self._connecting)
        if time.monotonic() - self._failed_at < RETRY_AFTER:
            return None
        loop = asyncio.get_running_loop()
        self._connecting = loop.create_future()
        link: _Link | None = None
        try:
            _, link = await loop.create_unix_connection(_Link, self.socket_path)
        except OSError:
            self._failed_at = time.monotonic()
        finally:
            self._connecting.set_result(link)
            self._connecting = None
        self._link = link
        return link


class _Link(asyncio.Protocol):
    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._buffer = bytearray()
        self._next_id = 0

    @property
    def open(self) -> bool:
        return self._transport is not None

    async def request(self, name: str, kwargs: dict[str, Any]) -> None:
        """``WriterUnavailable`` when nothing was sent: the link is closed, or the message
        is bigger than the writer takes (``MAX_FRAME``; a larger ``max_message_size``)."""
        if self._transport is None:
            raise WriterUnavailable("the link to the queue writer is closed")
        data = frame((self._next_id + 1, name, kwargs))
        if len(data) - FRAME.size > MAX_FRAME:
            raise WriterUnavailable(f"a request of {len(data)} bytes")
        self._next_id += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[self._next_id] = future
        self._transport.write(data)
        await future

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            answers = unframe(self._buffer)
        except Exception as exc:  # not our writer's answer: drop the link, fail its callers
            self._fail(StoreError(f"queue writer answered nonsense: {exc!r}"))
            self.close()
            return
        for request_id, error in answers:
            future = self._waiting.pop(request_id, None)
            if future is None or future.done():  # its caller was cancelled; the write stands
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._fail(WriterLost("the queue writer ended before answering"))

    def _fail(self, error: Exception) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(error)
