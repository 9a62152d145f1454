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


def _memory(_tmp: Path) -> Store:
    return open_store("memory://")


def _sqlite(tmp: Path) -> Store:
    return open_store("sqlite:///spool/queue.db", base_dir=tmp)


def _postgres(url: str) -> Store:
    return open_store(url, node_id="conformance")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Scenario], Any]:
    """``run(scenario)``: open a fresh store, await ``scenario(store)``, close the store."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        factory: Callable[[Path], Store] = lambda _tmp: _postgres(url)  # noqa: E731
    else:
        factory = _memory if request.param == "memory" else _sqlite

    def runner(scenario: Scenario) -> Any:
        async def main() -> Any:
            store = factory(tmp_path)
            await store.open()
            try:
                return await scenario(store)
            finally:
                await store.close()

        return asyncio.run(main())

    return runner
