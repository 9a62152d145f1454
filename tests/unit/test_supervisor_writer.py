"""``workers.supervisor`` and the queue writer it runs in its loop: the writer's turn comes
when its descriptor is readable, a fork is preceded by ``before_fork`` and followed in the
child by ``in_child``, and a writer whose steps keep raising is closed, never taking the
supervisor (and with it every worker) down. Each check runs a real supervisor and a real
forked worker in a fresh interpreter: the supervisor installs signal handlers and forks."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, os, signal, sys, time
from sealpost.inbound.shared_limits import LimitBoard
from sealpost.workers.supervisor import WRITER_FAILURES, Supervisor

class Writer:
    '''Always readable; ``fail`` steps raise, then it would work.'''
    socket_path = ""

    def __init__(self, fail):
        self.read_end, self.write_end = os.pipe()
        os.write(self.write_end, b"x")  # readable for good: the loop keeps calling step
        self.fail = fail
        self.calls = {"step": 0, "before_fork": 0, "close": 0}
        self.child_pipe = os.pipe()

    def fileno(self):
        return self.read_end

    def step(self, timeout=0):
        self.calls["step"] += 1
        if self.calls["step"] <= self.fail:
            raise RuntimeError("a broken step")
        if self.calls["step"] >= self.fail + 3 and READY and not STOPPED:
            STOPPED.append(True)  # it worked again, the worker is up: stop the server
            os.kill(os.getpid(), signal.SIGTERM)

    def before_fork(self):
        self.calls["before_fork"] += 1

    def in_child(self):
        os.write(self.child_pipe[1], b"in_child")

    def close(self):
        self.calls["close"] += 1
        os.kill(os.getpid(), signal.SIGTERM)

def worker(seat):
    seat.report_ready()
    time.sleep(60)  # SIGTERM (default action in the child) ends it
    return 0

READY, STOPPED = [], []
fail = int(sys.argv[1])
writer = Writer(fail)
board = LimitBoard(1, 10, 60.0, 60.0)
supervisor = Supervisor(1, {}, board, worker, lambda: READY.append(True), writer=writer)
status = supervisor.run()
os.set_blocking(writer.child_pipe[0], False)
print(json.dumps({
    "status": status, "calls": writer.calls, "limit": WRITER_FAILURES,
    "child": os.read(writer.child_pipe[0], 100).decode(),
}))
"""


def _run(fail: int) -> tuple[dict[str, object], str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(fail)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout), done.stderr


def test_a_writer_that_keeps_failing_is_closed_and_the_supervisor_stays():
    result, log = _run(fail=1000)
    assert result["status"] == 0  # stopped by SIGTERM (from close), not by an exception
    calls = result["calls"]
    assert isinstance(calls, dict)
    assert calls["step"] == result["limit"]  # given up after that many, not called again
    assert calls["close"] == 1
    assert "the queue writer failed 10 times in a row; closed" in log


def test_a_failure_or_two_is_logged_and_the_writer_serves_on():
    result, log = _run(fail=2)
    assert result["status"] == 0
    calls = result["calls"]
    assert isinstance(calls, dict)
    assert calls["close"] == 0
    # Two failures, then steps: the third good one stops the server, and the writer serves
    # on until the worker is gone.
    assert isinstance(calls["step"], int) and calls["step"] >= 5
    assert log.count("RuntimeError: a broken step") == 2


def test_a_fork_is_bracketed_by_the_writers_before_fork_and_in_child():
    result, _ = _run(fail=0)
    calls = result["calls"]
    assert isinstance(calls, dict)
    assert calls["before_fork"] == 1  # one worker forked
    assert result["child"] == "in_child"


FORK_RACE = """
import logging, os, signal, time
from sealpost.inbound.shared_limits import LimitBoard
from sealpost.workers.supervisor import Supervisor

leave = Supervisor._leave_supervisor

def leave_after_a_sigterm(self):
    os.kill(os.getpid(), signal.SIGTERM)  # in the new child, before its handlers are its own
    leave(self)

Supervisor._leave_supervisor = leave_after_a_sigterm

def worker(seat):
    seat.report_ready()
    time.sleep(60)
    return 0

logging.basicConfig(level=logging.INFO)
board = LimitBoard(1, 10, 60.0, 60.0)
raise SystemExit(Supervisor(1, {}, board, worker, lambda: None).run())
"""


def test_a_signal_for_a_child_still_forking_is_its_own_not_the_supervisors():
    """A SIGTERM that reaches a worker before it has dropped the supervisor's handlers
    waits (blocked across the fork) and then ends that worker; it is not written into the
    supervisor's wake-up socket, where it read as a stop signal for the whole server."""
    done = subprocess.run(
        [sys.executable, "-c", FORK_RACE], capture_output=True, text=True, timeout=60
    )
    assert "stopping: SIGTERM" not in done.stderr, done.stderr
    assert "could not start: was killed by SIGTERM" in done.stderr, done.stderr
    assert done.returncode == 1
