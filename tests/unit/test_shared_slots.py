"""``delivery.shared_slots``: per-domain delivery sessions counted across worker processes.

The board is real shared memory: the cross-process tests fork children that take slots, as
the workers do, and the parent (the supervisor's place) sees their counts and forgets a
killed one's."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable

from sealpost.delivery.shared_slots import DomainBoard, SharedDomainSlots


def test_the_limit_holds_across_workers_and_a_freed_slot_is_taken_again():
    board = DomainBoard(workers=2, sessions=10)
    first = board.take("example.test", 3, worker=0)
    second = board.take("EXAMPLE.test.", 3, worker=1)  # the same domain, spelled otherwise
    third = board.take("example.test", 3, worker=1)
    assert first is not None and second == first and third == first
    assert board.take("example.test", 3, worker=0) is None  # three held: the limit
    assert board.take("other.test", 3, worker=0) is not None  # another domain is not held
    board.free("example.test", first, worker=1)
    assert board.held("example.test") == 2
    assert board.take("example.test", 3, worker=0) is not None
    assert board.held("example.test") == 3


def test_freeing_someone_elses_entry_or_more_than_taken_changes_nothing():
    board = DomainBoard(workers=2, sessions=10)
    index = board.take("a.test", 5, worker=0)
    assert index is not None
    board.free("b.test", index, worker=0)  # not a.test's entry: ignored
    board.free("a.test", index, worker=1)  # worker 1 held none: stays at zero
    assert board.held("a.test") == 1
    board.free("a.test", index, worker=0)
    board.free("a.test", index, worker=0)
    assert board.held("a.test") == 0
    assert board.take("a.test", 1, worker=0) is not None  # not below zero: one is the limit
    assert board.take("a.test", 1, worker=1) is None


def test_a_full_run_says_no_slot_and_entries_without_sessions_are_reused():
    board = DomainBoard(workers=1, sessions=1)
    names = [f"d{n}.test" for n in range(2 * board.entries)]  # more than the table holds
    taken = [board.take(name, 1, worker=0) for name in names]
    assert taken.count(None) >= board.entries  # every entry is held: the rest are refused
    board.forget_worker(0)  # no session anywhere: every entry may serve another domain
    assert all(board.take(name, 1, worker=0) is not None for name in names[-100:])


def paused_child(work: Callable[[Callable[[], None]], None]) -> int:
    """Fork a worker that runs ``work(ready)`` and, once it has called ``ready()``, waits
    there to be killed; its pid, once it is ready."""
    ready_read, ready_write = os.pipe()

    def ready() -> None:
        os.write(ready_write, b"x")
        signal.pause()

    pid = os.fork()
    if pid == 0:
        try:
            work(ready)
        finally:
            os._exit(0)
    os.close(ready_write)
    assert os.read(ready_read, 1) == b"x"
    os.close(ready_read)
    return pid


def test_a_forked_worker_takes_slots_and_a_dead_ones_are_forgotten():
    board = DomainBoard(workers=2, sessions=10)

    def hold_two(ready: Callable[[], None]) -> None:  # the worker: two sessions, then wait
        board.take("busy.test", 2, worker=1)
        board.take("busy.test", 2, worker=1)
        ready()

    pid = paused_child(hold_two)
    assert board.held("busy.test") == 2
    assert board.take("busy.test", 2, worker=0) is None  # the other worker's two count
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    board.forget_worker(1)  # what the supervisor does when it reaps the worker
    assert board.held("busy.test") == 0
    assert board.take("busy.test", 2, worker=0) is not None


def test_one_workers_domain_slots_over_the_board():
    board = DomainBoard(workers=2, sessions=10)
    mine, theirs = SharedDomainSlots(board, 0), SharedDomainSlots(board, 1)

    async def scenario() -> None:
        slot = await mine.take_domain_slot("x.test", 2, 0.0, 60.0)
        other = await theirs.take_domain_slot("x.test", 2, 0.0, 60.0)
        assert slot is not None and other is not None and slot.domain == "x.test"
        assert await mine.take_domain_slot("x.test", 2, 0.0, 60.0) is None
        await theirs.free_domain_slot(other)
        assert await mine.take_domain_slot("x.test", 2, 0.0, 60.0) is not None

    asyncio.run(scenario())


def test_a_session_is_freed_while_another_worker_holds_the_lock():
    """``free`` takes no lock (one ``lockf`` pair fewer per delivery): a worker in the middle
    of a ``take`` does not hold up another worker's attempt ending."""
    board = DomainBoard(workers=2, sessions=10)
    index = board.take("a.test", 2, worker=0)
    assert index is not None

    def stuck(ready: Callable[[], None]) -> None:  # the other worker, inside an operation
        with board._table.locked():
            ready()

    pid = paused_child(stuck)
    freeing = threading.Thread(target=board.free, args=("a.test", index), kwargs={"worker": 0})
    freeing.start()
    freeing.join(timeout=10)
    done = not freeing.is_alive()
    os.kill(pid, signal.SIGKILL)  # the kernel drops its lock
    os.waitpid(pid, 0)
    freeing.join()
    assert done
    assert board.held("a.test") == 0
