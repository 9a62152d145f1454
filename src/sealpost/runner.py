"""Runs the composition root on the fastest event loop available (uvloop when installed).

``[server] workers`` 1 (or a ``memory://`` store, which lives in one process): the server
runs here, in this process, as it always has. More: this process becomes the supervisor
(``workers.supervisor``). Before it forks, with no event loop, thread or database connection
left open, it migrates the store and checks the DKIM keys (``startup.prepare``), binds every
listening socket and makes the shared limit table; each worker then runs ``Sealpost`` on its
seat, and the ``sealpost ready: ...`` line is printed once every worker is serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from sealpost.app import Sealpost
from sealpost.config.model import Config
from sealpost.delivery.shared_slots import DomainBoard
from sealpost.inbound.limits import RATE_WINDOW
from sealpost.inbound.shared_limits import LimitBoard
from sealpost.net.devcert import is_self_signed
from sealpost.net.large_buffers import map_large_buffers
from sealpost.net.sockets import listening_socket, split_address
from sealpost.observability.multiprocess import RunDirectory, enter_worker
from sealpost.startup import prepare
from sealpost.store import sqlite_path
from sealpost.store.sqlite.shared_writer import SharedWriter
from sealpost.workers.prefork import resume_collector
from sealpost.workers.seat import WorkerSeat
from sealpost.workers.supervisor import Supervisor

log = logging.getLogger("sealpost")

# Imported here rather than when a loop starts: the supervisor then holds it before it forks,
# and the workers share its pages instead of each loading a copy (docs/architecture.md, Memory).
uvloop: ModuleType | None
try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
    uvloop = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    host: str
    port: int
    tls: str


def ready_line(endpoints: Iterable[Endpoint]) -> str:
    """The line tests, the benchmark and operators wait for."""
    return "sealpost ready: " + ", ".join(f"{e.name}={e.host}:{e.port}/{e.tls}" for e in endpoints)


def _warn_self_signed(config: Config) -> None:
    if is_self_signed(config.tls.cert_file):
        log.warning(
            "TLS certificate %s is self-signed: fine for development, not for "
            "production (clients cannot verify it)",
            config.tls.cert_file,
        )


async def serve(config: Config) -> None:
    server = Sealpost(config)
    await server.start()
    _warn_self_signed(config)
    endpoints = [Endpoint(b.name, b.host, b.port, b.tls) for b in server.bound]
    server.install_signals()  # before the ready line: a SIGTERM from then on drains
    print(ready_line(endpoints), flush=True)
    await server.run()


def _run(main: Coroutine[Any, Any, None]) -> None:
    if uvloop is None:  # pragma: no cover
        asyncio.run(main)
        return
    uvloop.run(main)


def worker_count(config: Config) -> int:
    if config.store.url.lower().startswith("memory:"):
        return 1  # memory:// is one process's memory
    return config.server.worker_count


def run_server(config: Config) -> None:
    map_large_buffers()  # each TLS connection's 256 KiB read buffer: net/large_buffers.py
    count = worker_count(config)
    if count == 1:
        resume_collector()  # no fork, so no prepare_fork to end start-up's pause
        _run(serve(config))
        return
    sys.exit(supervise(config, count))


def supervise(config: Config, count: int) -> int:
    """Bind, fork ``count`` workers and supervise them; the exit status."""
    asyncio.run(prepare(config))
    sockets = {}
    endpoints = []
    try:
        for listener in config.smtp.listeners:
            sockets[listener.name] = listening_socket(*split_address(listener.address))
            endpoints.append(_endpoint(listener.name, sockets[listener.name], listener.tls))
        if config.api.enabled:
            sockets["api"] = listening_socket(*split_address(config.api.address))
            endpoints.append(_endpoint("api", sockets["api"], "https"))
        if config.metrics.enabled:
            sockets["metrics"] = listening_socket(*split_address(config.metrics.address))
            endpoints.append(_endpoint("metrics", sockets["metrics"], "http"))
    except BaseException:
        for sock in sockets.values():
            sock.close()
        raise
    srv = config.server
    board = LimitBoard(count, srv.max_connections, srv.auth_failure_window, RATE_WINDOW)
    _warn_self_signed(config)
    log.info("starting %d worker processes", count)

    def ready() -> None:
        print(ready_line(endpoints), flush=True)

    metrics = RunDirectory()  # every worker's metric files, added up at each scrape
    writer = shared_writer(config)
    supervisor = Supervisor(
        count,
        sockets,
        board,
        lambda seat: _worker(config, seat),
        ready,
        metrics_dir=str(metrics.path),
        stop_timeout=srv.drain_timeout + 15.0,  # the workers drain first, then are killed
        on_exit=metrics.process_dead,
        writer=writer,
        domain_board=domain_board(config, count),
    )
    try:
        return supervisor.run()
    finally:
        metrics.remove()
        if writer is not None:
            _remove_writer(writer)


def domain_board(config: Config, count: int) -> DomainBoard | None:
    """With SQLite, the workers' dispatchers count their sessions per destination domain in
    one shared table (``delivery.shared_slots``); PostgreSQL counts them in the database."""
    if not config.store.url.lower().startswith("sqlite:") or not config.delivery.enabled:
        return None
    return DomainBoard(count, config.delivery.concurrency)


def shared_writer(config: Config) -> SharedWriter | None:
    """With SQLite, one queue writer in the supervisor takes every worker's new mail
    (``shared_writer``), its socket in a new private directory; PostgreSQL takes
    concurrent writers itself."""
    url = config.store.url
    if not url.lower().startswith("sqlite:"):
        return None
    directory = tempfile.mkdtemp(prefix="sealpost-run-")  # mode 0700
    try:
        return SharedWriter(sqlite_path(url, config.base_dir), f"{directory}/writer.sock")
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _remove_writer(writer: SharedWriter) -> None:
    writer.close()
    shutil.rmtree(os.path.dirname(writer.socket_path), ignore_errors=True)


def _endpoint(name: str, sock: Any, tls: str) -> Endpoint:
    host, port = sock.getsockname()[:2]
    return Endpoint(name, str(host), int(port), tls)


def _worker(config: Config, seat: WorkerSeat) -> int:
    """One worker process (after the fork): serve on the seat until told to stop."""

    if seat.metrics_dir:  # before any metric exists in this process
        enter_worker(seat.metrics_dir)

    async def main() -> None:
        server = Sealpost(config, seat=seat)
        try:
            await server.start()
        except BaseException as exc:
            seat.report_error(f"{type(exc).__name__}: {exc}")
            raise
        server.install_signals()  # before the report: the supervisor may forward SIGTERM
        seat.report_ready()
        await server.run()

    try:
        _run(main())
    except KeyboardInterrupt:
        pass
    except Exception:
        log.exception("worker %d failed", seat.index)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
    return 0
