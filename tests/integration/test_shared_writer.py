"""The queue writer (``store.sqlite.shared_writer``) and a worker's side of it
(``writer_client``), in real processes over a real Unix socket on a real SQLite file.

What must hold: every write it answered is committed; one bad write fails only its sender;
a writer that is not there, or dies, never turns into a lost or falsely acknowledged
message (the worker writes through its own writer, or answers an error); only the same
user is served; a process forked beside it (a worker) inherits none of its database, lock
file or sockets, and it commits again after the fork.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.ids import new_message_id
from sealpost.model.queue import Submitted
from sealpost.store.errors import DuplicateError, StoreError
from sealpost.store.sqlite import SqliteStore, shared_writer
from sealpost.store.sqlite.shared_writer import OPERATIONS, SharedWriter, frame, unframe
from sealpost.store.sqlite.writer import writer_lock_path
from tests.forked import start_child, wait_child

T0 = 1_700_000_000.0


def _message(tag: str = "x") -> InboundMessage:
    session = SessionInfo("mx", "192.0.2.1", 2525, helo="client.example")
    body = f"Subject: {tag}\r\n\r\n".encode() + b"x" * 3000
    return InboundMessage(Envelope("a@example.org", ("b@example.net",)), session, body)


class WriterProcess:
    """A ``SharedWriter`` in a process of its own, stepped as the supervisor's loop steps
    it (so a test can stop and kill it without killing pytest)."""

    def __init__(self, database: Path, directory: Path) -> None:
        self.database = database
        self.socket_path = str(directory / "writer.sock")
        self.pid = 0

    def start(self) -> WriterProcess:
        ready_read, ready_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(ready_read)
                writer = SharedWriter(self.database, self.socket_path)
                os.write(ready_write, b"ready\n")
                while True:
                    writer.step(None)
            finally:
                os._exit(1)
        os.close(ready_write)
        with os.fdopen(ready_read, "rb") as ready:
            assert ready.readline() == b"ready\n"
        self.pid = pid
        return self

    def stop(self) -> None:
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = 0


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "queue.db"

    async def create() -> None:
        async with SqliteStore(path):
            pass  # creates and migrates the file, as prepare() does before the fork

    asyncio.run(create())
    return path


@pytest.fixture
def writer(database: Path, tmp_path: Path) -> Iterator[WriterProcess]:
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    process = WriterProcess(database, run_dir).start()
    yield process
    process.stop()


async def _enqueue_all(store: SqliteStore, count: int) -> list[str]:
    ids = [new_message_id(T0) for _ in range(count)]
    await asyncio.gather(*(store.enqueue(i, _message(i), T0) for i in ids))
    return ids


def test_mail_from_two_processes_is_committed_by_the_writer(database: Path, writer):
    """Two worker processes at once: all their mail is stored, and all of it went over the
    socket (none through a worker's own writer thread)."""

    def worker() -> None:
        async def main() -> None:
            async with SqliteStore(database) as store:
                store.share_writer(writer.socket_path)
                await _enqueue_all(store, 150)
                assert store._shared is not None and store._shared.sent == 150
                assert store.writes == 0  # its own writer committed none of them

        asyncio.run(main())

    children = [start_child(worker) for _ in range(2)]  # both at once, as two workers
    assert [wait_child(pid) for pid in children] == [0, 0]

    async def count() -> dict[str, int]:
        async with SqliteStore(database) as store:
            return await store.count()

    assert asyncio.run(count())["queued"] == 300


def test_a_duplicate_fails_only_its_sender_and_keeps_its_type(database: Path, writer):
    async def main() -> None:
        async with SqliteStore(database) as store:
            store.share_writer(writer.socket_path)
            taken = new_message_id(T0)
            await store.enqueue(taken, _message(), T0)
            results = await asyncio.gather(
                store.enqueue(taken, _message(), T0),
                store.enqueue(new_message_id(T0), _message(), T0),
                return_exceptions=True,
            )
            assert isinstance(results[0], DuplicateError)
            assert results[1] is None
            assert (await store.count())["queued"] == 2

    asyncio.run(main())


def test_without_a_writer_process_the_worker_writes_itself(database: Path, tmp_path: Path):
    async def main() -> None:
        async with SqliteStore(database) as store:
            store.share_writer(str(tmp_path / "nobody-listens.sock"))
            await _enqueue_all(store, 5)
            assert store.writes == 5
            assert (await store.count())["queued"] == 5

    asyncio.run(main())


def test_a_message_the_killed_writer_did_not_answer_is_written_by_the_worker(
    database: Path, writer
):
    """The writer is stopped before it reads the request, then killed: the message was
    never committed, so the worker writes it itself (one copy), and the next ones too."""

    async def main() -> None:
        async with SqliteStore(database) as store:
            store.share_writer(writer.socket_path)
            await _enqueue_all(store, 2)  # connected
            os.kill(writer.pid, signal.SIGSTOP)
            message_id = new_message_id(T0)
            pending = asyncio.ensure_future(store.enqueue(message_id, _message(), T0))
            await asyncio.sleep(0.2)
            assert not pending.done()  # a stopped writer: no answer, so no 250
            writer.stop()  # SIGKILL
            await asyncio.wait_for(pending, 10)
            assert store.writes == 1
            assert await store.get(message_id) is not None
            await _enqueue_all(store, 3)
            assert store.writes == 4
            assert (await store.count())["queued"] == 6

    asyncio.run(main())


def test_a_message_the_killed_writer_committed_is_not_stored_twice(database: Path, tmp_path: Path):
    """The answer is lost after the commit (a writer that commits and then dies): the
    worker's second write finds the id taken, which proves the commit; success, one copy."""
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    socket_path = str(run_dir / "writer.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(1)

    def commit_then_die() -> None:  # a writer that dies between COMMIT and the answer
        peer, _ = listener.accept()
        buffer = bytearray()
        while not (requests := unframe(buffer)):
            buffer += peer.recv(65536)
        _, name, kwargs = requests[0]

        async def commit() -> None:
            async with SqliteStore(database) as other:
                await other._write(partial(OPERATIONS[name], **kwargs))

        asyncio.run(commit())
        peer.close()

    async def main() -> None:
        async with SqliteStore(database) as store:
            store.share_writer(socket_path)
            message_id = new_message_id(T0)
            dying = asyncio.get_running_loop().run_in_executor(None, commit_then_die)
            await store.enqueue(message_id, _message(), T0)
            await dying
            assert await store.get(message_id) is not None
            assert store.writes == 0  # its own write found the id taken: nothing new
            assert (await store.count())["queued"] == 1

    try:
        asyncio.run(main())
    finally:
        listener.close()


def test_a_transmission_the_writer_did_not_answer_is_an_error(database: Path, writer):
    """A batch (the API) is not written again behind the caller's back: its caller gets
    the error and retries with its idempotency key."""

    async def main() -> None:
        async with SqliteStore(database) as store:
            store.share_writer(writer.socket_path)
            await _enqueue_all(store, 1)  # connected
            os.kill(writer.pid, signal.SIGSTOP)
            item = Submitted(new_message_id(T0), _message())
            pending = asyncio.ensure_future(store.enqueue_batch([item], T0))
            await asyncio.sleep(0.2)
            writer.stop()  # SIGKILL
            with pytest.raises(StoreError, match="ended before answering"):
                await asyncio.wait_for(pending, 10)

    asyncio.run(main())


def test_a_message_too_big_for_the_socket_is_written_by_the_worker(
    database: Path, writer, monkeypatch: pytest.MonkeyPatch
):
    """Past the writer's frame limit (a ``max_message_size`` above it), nothing is sent:
    the worker writes that message itself."""
    monkeypatch.setattr("sealpost.store.sqlite.writer_client.MAX_FRAME", 2000)

    async def main() -> None:
        async with SqliteStore(database) as store:
            store.share_writer(writer.socket_path)
            await _enqueue_all(store, 1)  # 3 KB: above the lowered limit
            assert store.writes == 1 and store._shared is not None
            assert store._shared.sent == 0

    asyncio.run(main())


def test_an_unknown_operation_is_refused_alone(writer):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(writer.socket_path)
        sock.sendall(frame((1, "drop_everything", {})))
        answers = _answers(sock, 1)
    assert answers[0][0] == 1
    assert isinstance(answers[0][1], StoreError)
    assert "no operation 'drop_everything'" in str(answers[0][1])


def _refused_requests(count: int, first: int = 1) -> bytes:
    """``count`` requests, numbered from ``first``, that the writer answers with an error
    each (about 200 bytes apiece)."""
    return b"".join(frame((n, "no_such_operation", {})) for n in range(first, first + count))


def test_answers_the_socket_cannot_take_at_once_arrive_whole_and_in_order(
    database: Path, tmp_path: Path
):
    """More answers than a Unix socket's buffer holds: the part a non-blocking send could
    not take goes out as the worker reads, none lost, none twice."""
    writer = SharedWriter(database, str(tmp_path / "writer.sock"))
    count = 3000
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(writer.socket_path)
        sock.sendall(_refused_requests(count))
        stepping = threading.Thread(target=lambda: [writer.step(1) for _ in range(4)])
        stepping.start()
        answers = _answers(sock, count)
        stepping.join(timeout=30)
    assert [request_id for request_id, _ in answers] == list(range(1, count + 1))
    assert all(isinstance(error, StoreError) for _, error in answers)


def test_a_worker_that_reads_no_answers_is_dropped_not_waited_for(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("sealpost.store.sqlite.shared_writer.ANSWER_TIMEOUT", 0.3)
    writer = SharedWriter(database, str(tmp_path / "writer.sock"))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(writer.socket_path)
        sock.sendall(_refused_requests(3000))
        stepping = threading.Thread(target=lambda: [writer.step(1) for _ in range(4)])
        stepping.start()
        stepping.join(timeout=30)  # the answers' deadline passes: the writer goes on
        assert not stepping.is_alive()
        sock.settimeout(10)  # a connection still open would time out here, not end
        received = bytearray()
        while chunk := sock.recv(65536):  # what it sent before the deadline, then the end
            received += chunk
    assert 0 < len(unframe(received)) < 3000


def _batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch the writer commits from now on."""
    sizes: list[int] = []
    real = shared_writer.apply_batch

    def recording(conn: sqlite3.Connection, ops: Sequence[Any]) -> list[Any]:
        sizes.append(len(ops))
        return real(conn, ops)

    monkeypatch.setattr(shared_writer, "apply_batch", recording)
    return sizes


def test_a_small_batch_waits_for_its_senders_turn_and_commits_once(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """One request woke the writer; while it gives the core back, the worker sends the
    rest of its turn: all of them go into one commit, each answered."""
    writer = SharedWriter(database, str(tmp_path / "writer.sock"))
    sizes = _batches(monkeypatch)
    yields: list[int] = []
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(writer.socket_path)
            writer.step(5)  # the connection is accepted; nothing to commit, no yield

            def the_workers_turn() -> None:  # what the worker does while the writer yields
                yields.append(len(sizes))
                sock.sendall(_refused_requests(2, first=2))

            monkeypatch.setattr(os, "sched_yield", the_workers_turn)
            sock.sendall(_refused_requests(1))
            writer.step(5)
            answers = _answers(sock, 3)
    finally:
        writer.close()
    assert yields == [0]  # once, before any commit
    assert sizes == [3]
    assert [request_id for request_id, _ in answers] == [1, 2, 3]


def test_a_batch_of_yield_below_or_more_commits_at_once(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    writer = SharedWriter(database, str(tmp_path / "writer.sock"))
    sizes = _batches(monkeypatch)
    yields: list[str] = []
    monkeypatch.setattr(os, "sched_yield", lambda: yields.append("yield"))
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(writer.socket_path)
            writer.step(5)
            sock.sendall(_refused_requests(shared_writer.YIELD_BELOW))
            writer.step(5)
            answers = _answers(sock, shared_writer.YIELD_BELOW)
    finally:
        writer.close()
    assert yields == []
    assert sizes == [shared_writer.YIELD_BELOW]
    assert len(answers) == shared_writer.YIELD_BELOW


def test_another_user_is_not_served(database: Path, tmp_path: Path):
    """The socket's directory is private; the writer checks the peer's uid as well."""
    if os.getuid() != 0:
        pytest.skip("needs root to connect as another user")
    run_dir = Path(tempfile.mkdtemp(prefix="sealpost-open-run-"))  # pytest's tree is 0700
    os.chmod(run_dir, 0o777)
    process = WriterProcess(database, run_dir).start()
    try:
        os.chmod(process.socket_path, 0o777)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            outcome = b"?"
            try:
                os.setuid(65534)
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(5)
                    sock.connect(process.socket_path)
                    sock.sendall(frame((1, "drop_everything", {})))
                    outcome = b"closed" if sock.recv(100) == b"" else b"answered"
            except OSError:
                outcome = b"closed"
            finally:
                os.write(write_end, outcome)
                os._exit(0)
        os.waitpid(pid, 0)
        os.close(write_end)
        assert os.read(read_end, 100) == b"closed"
        os.close(read_end)
    finally:
        process.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def test_a_child_forked_beside_the_writer_inherits_nothing_of_it(database: Path, tmp_path: Path):
    """The supervisor's fork: after ``before_fork`` and the child's ``in_child``, the child
    holds no descriptor of the database, its WAL, the lock file or the writer's sockets (an
    inherited SQLite connection or ``flock`` is unsafe); the writer then commits again."""
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    writer = SharedWriter(database, str(run_dir / "writer.sock"))
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(writer.socket_path)
            sock.sendall(frame((1, "drop_everything", {})))  # a peer, and a commit's turn
            while not _answered(sock):
                writer.step(1)
            sockets = [key.fd for key in writer._selector.get_map().values()]
            writer.before_fork()
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                try:
                    writer.in_child()
                    left = [fd for fd in sockets if _is_open(fd)] + [
                        target for target in _open_files() if str(database) in target
                    ]
                    os.write(write_end, repr(left).encode())
                finally:
                    os._exit(0)
            os.close(write_end)
            with os.fdopen(read_end) as report:
                assert report.read() == "[]"
            os.waitpid(pid, 0)
        assert not [t for t in _open_files() if t.startswith(str(writer_lock_path(database)))]
        stop = threading.Event()

        def serve() -> None:  # the supervisor's loop, reduced to the writer
            while not stop.is_set():
                writer.step(0.05)

        serving = threading.Thread(target=serve)
        serving.start()

        async def main() -> None:
            async with SqliteStore(database) as store:
                store.share_writer(writer.socket_path)
                await _enqueue_all(store, 3)
                assert store.writes == 0  # all three committed by the writer, reopened
                assert (await store.count())["queued"] == 3

        try:
            asyncio.run(main())
        finally:
            stop.set()
            serving.join(10)
    finally:
        writer.close()


def _answered(sock: socket.socket) -> bool:
    """Whether an answer is waiting on ``sock`` (read without blocking)."""
    try:
        return bool(sock.recv(65536, socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _open_files() -> list[str]:
    out = []
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            out.append(os.readlink(f"/proc/self/fd/{name}"))
    return out


def _answers(sock: socket.socket, count: int) -> list[tuple[int, BaseException | None]]:
    sock.settimeout(10)
    buffer = bytearray()
    answers: list[tuple[int, BaseException | None]] = []
    while len(answers) < count:
        chunk = sock.recv(65536)
        assert chunk, "the writer closed the connection"
        buffer += chunk
        answers.extend(unframe(buffer))
    return answers
