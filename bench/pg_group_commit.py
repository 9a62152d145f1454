"""Does group commit pay on PostgreSQL? Durable enqueues through the real store, measured.

Owns one small, bounded comparison for issue 13 item 1: ``PostgresStore.enqueue`` of ~5 KB
single-recipient messages with an injection event, ``concurrency`` callers at once, with the
writer batching (``max_batch=1000``, the default) and without (``max_batch=1``: one COMMIT,
so one WAL flush, per message); and, as the design a writer task replaces, the same
statements from a pool of up to 10 connections, one transaction per message (PostgreSQL
then shares WAL flushes between sessions on its own), taking the same events lock. Reports
messages per second, COMMITs and the mean batch.
Each case runs on a scratch database it creates and drops (``sealpost_bench_<pid>``).

Usage: ``python -m bench.pg_group_commit [--url ...] [-n 1000]``. The numbers of the run
on the 2-core development machine are in docs/architecture.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import asyncpg

from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.events import EventRecord
from sealpost.model.ids import new_message_id
from sealpost.store import queue_rows
from sealpost.store.postgres import PostgresStore, ops, sql

CONCURRENCY = (1, 10, 50)
DATA = b"Subject: bench\r\n\r\n" + b"x" * 5000 + b"\r\n"


def _message() -> InboundMessage:
    envelope = Envelope("sender@example.test", ("rcpt@example.test",))
    return InboundMessage(envelope, SessionInfo("smtp", "127.0.0.1", 40000), DATA)


async def _case(url: str, n: int, concurrency: int, max_batch: int) -> str:
    store = PostgresStore(url, node_id="bench", max_batch=max_batch)
    await store.open()
    msg = _message()
    ids = [new_message_id() for _ in range(n)]
    pending = iter(ids)

    async def caller() -> None:
        for mid in pending:
            event = EventRecord("injection", mid, time.time(), {"msg_size": str(len(DATA))})
            await store.enqueue(mid, msg, time.time(), [event])

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    commits, writes = store.commits, store.writes
    await store.close()
    return (
        f"{n / elapsed:7.0f} msg/s  {commits:5d} commits  "
        f"{writes / max(commits, 1):5.1f} per commit"
    )


async def _pool_case(url: str, n: int, concurrency: int) -> str:
    store = PostgresStore(url, node_id="bench")
    await store.open()  # migrates the scratch database
    await store.close()
    pool = await asyncpg.create_pool(url, min_size=1, max_size=min(concurrency, 10))
    msg = _message()
    pending = iter([new_message_id() for _ in range(n)])

    async def caller() -> None:
        for mid in pending:
            event = EventRecord("injection", mid, time.time(), {"msg_size": str(len(DATA))})
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(sql.LOCK_EVENTS)  # event ids in commit order, as the writer
                new = queue_rows.new_message(mid, msg, time.time(), [event])
                await ops.insert_message(conn, new=new)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return f"{n / elapsed:7.0f} msg/s  {n:5d} commits  {1:5.1f} per commit"


async def main(url: str, n: int) -> None:
    name = f"sealpost_bench_{os.getpid()}"
    admin = await asyncpg.connect(url)
    try:
        for concurrency in CONCURRENCY:
            for max_batch, label in (
                (0, "pool, commit per message"),
                (1, "writer, max_batch 1"),
                (1000, "writer, group commit"),
            ):
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
                await admin.execute(f'CREATE DATABASE "{name}"')
                scratch = url.rsplit("/", 1)[0] + "/" + name
                if max_batch:
                    result = await _case(scratch, n, concurrency, max_batch)
                else:
                    result = await _pool_case(scratch, n, concurrency)
                print(f"concurrency {concurrency:3d}  {label:26s} {result}")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("-n", type=int, default=1000, help="enqueues per case")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.n))
