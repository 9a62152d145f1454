"""Which PostgreSQL driver the PostgreSQL store uses: psycopg 3 (async) or asyncpg, measured.

Owns one small, bounded comparison (issue 13 item 1: "whichever measures better here"), run
against a scratch database it creates and drops (``sealpost_bench_<pid>``):

- ``enqueue x1``: one enqueue-like transaction per message, one at a time (BEGIN, INSERT a
  ~5 KB message row, its recipient and its injection event, COMMIT with
  ``synchronous_commit=on``): latency of one durable write;
- ``enqueue x50``: 50 such messages in ONE transaction (what the group-commit writer does
  under load): driver overhead per statement once the fsync is shared;
- ``claim``: ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 100)
  RETURNING`` on a 5,000-message queue, the lease reset after each call.

Usage: ``python -m bench.pg_driver [--url postgresql://postgres@127.0.0.1:5432/postgres]``.
The numbers of the run on the 2-core development machine are in docs/architecture.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg
import psycopg

DDL = (
    """CREATE TABLE m (id text PRIMARY KEY, state text NOT NULL, next_attempt_at float8 NOT NULL,
    lease_token text, lease_until float8, data bytea NOT NULL)""",
    "CREATE INDEX m_due ON m (next_attempt_at) WHERE state = 'queued'",
    "CREATE TABLE r (message_id text, idx int, address text, PRIMARY KEY (message_id, idx))",
    "CREATE TABLE e (event_id bigserial PRIMARY KEY, message_id text, fields jsonb)",
)
DATA = b"x" * 5000
CLAIM = """UPDATE m SET lease_token = md5(random()::text), lease_until = {until}
    WHERE id IN (SELECT id FROM m WHERE state = 'queued' AND next_attempt_at <= {now}
    ORDER BY next_attempt_at LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING id, data"""
RESET = "UPDATE m SET lease_token = NULL, lease_until = NULL WHERE lease_token IS NOT NULL"
ROUNDS = 3


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.2f} ms"


async def _psycopg(url: str, n: int) -> dict[str, str]:
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    ins_m = "INSERT INTO m VALUES (%s, 'queued', %s, NULL, NULL, %s)"
    ins_r = "INSERT INTO r VALUES (%s, 0, 'a@example.test')"
    ins_e = "INSERT INTO e (message_id, fields) VALUES (%s, %s::jsonb)"
    counter = iter(range(10**9))

    async def one_txn(size: int) -> None:
        async with conn.transaction(), conn.cursor() as cur:
            for _ in range(size):
                mid = f"p{next(counter)}"
                await cur.execute(ins_m, (mid, 0.0, DATA))
                await cur.execute(ins_r, (mid,))
                await cur.execute(ins_e, (mid, '{"type":"injection"}'))

    async def pipelined(size: int) -> None:
        async with conn.transaction(), conn.pipeline(), conn.cursor() as cur:
            for _ in range(size):
                mid = f"p{next(counter)}"
                await cur.execute(ins_m, (mid, 0.0, DATA))
                await cur.execute(ins_r, (mid,))
                await cur.execute(ins_e, (mid, '{"type":"injection"}'))

    async def claim() -> None:
        async with conn.transaction():
            await (await conn.execute(CLAIM.format(until="%s", now="%s"), (1e9, 1.0))).fetchall()
        await conn.execute(RESET)

    out = {
        "enqueue x1": await _timed(lambda: one_txn(1), n),
        "enqueue x50": await _timed(lambda: one_txn(50), n // 25),
        "enqueue x50 pipeline": await _timed(lambda: pipelined(50), n // 25),
    }
    await _fill(lambda sql: conn.execute(sql))
    out["claim 100"] = await _timed(claim, n // 5)
    await conn.close()
    return out


async def _asyncpg(url: str, n: int) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    ins_m = "INSERT INTO m VALUES ($1, 'queued', $2, NULL, NULL, $3)"
    ins_r = "INSERT INTO r VALUES ($1, 0, 'a@example.test')"
    ins_e = "INSERT INTO e (message_id, fields) VALUES ($1, $2::jsonb)"
    counter = iter(range(10**9))

    async def one_txn(size: int) -> None:
        async with conn.transaction():
            for _ in range(size):
                mid = f"a{next(counter)}"
                await conn.execute(ins_m, mid, 0.0, DATA)
                await conn.execute(ins_r, mid)
                await conn.execute(ins_e, mid, '{"type":"injection"}')

    async def batched(size: int) -> None:
        mids = [f"a{next(counter)}" for _ in range(size)]
        async with conn.transaction():
            await conn.executemany(ins_m, [(m, 0.0, DATA) for m in mids])
            await conn.executemany(ins_r, [(m,) for m in mids])
            await conn.executemany(ins_e, [(m, '{"type":"injection"}') for m in mids])

    async def claim() -> None:
        async with conn.transaction():
            await conn.fetch(CLAIM.format(until="$1", now="$2"), 1e9, 1.0)
        await conn.execute(RESET)

    out = {
        "enqueue x1": await _timed(lambda: one_txn(1), n),
        "enqueue x50": await _timed(lambda: one_txn(50), n // 25),
        "enqueue x50 pipeline": await _timed(lambda: batched(50), n // 25),
    }
    await _fill(conn.execute)
    out["claim 100"] = await _timed(claim, n // 5)
    await conn.close()
    return out


async def _fill(execute: Callable[[str], Awaitable[object]]) -> None:
    await execute("TRUNCATE m, r, e")
    await execute(
        "INSERT INTO m SELECT 'f' || g, 'queued', g, NULL, NULL, "
        "convert_to(repeat('x', 5000), 'UTF8') FROM generate_series(1, 5000) g"
    )
    await execute("ANALYZE m")


async def _timed(step: Callable[[], Awaitable[None]], n: int) -> str:
    samples = []
    for _ in range(max(n, 1)):
        start = time.perf_counter()
        await step()
        samples.append(time.perf_counter() - start)
    return _ms(samples)


async def main(url: str, n: int) -> None:
    name = f"sealpost_bench_{os.getpid()}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    scratch = url.rsplit("/", 1)[0] + "/" + name
    try:
        results: dict[str, list[dict[str, str]]] = {"psycopg": [], "asyncpg": []}
        for _ in range(ROUNDS):  # alternate, so neither gets the quieter moment of the machine
            for driver, bench in (("psycopg", _psycopg), ("asyncpg", _asyncpg)):
                setup = await asyncpg.connect(scratch)
                await setup.execute("DROP TABLE IF EXISTS m, r, e")
                for statement in DDL:
                    await setup.execute(statement)
                await setup.close()
                results[driver].append(await bench(scratch, n))
        print(
            f"median per call over {ROUNDS} rounds of {n} enqueues ({psycopg.__version__=}, "
            f"{asyncpg.__version__=})"
        )
        for driver, rounds in results.items():
            print(driver, {case: [r[case] for r in rounds] for case in rounds[0]})
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("-n", type=int, default=250, help="single enqueues per round")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.n))
