"""The ``claim-scale-pg`` case: does ``claim_due`` on PostgreSQL stay flat from 10k to 1M
queued messages?

Owns one measurement per queue size, each on a scratch database of its own
(``bench.pg_server.ScratchDatabase``, dropped afterwards): the real store
(``PostgresStore``) migrates it and queues ONE message of ~5 KB through ``enqueue`` (the
template: a STARTTLS session record, one recipient, as ``bench.queue_scale`` builds it); SQL
then copies that row and its recipient N-1 times with ``generate_series`` (``INSERT ...
SELECT``, ``FILL_CHUNK`` rows per statement), each copy with its own id and an older
``next_attempt_at``, so every message is due and the oldest are first. Going through the API
would take an hour for 1M; the rows are the ones ``enqueue`` writes, column for column.
``VACUUM ANALYZE`` follows (what autovacuum would do on its own after such a load).

Then, at that size, through the store: ``claim_due(now, 100, 600)`` (median of 20, claims
released after each: ``bench.queue_scale.claim_latency``), ``list(limit=100)``, ``count()``,
one durable ``enqueue``; and the plan of the claim statement (``EXPLAIN (ANALYZE,
BUFFERS)`` of ``sql.CLAIM_DUE`` in a transaction rolled back): which index it walks, its
execution time and the buffers it touched, which is what must not grow with the queue.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass

import asyncpg

from bench.pg_server import DEFAULT_PG_URL, ScratchDatabase
from bench.queue_scale import claim_latency, queue_message
from bench.smtp_session import build_message
from sealpost.model.ids import new_message_id
from sealpost.store.postgres import PostgresStore, sql

FULL_PG_SIZES = (10_000, 1_000_000)
QUICK_PG_SIZES = (2_000, 20_000)
FILL_CHUNK = 100_000
_BUFFERS = re.compile(r"Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?")
_EXECUTION = re.compile(r"Execution Time: ([0-9.]+) ms")


class _Rollback(Exception):
    """Raised inside the EXPLAIN transaction so that nothing it did is kept."""


@dataclass(frozen=True)
class ClaimPlan:
    """The claim statement's plan at one size."""

    due_index: bool  # the plan walks messages_due
    execution_ms: float
    shared_hit: int
    shared_read: int
    text: str

    @property
    def buffers(self) -> int:
        return self.shared_hit + self.shared_read


@dataclass(frozen=True)
class PgQueuePoint:
    """The PostgreSQL queue at one size."""

    messages: int
    fill_seconds: float  # SQL copies (not the API): see the module docstring
    vacuum_seconds: float
    claim_ms: float
    claimed: int
    list_ms: float
    count_ms: float
    enqueue_ms: float
    db_bytes: int
    plan: ClaimPlan

    def to_dict(self) -> dict[str, object]:
        document: dict[str, object] = asdict(self)
        document["plan"] = {**asdict(self.plan), "buffers": self.plan.buffers}
        return document


def run_claim_scale_pg(sizes: Sequence[int], admin_url: str = DEFAULT_PG_URL) -> list[PgQueuePoint]:
    """One point per size, each on a fresh scratch database."""
    points = []
    for size in sizes:
        with ScratchDatabase(admin_url) as db:
            points.append(asyncio.run(_measure(db.url, size)))
    return points


async def _measure(url: str, size: int) -> PgQueuePoint:
    store = PostgresStore(url, node_id="bench-claim")
    await store.open()
    try:
        now = time.time()
        template = new_message_id(now)
        await store.enqueue(template, queue_message(build_message("queue.fill")), now)
        conn = await asyncpg.connect(url, timeout=10)
        try:
            fill_seconds = await fill(conn, template, size)
            started = time.perf_counter()
            await conn.execute("VACUUM ANALYZE messages, recipients")
            vacuum_seconds = time.perf_counter() - started
            plan = await explain_claim(conn)
            db_bytes = int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        finally:
            await conn.close()
        claim_ms, claimed = await claim_latency(store)
        list_ms = await _timed(lambda: store.list(limit=100))
        count_ms = await _timed(store.count)
        extra = queue_message(build_message("queue.extra"))
        enqueue_ms = await _timed(lambda: store.enqueue(new_message_id(), extra, time.time()))
    finally:
        await store.close()
    return PgQueuePoint(
        size,
        fill_seconds,
        vacuum_seconds,
        claim_ms,
        claimed,
        list_ms,
        count_ms,
        enqueue_ms,
        db_bytes,
        plan,
    )


async def _columns(conn: asyncpg.Connection, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
        "ORDER BY ordinal_position",
        table,
    )
    return [row["column_name"] for row in rows]


async def fill(conn: asyncpg.Connection, template: str, size: int) -> float:
    """Copy the template message and its recipients until ``size`` messages are queued;
    returns the seconds. Copy ``g`` is due ``(size - g)`` ms before the template."""
    message_cols = await _columns(conn, "messages")
    recipient_cols = await _columns(conn, "recipients")
    new_id = "lpad(g::text, 20, '0')"
    message_exprs = {
        "id": new_id,
        "next_attempt_at": "t.next_attempt_at - ($3 - g) * 0.001",
    }
    select_m = ", ".join(message_exprs.get(c, f"t.{c}") for c in message_cols)
    select_r = ", ".join(new_id if c == "message_id" else f"t.{c}" for c in recipient_cols)
    copy_m = (
        f"INSERT INTO messages ({', '.join(message_cols)}) SELECT {select_m} "
        "FROM messages t, generate_series($1::int, $2::int) g WHERE t.id = $4"
    )
    copy_r = (
        f"INSERT INTO recipients ({', '.join(recipient_cols)}) SELECT {select_r} "
        "FROM recipients t, generate_series($1::int, $2::int) g WHERE t.message_id = $3"
    )
    started = time.perf_counter()
    for first in range(1, size, FILL_CHUNK):
        last = min(size - 1, first + FILL_CHUNK - 1)
        async with conn.transaction():
            await conn.execute(copy_m, first, last, size, template)
            await conn.execute(copy_r, first, last, template)
    return time.perf_counter() - started


async def explain_claim(conn: asyncpg.Connection, limit: int = 100) -> ClaimPlan:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the claim statement, rolled back."""
    now = time.time() + 1.0
    lines: list[str] = []
    try:
        async with conn.transaction():
            rows = await conn.fetch(
                "EXPLAIN (ANALYZE, BUFFERS) " + sql.CLAIM_DUE, now, limit, now + 600, "explain"
            )
            lines = [row[0] for row in rows]
            raise _Rollback
    except _Rollback:
        pass
    text = "\n".join(lines)
    hit = read = 0
    found = _BUFFERS.search(text)  # the first Buffers line: the top node's totals
    if found:
        hit, read = int(found.group(1) or 0), int(found.group(2) or 0)
    execution = _EXECUTION.search(text)
    return ClaimPlan(
        due_index="messages_due" in text,
        execution_ms=float(execution.group(1)) if execution else 0.0,
        shared_hit=hit,
        shared_read=read,
        text=text,
    )


async def _timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000
