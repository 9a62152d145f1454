"""Several processes writing one SQLite queue (``[server] workers``): the writers take turns
on the ``<db>-writer.lock`` flock, so a batch never sleeps in SQLite's busy handler, and every
acknowledged write of every process is stored."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import threading

from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.ids import new_message_id
from sealpost.store.sqlite import SqliteStore
from sealpost.store.sqlite.database import writer_lock_path

T0 = 1_700_000_000.0
PER_PROCESS = 300
CONCURRENCY = 30


def _message() -> InboundMessage:
    session = SessionInfo("mx", "192.0.2.1", 2525, helo="client.example")
    return InboundMessage(
        Envelope("a@example.org", ("b@example.net",)), session, b"Subject: x\r\n\r\n" + b"x" * 4000
    )


async def _fill(path: os.PathLike[str], count: int) -> int:
    async with SqliteStore(path) as store:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one() -> None:
            async with semaphore:
                await store.enqueue(new_message_id(T0), _message(), T0)

        await asyncio.gather(*(one() for _ in range(count)))
    return count


def _child(path: os.PathLike[str], write_fd: int) -> None:
    busy = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            busy.append(record.getMessage())

    logging.getLogger("sealpost.store.sqlite.writer").addHandler(Catch(logging.WARNING))
    stored = asyncio.run(_fill(path, PER_PROCESS))
    os.write(write_fd, f"{stored} {len(busy)}".encode())


def test_two_processes_write_one_queue_without_busy_waits(tmp_path):
    path = tmp_path / "queue.db"
    asyncio.run(_fill(path, 1))  # create and migrate once, as the supervisor does
    pids, reads = [], []
    for _ in range(2):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                os.close(read)
                _child(path, write)
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        pids.append(pid)
        reads.append(read)
    reports = []
    for pid, read in zip(pids, reads, strict=True):
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        reports.append(os.read(read, 100).decode().split())
        os.close(read)
    assert reports == [[str(PER_PROCESS), "0"], [str(PER_PROCESS), "0"]]

    async def count() -> dict[str, int]:
        async with SqliteStore(path) as store:
            return await store.count()

    assert asyncio.run(count())["queued"] == 2 * PER_PROCESS + 1


def test_a_writing_batch_holds_the_writer_lock(tmp_path):
    """While a batch runs, no other writer (another open of the lock file, as another
    process makes) can take the writers' lock."""
    path = tmp_path / "queue.db"
    inside = threading.Event()
    release = threading.Event()

    async def main() -> None:
        async with SqliteStore(path) as store:
            writer = store._writer  # the GroupCommitWriter of this store

            def slow(conn):
                inside.set()
                release.wait(10)
                return None

            task = asyncio.ensure_future(writer.submit(slow))
            await asyncio.to_thread(inside.wait, 10)
            fd = os.open(writer_lock_path(path), os.O_RDWR)  # as another process would
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    answer = "free"
                except BlockingIOError:
                    answer = "held"
            finally:
                os.close(fd)
            release.set()
            await task
            assert answer == "held"

    asyncio.run(main())
