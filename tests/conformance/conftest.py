"""One store fixture per backend: every conformance test runs against each of them.

PostgreSQL runs on a real server (``tests/fixtures/postgres.py``): a database of this test
run's own, emptied before each test."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from sealpost.store import open_store
from sealpost.store.contracts import Store

Scenario = Callable[[Store], Awaitable[Any]]


def _open(backend: str, tmp: Path, pg_url: str | None) -> Store:
    if backend == "memory":
        return open_store("memory://")
    if backend == "sqlite":
        return open_store("sqlite:///spool/queue.db", base_dir=tmp)
    assert pg_url is not None
    return open_store(pg_url, node_id="conformance")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Scenario], Any]:
    """``run(scenario)``: open a fresh store, await ``scenario(store)``, close the store."""
    backend = request.param
    # PostgreSQL: the run's database, emptied for this test (before any event loop runs)
    pg_url = request.getfixturevalue("pg_url") if backend == "postgres" else None

    def runner(scenario: Scenario) -> Any:
        async def main() -> Any:
            store = _open(backend, tmp_path, pg_url)
            await store.open()
            try:
                return await scenario(store)
            finally:
                await store.close()

        return asyncio.run(main())

    return runner


PairScenario = Callable[[Store, Store], Awaitable[Any]]


@pytest.fixture(params=["sqlite", "postgres"])
def run_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[PairScenario], Any]:
    """``run_pair(scenario)``: two stores on one database, as two nodes on PostgreSQL (ids
    node-a and node-b) or two processes on one SQLite file; both opened, ``scenario(a, b)``
    awaited, both closed."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")

        def make(node: str) -> Store:
            return open_store(url, node_id=node)
    else:

        def make(node: str) -> Store:
            return open_store("sqlite:///spool/queue.db", base_dir=tmp_path)

    def runner(scenario: PairScenario) -> Any:
        async def main() -> Any:
            a, b = make("node-a"), make("node-b")
            await a.open()
            await b.open()
            try:
                return await scenario(a, b)
            finally:
                await a.close()
                await b.close()

        return asyncio.run(main())

    return runner
