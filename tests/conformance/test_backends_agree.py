"""Model-based check: random operation sequences give the same results on every backend
(PostgreSQL on the test run's own database, emptied before each example)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.queue import Claim, RecipientResult
from sealpost.store import open_store
from sealpost.store.contracts import Store
from sealpost.store.errors import StoreError
from tests.fixtures.postgres import empty

T0 = 1_700_000_000.0
STATUSES = ("queued", "delivered", "bounced")

ops = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), st.integers(1, 3), st.sampled_from(["queued", "held"])),
        st.tuples(st.just("claim"), st.integers(0, 4), st.sampled_from([5.0, 50.0])),
        st.tuples(
            st.just("record"),
            st.integers(0, 20),
            st.lists(st.sampled_from(STATUSES), min_size=0, max_size=3),
            st.sampled_from([0.0, 20.0, 200.0]),
        ),
        st.tuples(st.just("release"), st.integers(0, 20)),
        st.tuples(st.just("cancel"), st.integers(0, 20)),
        st.tuples(st.just("retry"), st.integers(0, 20)),
        st.tuples(st.just("advance"), st.sampled_from([1.0, 10.0, 100.0])),
    ),
    max_size=40,
)


def recipients(n: int) -> tuple[str, ...]:
    return tuple(f"r{i}@example.test" for i in range(n))


async def replay(store: Store, program: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``program``; return every observable result (tokens left out)."""
    now, ids, claims, seen = T0, [], [], []
    for tick, op in enumerate(program, start=1):
        stamp = now + tick / 1024  # distinct times: no ties whose order backends may break apart
        kind = op[0]
        try:
            if kind == "enqueue":
                mid = f"m{len(ids):04d}"
                env = Envelope("s@example.test", recipients(op[1]))
                msg = InboundMessage(env, SessionInfo("smtp", "127.0.0.1", 1), mid.encode())
                await store.enqueue(mid, msg, stamp, state=op[2])
                ids.append(mid)
                seen.append(None)
            elif kind == "claim":
                got: list[Claim] = await store.claim_due(stamp, op[1], op[2])
                claims += got
                seen.append([(c.message.id, c.lease_until, c.message.attempts) for c in got])
            elif kind == "record" and claims:
                claim = claims[op[1] % len(claims)]
                addrs = recipients(len(claim.message.recipients))
                results = [RecipientResult(a, s, s) for a, s in zip(addrs, op[2], strict=False)]
                await store.record_attempt(claim, results, stamp + op[3])
                seen.append("recorded")
            elif kind == "release" and claims:
                await store.release(claims[op[1] % len(claims)])
                seen.append("released")
            elif kind == "cancel" and ids:
                seen.append(await store.cancel(ids[op[1] % len(ids)]))
            elif kind == "retry" and ids:
                seen.append(await store.retry_now(ids[op[1] % len(ids)], stamp))
            elif kind == "advance":
                now += op[1]
        except StoreError as exc:
            seen.append(type(exc).__name__)
    seen.append(await store.count())
    seen.append(await store.list(limit=1000))
    seen.append([await store.get(mid) for mid in ids])
    return seen


async def run_on(url: str, base: Path, program: list[tuple[Any, ...]]) -> list[Any]:
    store = open_store(url, base_dir=base)
    await store.open()
    try:
        return await replay(store, program)
    finally:
        await store.close()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(program=ops)
def test_memory_sqlite_and_postgres_agree(program, pg_database):
    with tempfile.TemporaryDirectory() as tmp:
        memory = asyncio.run(run_on("memory://", Path(tmp), program))
        sqlite = asyncio.run(run_on("sqlite:///q.db", Path(tmp), program))
    empty(pg_database)
    postgres = asyncio.run(run_on(pg_database, Path(tmp), program))
    assert memory == sqlite
    assert memory == postgres
