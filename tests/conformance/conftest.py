"""One store fixture per backend: every conformance test runs against each of them."""

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


@pytest.fixture(params=[_memory, _sqlite], ids=["memory", "sqlite"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Scenario], Any]:
    """``run(scenario)``: open a fresh store, await ``scenario(store)``, close the store."""
    factory = request.param

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
