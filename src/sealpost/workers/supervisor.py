"""The supervisor: the parent process when ``[server] workers`` is above 1.

Pre-fork, like nginx or gunicorn. It is handed the listening sockets (bound by the caller
before any event loop, thread or database connection exists in this process), makes the
pipes and the shared limit table (``seat``), and forks the workers. All of them accept on
the same inherited sockets: the kernel hands each new connection to one worker that waits in
``accept``, and a connection waiting in the backlog of a worker that dies is still there for
the others (``SO_REUSEPORT`` would give each worker its own backlog and lose those).

Then it supervises, in a plain ``selectors`` loop with no threads. With SQLite the same
loop runs the queue writer (``store.sqlite.shared_writer``: every worker's new mail, one
commit per turn of the loop), which serves until the last worker is gone (the workers
drain, still writing); a fork waits for the writer's ``before_fork``. A writer whose
steps keep raising is closed, not allowed to end the supervisor: each worker then writes
its own new mail.

- ready: once every worker has reported ready on its pipe, ``on_ready`` runs (the caller
  prints the ``sealpost ready: ...`` line). A worker that fails before that stops everything.
- a worker that dies later (``kill -9``, a crash) has its connections forgotten in the
  limit table (and ``on_exit`` drops its live metric gauges) and is forked again on the
  same seat, and its sessions are forgotten in the table of per-domain delivery sessions;
  the successor releases its seat's delivery leases before it dispatches (the other workers'
  stay theirs). More than
  ``max_restarts`` restarts within ``restart_window`` seconds stop the server: error line,
  exit status 1.
- SIGHUP is forwarded to every worker (each reloads its certificates and the config file:
  ``config_reload``). SIGTERM and SIGINT close this process's copies of the listening
  sockets and are forwarded as SIGTERM; each worker drains as a single-process server does
  (its copies of the sockets stay open, so new connections get 421 4.3.2 meanwhile) and
  reports what it did; the supervisor logs one summary line for all of them
  (``model.drain``). After ``stop_timeout`` seconds the rest are killed. The exit status is
  then 0. A second SIGTERM or SIGINT is forwarded too, and each worker exits at once
  (status 1; whoever is left is killed after a few seconds).
- if the supervisor itself is killed, the lifeline pipe tells every worker (``seat``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sealpost.delivery.shared_slots import DomainBoard
from sealpost.inbound.shared_limits import LimitBoard
from sealpost.model.drain import DrainTally
from sealpost.net.session_tickets import TicketKeyChain
from sealpost.store.change_bell import ChangeBell
from sealpost.workers.budgets import BudgetBoard
from sealpost.workers.prefork import prepare_fork
from sealpost.workers.seat import WorkerSeat

log = logging.getLogger("sealpost.workers")

WorkerMain = Callable[[WorkerSeat], int]  # runs in the child; its exit status
_WRITER = "writer"  # the selector's mark for the queue writer's events
WRITER_FAILURES = 10  # steps in a row that raise before the writer is given up
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_HANDLED = (*_STOP_SIGNALS, signal.SIGHUP, signal.SIGCHLD)


class QueueWriter(Protocol):
    """What the loop needs of the queue writer (``store.sqlite.shared_writer``)."""

    socket_path: str  # where the workers reach it (``WorkerSeat.writer_socket``)

    def fileno(self) -> int: ...  # readable when ``step`` has work

    def step(self, timeout: float | None = 0) -> None: ...

    def before_fork(self) -> None: ...  # nothing a child must not inherit stays open

    def in_child(self) -> None: ...  # the child closes its copies of the writer's sockets

    def close(self) -> None: ...  # its connections drop: each worker writes its own mail


class WorkerStartError(RuntimeError):
    """A worker could not start; the server was stopped."""


@dataclass(slots=True)
class _Child:
    index: int
    pid: int
    ready_fd: int
    ready: bool = False
    error: str = ""
    buffer: bytes = b""


class Supervisor:
    """Forks ``count`` workers running ``main`` and keeps them running; see the module doc."""

    def __init__(
        self,
        count: int,
        sockets: dict[str, socket.socket],
        board: LimitBoard,
        main: WorkerMain,
        on_ready: Callable[[], None],
        *,
        stop_timeout: float = 60.0,
        max_restarts: int = 5,
        restart_window: float = 60.0,
        metrics_dir: str = "",
        on_exit: Callable[[int], None] = lambda pid: None,
        writer: QueueWriter | None = None,
        domain_board: DomainBoard | None = None,
    ) -> None:
        self.count = count
        self._domain_board = domain_board  # per-domain delivery sessions (SQLite)
        self._writer = writer  # the queue writer this loop runs, if the store has one
        self._writer_failures = 0  # its steps that raised, in a row
        self._metrics_dir = metrics_dir
        self._on_exit = on_exit  # a worker's pid, once it is reaped
        self._sockets = sockets
        self._main = main
        self._on_ready = on_ready
        self._stop_timeout = stop_timeout
        self._max_restarts = max_restarts
        self._restart_window = restart_window
        self._lifeline_read, self._lifeline_write = os.pipe()
        os.set_blocking(self._lifeline_read, False)
        self._board = board
        self._changes = ChangeBell(count)
        self._budgets = BudgetBoard()
        self._tickets = TicketKeyChain.new(time.time())  # ratcheted here too (``_step``)
        self._children: dict[int, _Child] = {}  # by pid
        self._restarts: deque[float] = deque()
        self._selector = selectors.DefaultSelector()
        self._signals_read, self._signals_write = socket.socketpair()
        self._all_ready = False
        self._stopping_since: float | None = None
        self._status = 0
        self._drained: DrainTally | None = None  # the workers' drains, added up

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        """Serve until stopped; the exit status (0 after SIGTERM/SIGINT)."""
        self._install_signals()
        try:
            if self._writer is not None:
                self._selector.register(self._writer, selectors.EVENT_READ, _WRITER)
            for index in range(self.count):
                self._spawn(index)
            while self._children or self._stopping_since is None:
                self._step()
        finally:
            self._restore_signals()
        if self._drained is not None:
            log.info("%s", self._drained.line())
        return self._status

    def _step(self) -> None:
        self._tickets.advance(time.time())  # a worker forked later starts at the hour's key
        for key, _ in self._selector.select(0.5):
            if key.fileobj is self._signals_read:
                self._on_signals()
            elif key.data is _WRITER:
                self._step_writer()
            else:
                self._on_report(key.data)
        self._reap()
        since = self._stopping_since
        if since is not None and time.monotonic() > since + self._stop_timeout:
            for child in self._children.values():
                log.warning("%s (pid %d) did not stop in time; killed", _name(child), child.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)
            self._stopping_since = time.monotonic()  # reap them, then leave

    def _step_writer(self) -> None:
        """The queue writer's turn. It answers its own errors to the senders; anything that
        still escapes is logged and never ends the supervisor (whose death stops every
        worker). A writer that keeps failing is closed: each worker then writes its own new
        mail, as when the writer is gone (``writer_client``)."""
        writer = self._writer
        assert writer is not None
        try:
            writer.step(0)
        except Exception:
            self._writer_failures += 1
            log.exception("the queue writer failed (%d in a row)", self._writer_failures)
            if self._writer_failures >= WRITER_FAILURES:
                log.error(
                    "the queue writer failed %d times in a row; closed: each worker writes "
                    "its own new mail from now on",
                    self._writer_failures,
                )
                self._selector.unregister(writer)
                self._writer = None
                writer.close()
        else:
            self._writer_failures = 0

    # --- workers ----------------------------------------------------------------------------
    def _spawn(self, index: int) -> None:
        if threading.active_count() != 1:  # fork copies only the calling thread
            names = ", ".join(t.name for t in threading.enumerate())
            raise RuntimeError(f"the supervisor must not run threads before forking: {names}")
        ready_read, ready_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        if self._writer is not None:
            self._writer.before_fork()
        prepare_fork()  # collected, trimmed and frozen: what the children share (prefork)
        # Until the child has its own handlers, a signal for it (a SIGTERM forwarded at
        # once) must wait: the supervisor's handler would write it into the supervisor's
        # wake-up socket (a second stop, as if sent twice) and the child would not stop.
        signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
            raise
        if pid == 0:  # the worker: never returns into the supervisor's code
            status = 1
            try:
                os.close(ready_read)
                status = self._main(self._enter_child(index, ready_write))
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(status)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
        os.close(ready_write)
        child = _Child(index, pid, ready_read)
        self._children[pid] = child
        self._selector.register(ready_read, selectors.EVENT_READ, child)
        log.info("%s started (pid %d)", _name(child), pid)

    def _enter_child(self, index: int, ready_write: int) -> WorkerSeat:
        """In the new worker: drop what only the supervisor holds, give back the signals."""
        self._leave_supervisor()
        return WorkerSeat(
            index=index,
            sockets=self._sockets,
            board=self._board,
            lifeline=self._lifeline_read,
            changes=self._changes,
            budgets=self._budgets,
            tickets=self._tickets,
            workers=self.count,
            domain_board=self._domain_board,
            ready=ready_write,
            metrics_dir=self._metrics_dir,
            # A writer given up (``_step_writer``): new workers write their own mail at once.
            writer_socket=self._writer.socket_path if self._writer is not None else "",
        )

    def _leave_supervisor(self) -> None:
        signal.set_wakeup_fd(-1)
        for sig in _HANDLED:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until its loop handles it
        self._selector.close()  # closed, not emptied: the registrations are the parent's too
        if self._writer is not None:
            self._writer.in_child()
        self._signals_read.close()
        self._signals_write.close()
        for child in self._children.values():
            os.close(child.ready_fd)
        os.close(self._lifeline_write)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)  # blocked for the fork

    def _on_report(self, child: _Child) -> None:
        try:
            data = os.read(child.ready_fd, 4096)
        except OSError:
            data = b""
        if not data:
            self._selector.unregister(child.ready_fd)
            return
        child.buffer += data
        while b"\n" in child.buffer:
            line, child.buffer = child.buffer.split(b"\n", 1)
            text = line.decode("utf-8", "replace")
            if text == "ready":
                child.ready = True
                log.info("%s ready (pid %d)", _name(child), child.pid)
            elif text.startswith("error "):
                child.error = text[len("error ") :]
            else:
                self._note_drain(text)
        children = self._children.values()
        if not self._all_ready and len(children) == self.count and all(c.ready for c in children):
            self._all_ready = True
            self._on_ready()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self._children.pop(pid, None)
            if child is None:
                continue
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(child.ready_fd)
            self._on_report_leftover(child)
            os.close(child.ready_fd)
            self._board.forget_worker(child.index)
            if self._domain_board is not None:
                self._domain_board.forget_worker(child.index)
            self._on_exit(pid)
            self._exited(child, _describe(status))

    def _on_report_leftover(self, child: _Child) -> None:
        """Read what the worker wrote just before it died (its error line)."""
        with contextlib.suppress(OSError):
            child.buffer += os.read(child.ready_fd, 4096)
        for line in child.buffer.split(b"\n"):
            if line.startswith(b"error "):
                child.error = line[len(b"error ") :].decode("utf-8", "replace")
            else:
                self._note_drain(line.decode("utf-8", "replace"))
        child.buffer = b""

    def _note_drain(self, text: str) -> None:
        tally = DrainTally.from_wire(text)
        if tally is not None:
            self._drained = tally if self._drained is None else self._drained + tally

    def _exited(self, child: _Child, how: str) -> None:
        if self._stopping_since is not None:
            log.info("%s (pid %d) %s", _name(child), child.pid, how)
            return
        if not self._all_ready:
            reason = child.error or how
            log.error("%s could not start: %s; stopping", _name(child), reason)
            self._begin_stop(status=1)
            return
        now = time.monotonic()
        self._restarts.append(now)
        while self._restarts and self._restarts[0] < now - self._restart_window:
            self._restarts.popleft()
        if len(self._restarts) > self._max_restarts:
            log.error(
                "%s (pid %d) %s: %d restarts within %.0f s, the workers keep dying; "
                "stopping the server",
                _name(child),
                child.pid,
                how,
                len(self._restarts),
                self._restart_window,
            )
            self._begin_stop(status=1)
            return
        log.error("%s (pid %d) %s; starting it again", _name(child), child.pid, how)
        self._spawn(child.index)

    # --- signals ----------------------------------------------------------------------------
    def _install_signals(self) -> None:
        self._signals_read.setblocking(False)
        self._signals_write.setblocking(False)
        self._selector.register(self._signals_read, selectors.EVENT_READ)
        for sig in _HANDLED:
            signal.signal(sig, _noted)
        signal.set_wakeup_fd(self._signals_write.fileno(), warn_on_full_buffer=False)

    def _restore_signals(self) -> None:
        signal.set_wakeup_fd(-1)
        for sig in _HANDLED:
            signal.signal(sig, signal.SIG_DFL)

    def _on_signals(self) -> None:
        try:
            numbers = self._signals_read.recv(512)
        except BlockingIOError:
            return
        for number in numbers:
            if number in _STOP_SIGNALS and self._stopping_since is not None:
                self._hurry()
            elif number in _STOP_SIGNALS:
                log.info("stopping: %s", signal.Signals(number).name)
                self._begin_stop(status=self._status)
            elif number == signal.SIGHUP:
                self._signal(signal.SIGHUP)

    def _begin_stop(self, status: int) -> None:
        self._status = max(self._status, status)
        if self._stopping_since is not None:
            return
        self._stopping_since = time.monotonic()
        for sock in self._sockets.values():  # no backlog must wait for a worker that drains
            sock.close()
        self._signal(signal.SIGTERM)

    def _hurry(self) -> None:
        """A second SIGTERM/SIGINT: every worker exits at once (its own second signal)."""
        log.warning("second stop signal: the workers exit now")
        self._status = max(self._status, 1)
        self._signal(signal.SIGTERM)
        self._stopping_since = time.monotonic() - self._stop_timeout + 5.0

    def _signal(self, sig: signal.Signals) -> None:
        for child in self._children.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, sig)


def _noted(signum: int, frame: object) -> None:
    """The C handler already wrote ``signum`` to the wake-up fd; the loop acts on it."""


def _name(child: _Child) -> str:
    return f"worker {child.index}"


def _describe(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"
