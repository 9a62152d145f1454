"""What one worker process inherits from the supervisor, and its side of their pipes.

The supervisor creates all of it before the first fork: the listening sockets (one per
``[[smtp.listeners]]`` entry, and ``"api"``), the shared limit table, the shared table of
per-domain delivery sessions (SQLite: ``delivery.shared_slots``; every worker runs a
dispatcher), the API's request budgets (``workers.budgets``), the settings bell
(``store.change_bell``), the TLS session ticket keys (``net.session_tickets``: a ticket one
worker issued resumes on any), and these pipes:

- the lifeline: the supervisor holds the only write end and never writes; each worker reads.
  When the supervisor dies (even by ``kill -9``) the read end sees EOF and the worker drains
  and exits, so no orphan keeps serving (no ``prctl``, no ctypes needed).
- the ready pipe, one per worker: ``ready`` once its listeners are serving, or ``error ...``
  when it could not start; ``drained ...`` as it exits after a drain (``model.drain``).

The run's metrics directory: every worker keeps its metric values in files there, and the
primary's metrics listener adds them up (``observability.multiprocess``).

Worker 0 is the primary. Every worker serves the API; on SQLite a worker that writes a
setting (a sending domain, a webhook, a template) rings the ``ChangeBell`` and the others
follow at once (``store.change_bell``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from dataclasses import dataclass, field

from sealpost.delivery.shared_slots import DomainBoard
from sealpost.inbound.shared_limits import LimitBoard
from sealpost.net.session_tickets import TicketKeyChain
from sealpost.store.change_bell import ChangeBell
from sealpost.workers.budgets import BudgetBoard

PRIMARY = 0


@dataclass
class WorkerSeat:
    """One worker's inheritance; ``index`` 0 is the primary (webhooks, TLS reports)."""

    index: int
    sockets: dict[str, socket.socket]
    board: LimitBoard
    lifeline: int  # read end; EOF when the supervisor is gone
    changes: ChangeBell  # settings written by a worker: the others look at once
    budgets: BudgetBoard  # the API's request budgets, for the whole server
    tickets: TicketKeyChain  # TLS session ticket keys: every worker reaches the same each hour
    workers: int = 1  # how many seats the server has (the dispatchers share the limits)
    domain_board: DomainBoard | None = None  # per-domain sessions, when not in the store
    ready: int = -1  # write end of this worker's ready pipe
    metrics_dir: str = ""  # the run's directory of metric files (observability/multiprocess)
    writer_socket: str = ""  # the supervisor's queue writer (store/sqlite/shared_writer)
    pid: int = field(default_factory=os.getpid)

    @property
    def primary(self) -> bool:
        return self.index == PRIMARY

    def remove_writer_directory(self) -> None:
        """The supervisor was killed, and the queue writer in it: nobody else removes the
        writer's private directory. Any worker may; the first one does."""
        if self.writer_socket:
            shutil.rmtree(os.path.dirname(self.writer_socket), ignore_errors=True)

    def report_ready(self) -> None:
        self._report(b"ready\n")

    def report_drained(self, tally: str) -> None:
        """What this worker's drain did (``DrainTally.to_wire``), for the summary line."""
        self._report(tally.encode() + b"\n")

    def report_error(self, message: str) -> None:
        self._report(b"error " + " ".join(message.split()).encode("utf-8", "replace") + b"\n")

    def _report(self, line: bytes) -> None:
        if self.ready < 0:
            return
        with contextlib.suppress(OSError):  # the supervisor is gone: nobody to tell
            os.write(self.ready, line)
