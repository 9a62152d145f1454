"""The suppression list at scale (issue 15 part 1), measured.

Owns two bounded measurements:

- ``bulk PUT``: one ``PUT /api/v1/suppression-list`` with 100,000 entries (the most one
  request takes) over HTTPS to ``sealpost serve`` on init's config (SQLite store), and the
  request body's size against ``[api] max_request_bytes``;
- ``1M``: a store (SQLite, and PostgreSQL with ``--pg-url``) filled with 1,000,000 entries
  in writes of 100,000, then the check a transmission makes (``suppressed_among`` for 1,000
  recipients, 10 of them listed) and a search page of 1,000 with its ``total_count``.

Usage: ``python -m bench.suppression_bulk [--bulk-only] [--pg-url postgresql://...]``.
The numbers of the run on the 2-core development machine are in docs/operations.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from bench.peers import SealpostServer, make_pki
from sealpost.model.suppression import (
    Suppression,
    SuppressionQuery,
    SuppressionSource,
    SuppressionType,
)
from sealpost.store import open_store

BULK = 100_000
MILLION = 1_000_000


def bulk_body(count: int) -> bytes:
    recipients = [
        {
            "recipient": f"user{n:07d}@domain{n % 500}.example",
            "type": "non_transactional" if n % 2 else "transactional",
            "description": "imported from the previous provider",
        }
        for n in range(count)
    ]
    return json.dumps({"recipients": recipients}).encode()


def bulk_put(workdir: Path) -> None:
    pki = make_pki(workdir / "pki")
    server = SealpostServer(workdir, pki).start()
    try:
        key = json.loads(server.run("keys", "create", "--json"))["key"]
        body = bulk_body(BULK)
        url = f"https://127.0.0.1:{server.ports['api']}/api/v1/suppression-list"
        headers = {"Authorization": key, "Content-Type": "application/json"}
        with httpx.Client(verify=str(pki.ca_file), timeout=300) as client:
            started = time.perf_counter()
            answer = client.put(url, content=body, headers=headers)
            took = time.perf_counter() - started
            assert answer.status_code == 200, answer.text
            count = client.get(url, params={"per_page": 1}, headers=headers).json()
        print(
            f"bulk PUT of {BULK:,} entries: {len(body) / 1e6:.1f} MB body, {took:.2f} s "
            f"({BULK / took:,.0f} entries/s); total_count {count['total_count']:,}"
        )
    finally:
        server.stop()


def entries(start: int, count: int) -> list[Suppression]:
    return [
        Suppression(
            f"user{n:07d}@domain{n % 500}.example",
            SuppressionType.NON_TRANSACTIONAL,
            SuppressionSource.MANUALLY_ADDED,
            "",
            float(n),
            float(n),
        )
        for n in range(start, start + count)
    ]


async def million(url: str, base: Path) -> None:
    store = open_store(url, base_dir=base) if url.startswith("sqlite") else open_store(url)
    await store.open()
    try:
        started = time.perf_counter()
        for start in range(0, MILLION, BULK):
            await store.put_suppressions(entries(start, BULK))
        fill = time.perf_counter() - started
        listed = [f"user{n:07d}@domain{n % 500}.example" for n in range(0, MILLION, 100_000)]
        others = [f"someone{n}@elsewhere.example" for n in range(1000 - len(listed))]
        checks = []
        for _ in range(20):
            started = time.perf_counter()
            found = await store.suppressed_among(listed + others, SuppressionType.NON_TRANSACTIONAL)
            checks.append(time.perf_counter() - started)
            assert len(found) == len(listed)
        started = time.perf_counter()
        page = await store.search_suppressions(SuppressionQuery(limit=1000, after=("user05", "")))
        total = await store.count_suppressions(SuppressionQuery(domain="domain7.example"))
        search = time.perf_counter() - started
        assert len(page) == 1000 and total == MILLION // 500
        print(
            f"{url.split(':')[0]}: fill 1M in {fill:.1f} s; check of 1,000 recipients "
            f"median {statistics.median(checks) * 1000:.1f} ms; a search page of 1,000 plus "
            f"a domain count {search * 1000:.0f} ms"
        )
    finally:
        await store.close()


async def pg_scratch(url: str) -> str:
    name = f"sealpost_bench_{os.getpid()}"
    conn = await asyncpg.connect(url)
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    return url.rsplit("/", 1)[0] + "/" + name


async def pg_drop(url: str, scratch: str) -> None:
    conn = await asyncpg.connect(url)
    await conn.execute(f"DROP DATABASE {scratch.rsplit('/', 1)[1]} WITH (FORCE)")
    await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", help="a PostgreSQL server to measure on too")
    parser.add_argument("--bulk-only", action="store_true", help="only the bulk PUT")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sealpost-suppression-") as tmp:
        base = Path(tmp)
        bulk_put(base)
        if args.bulk_only:
            return
        asyncio.run(million("sqlite:///million.db", base))
        if args.pg_url:
            scratch = asyncio.run(pg_scratch(args.pg_url))
            try:
                asyncio.run(million(scratch, base))
            finally:
                asyncio.run(pg_drop(args.pg_url, scratch))


if __name__ == "__main__":
    main()
