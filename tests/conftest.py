from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sealpost.config.loader import load_config
from tests.serve_process import ServerProcess
from tests.support import Pki, ServerThread, make_pki, write_config

pytest_plugins = [
    "tests.fixtures.dns_server",
    "tests.fixtures.https_server",
    "tests.fixtures.postgres",
    "tests.fixtures.smtp_sink",
]


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def start_server(tmp_path: Path, pki: Pki) -> Iterator[Callable[..., ServerThread]]:
    """Start Sealpost (real sockets, real SQLite store) with config overrides."""
    started: list[ServerThread] = []

    def start(**kwargs: object) -> ServerThread:
        path = write_config(tmp_path, pki, **kwargs)  # type: ignore[arg-type]
        server = ServerThread(load_config(path)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def spawn() -> Iterator[Callable[..., ServerProcess]]:
    """``spawn(config, **options)``: a started ``sealpost serve -c CONFIG`` (``options``:
    those of ``ServerProcess``); every process of it still running at the end is killed."""
    started: list[ServerProcess] = []

    def start(config: Path | None, *, timeout: float = 30, **options: object) -> ServerProcess:
        server = ServerProcess(config, **options)  # type: ignore[arg-type]
        started.append(server)
        return server.start(timeout)

    yield start
    for server in started:
        if getattr(server, "proc", None) is not None and server.proc.poll() is None:
            server.kill_all()


@pytest.fixture
def server(start_server: Callable[..., ServerThread]) -> ServerThread:
    return start_server()


@pytest.fixture
def api_key(server: ServerThread) -> str:
    from sealpost.api_keys import create_key

    key, _ = server.call(lambda: create_key(server.app.store, "test", 0.0))
    return key
