"""The queue writer: one writer, in the supervisor, for every worker's new mail.

With several workers (``[server] workers``), each worker used to commit its own enqueues
through its own writer thread, the workers taking turns at the lock file (``writer``). That
costs three ways, measured on two cores (docs/benchmarks.md): each commit of one process
makes SQLite drop the other's page cache (about 16 WAL pages re-read per message); each
process's batches are half as big; and the writer thread and the event loop of a worker
fight over one GIL, so a commit waits behind TLS work and the ``250`` behind the commit.

So every worker sends the rows of each new message over a Unix socket in a private
directory (``writer_client``) to this writer, which the supervisor runs in its own loop
(``workers.supervisor``: it has no other work between signals and reaps; a process of its
own cost 4-5 MB of copied pages more, docs/benchmarks.md). It runs no thread and no event
loop: at each ``step`` it reads every request that arrived while its last commit ran (a
small batch gives the core back once first, to let the worker that woke it add the rest of
its turn's), applies them in ONE transaction (``writer.apply_batch``: a SAVEPOINT each, so
one bad row fails only its sender), commits with one fsync, and only then answers each
sender.
RFC 5321 section 6.1: the worker says ``250`` only after that answer, so an acknowledged
message is on disk. It takes the same lock file as the workers' own writers, which still
write everything else (leases, attempts, the API's records) and take over the mail when
this writer is gone (``writer_client``); nothing is lost if it is killed: what it had not
answered was never acknowledged.

SQLite forbids carrying an open connection across ``fork()`` (its lock bookkeeping is
per process and would be copied into the child), and a ``flock`` held through a descriptor
a child inherited would outlive this process. So ``before_fork`` closes the connection and
the lock file, the next commit opens them again, and ``in_child`` drops the sockets.

Only same-user peers are served (``SO_PEERCRED``, beside the directory's mode 0700), and
only the operations named in ``OPERATIONS``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import selectors
import socket
import sqlite3
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sealpost.store.errors import StoreError
from sealpost.store.sqlite import ops, sql
from sealpost.store.sqlite.writer import (
    MAX_BATCH,
    apply_batch,
    open_lock_file,
    writer_lock_path,
    writer_turn,
)

log = logging.getLogger(__name__)

FRAME = struct.Struct("!I")  # every message on the socket: its length, then a pickle
MAX_FRAME = 64 << 20  # bigger than any message the listeners accept, with its rows
READ_SIZE = 64 << 10  # one recv: a burst of a worker's requests (~6 KB each in the bench)
# Its page cache: the pages a batch of appends touches (the right edge of each table and
# index, ~30 pages) with room to spare; SQLite's default 2 MiB is private memory here.
CACHE_PRAGMA = "PRAGMA cache_size=-1024"
ANSWER_TIMEOUT = 5.0  # seconds a worker may leave its answers unread
YIELD_BELOW = 4  # a smaller batch gives the core back once before it commits (step)
# The writes that may come over the socket: new mail, from the SMTP and API doors.
OPERATIONS: dict[str, Callable[..., Any]] = {
    "insert_message": ops.insert_message,
    "insert_batch": ops.insert_batch,
}
Request = tuple[int, str, dict[str, Any]]  # (request id, operation, its keyword arguments)
Answer = tuple[int, BaseException | None]  # (request id, None or the error to raise)


def frame(payload: object) -> bytes:
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME.pack(len(body)) + body


def unframe(buffer: bytearray) -> list[Any]:
    """Every whole message at the front of ``buffer``, removed from it."""
    out: list[Any] = []
    start = 0
    while len(buffer) - start >= FRAME.size:
        (size,) = FRAME.unpack_from(buffer, start)
        if size > MAX_FRAME:
            raise StoreError(f"queue writer: a message of {size} bytes on its socket")
        end = start + FRAME.size + size
        if len(buffer) < end:
            break
        out.append(pickle.loads(memoryview(buffer)[start + FRAME.size : end]))
        start = end
    del buffer[:start]
    return out


@dataclass(eq=False)
class _Peer:
    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)


class SharedWriter:
    """Listens at ``socket_path`` and commits what arrives at each ``step``. Its
    ``fileno()`` is readable when a step has work, for the host's own selector."""

    def __init__(self, database: Path, socket_path: str) -> None:
        self._database = database
        self.socket_path = socket_path
        self._conn: sqlite3.Connection | None = None
        self._lock_fd = -1
        self._open()  # a database that cannot be opened stops the server before the workers
        if os.path.exists(socket_path):
            os.unlink(socket_path)  # the socket of a writer that was killed
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(socket_path)
        self._listener.listen(128)
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)

    def fileno(self) -> int:
        return self._selector.fileno()

    def step(self, timeout: float | None = 0) -> None:
        """Accept, read every whole request that is there, commit them, answer.

        A batch of fewer than ``YIELD_BELOW`` requests first gives the core back once
        (``sched_yield``), then reads again. The request that woke this writer was written
        by a worker in the middle of its event loop's turn, and Linux's wake-up preemption
        runs the writer at once on that worker's core: the worker's other messages of the
        same turn would then each wait for a commit of their own. Yielding lets the worker
        finish its turn (their requests join this batch) when it shares the core; on an idle
        core it returns at once. Measured (docs/benchmarks.md, "a tenth machine"): commits
        per message 0.50 -> 0.25 in case b at 50, the server's CPU a message 5-12% lower."""
        pending = self._gather(timeout)
        if 0 < len(pending) < YIELD_BELOW:
            os.sched_yield()
            pending.extend(self._gather(0))
        while pending:
            self._commit(pending[:MAX_BATCH])
            del pending[:MAX_BATCH]

    def _gather(self, timeout: float | None) -> list[tuple[_Peer, Request]]:
        """Accept whoever connected; every whole request that arrived, in order per peer."""
        pending: list[tuple[_Peer, Request]] = []
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                self._accept()
            else:
                pending.extend((key.data, request) for request in self._read(key.data))
        return pending

    def before_fork(self) -> None:
        """Close the database and the lock file: no child may inherit them."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def in_child(self) -> None:
        """In a new child (after ``before_fork``): close the sockets, nothing else. The
        selector is closed, not emptied: its registrations are the parent's too."""
        for key in self._selector.get_map().values():
            if key.data is not None:
                key.data.sock.close()
        self._selector.close()
        self._listener.close()

    def close(self) -> None:
        """Stop serving: every connection, the socket file, the database (once)."""
        if self._listener.fileno() < 0:
            return
        for key in list(self._selector.get_map().values()):
            if key.data is not None:
                self._drop(key.data)
        self._selector.close()
        self._listener.close()
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)
        self.before_fork()

    def _open(self) -> tuple[sqlite3.Connection, int]:
        if self._conn is None:
            conn = sqlite3.connect(
                self._database, isolation_level=None, check_same_thread=False, timeout=10
            )
            for pragma in (*sql.WRITER_PRAGMAS, CACHE_PRAGMA):
                conn.execute(pragma)
            self._conn = conn
        if self._lock_fd < 0:
            self._lock_fd = open_lock_file(writer_lock_path(self._database))
        return self._conn, self._lock_fd

    def _accept(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except BlockingIOError:
            return
        except OSError as exc:  # out of descriptors, a connection reset while queued:
            log.warning("queue writer: accept failed: %s", exc)  # that worker retries
            return
        uid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
        if uid != os.getuid():
            log.warning("queue writer: refused a connection from uid %d", uid)
            sock.close()
            return
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ, _Peer(sock))

    def _read(self, peer: _Peer) -> list[Request]:
        try:
            chunk = peer.sock.recv(READ_SIZE)
        except BlockingIOError:
            return []
        except OSError:
            chunk = b""
        if chunk:
            peer.buffer += chunk
            try:
                return unframe(peer.buffer)
            except Exception:
                log.exception("queue writer: unreadable request; dropping that worker")
        self._drop(peer)
        return []

    def _drop(self, peer: _Peer) -> None:
        if peer.sock.fileno() < 0:
            return  # already dropped (a second batch of this step had answers for it)
        self._selector.unregister(peer.sock)
        peer.sock.close()

    def _commit(self, pending: list[tuple[_Peer, Request]]) -> None:
        writes = [_operation(name, kwargs) for _, (_, name, kwargs) in pending]
        try:
            conn, lock_fd = self._open()
            with writer_turn(lock_fd):
                errors = [error for _, error in apply_batch(conn, writes)]
        except Exception as exc:
            failed = StoreError(f"queue write failed, nothing from this batch was stored: {exc}")
            errors = [failed] * len(pending)
        answers: dict[_Peer, list[bytes]] = {}
        for (peer, (request_id, _, _)), error in zip(pending, errors, strict=True):
            answers.setdefault(peer, []).append(frame((request_id, error)))
        for peer, frames in answers.items():
            self._answer(peer, b"".join(frames))

    def _answer(self, peer: _Peer, data: bytes) -> None:
        """Answers are a few bytes: one non-blocking send nearly always takes them all.
        What the socket cannot take now is sent with a deadline (two ``ioctl`` and a
        ``poll`` more): a worker that reads none of its answers for ``ANSWER_TIMEOUT`` is
        dropped, not waited for."""
        try:
            try:
                sent = peer.sock.send(data)
            except BlockingIOError:
                sent = 0
            if sent < len(data):
                peer.sock.settimeout(ANSWER_TIMEOUT)
                peer.sock.sendall(memoryview(data)[sent:])
                peer.sock.setblocking(False)
        except OSError:  # that worker is gone; its callers were never answered 250
            self._drop(peer)


def _operation(name: str, kwargs: dict[str, Any]) -> Callable[[sqlite3.Connection], Any]:
    op = OPERATIONS.get(name)
    if op is None:
        return partial(_refuse, name)
    return partial(op, **kwargs)


def _refuse(name: str, conn: sqlite3.Connection) -> None:
    raise StoreError(f"queue writer: no operation {name!r}")
