"""Queue administration at scale (issue 15 part 4): ``claim_due`` with a big suspended domain,
the ``queue summary`` GROUP BY and a bulk hold/release, on the real SQLite (or PostgreSQL)
store.

``python -m bench.queue_admin_scale [N] [STORE_URL]`` fills N messages for
``suspended.test`` and N/100 for ``other.test``, all due now, suspends ``suspended.test``
(parking its mail), then prints: the time to suspend (park), the median of 20
``claim_due(now, 100, 600)`` calls (claims released after each), the summary's time, and a
bulk hold and release of the suspended domain's mail.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.ids import new_message_id
from sealpost.model.queue import Submitted
from sealpost.model.queue_admin import AdminAction, Selection, Suspension
from sealpost.store import open_store
from sealpost.store.contracts import Store

T = TypeVar("T")

DATA = b"From: a@sender.test\r\nSubject: bench\r\n\r\n" + b"x" * 2000 + b"\r\n"


async def fill(store: Store, n: int, domain: str, now: float) -> None:
    session = SessionInfo("api", "127.0.0.1", 1)
    for start in range(0, n, 1000):
        items = [
            Submitted(
                new_message_id(now - n + i),
                InboundMessage(Envelope("a@sender.test", (f"u{i}@{domain}",)), session, DATA),
            )
            for i in range(start, min(n, start + 1000))
        ]
        await store.enqueue_batch(items, now - 60)


async def timed(work: Callable[[], Awaitable[T]]) -> tuple[float, T]:
    started = time.perf_counter()
    result = await work()
    return time.perf_counter() - started, result


async def claim_median(store: Store) -> float:
    """Median ms of 20 ``claim_due(now, 100, 600)``, each claim released after."""
    samples = []
    for _ in range(20):
        t, claims = await timed(lambda: store.claim_due(time.time(), 100, 600))
        samples.append(t * 1000)
        for claim in claims:
            await store.release(claim)
    return statistics.median(samples)


async def main(n: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(url or "sqlite:///q.db", base_dir=Path(tmp), node_id="bench")
        await store.open()
        try:
            now = time.time()
            fill_s, _ = await timed(lambda: fill(store, n, "suspended.test", now))
            await fill(store, max(n // 100, 1), "other.test", now)
            print(f"filled {n} + {n // 100} messages in {fill_s:.1f} s")
            before = await claim_median(store)
            print(f"claim_due(100) before suspending: median {before:.2f} ms")
            suspension = Suspension("suspended.test", now, now + 7200, "bench", "bench")
            park_s, parked = await timed(lambda: store.suspend_domain(suspension, now))
            print(f"suspend (park {parked}): {park_s:.2f} s")
            after = await claim_median(store)
            print(f"claim_due(100) while suspended: median {after:.2f} ms")
            summary_s, rows = await timed(lambda: store.queue_summary(time.time()))
            print(f"summary: {summary_s * 1000:.0f} ms ({len(rows)} rows)")
            sel = Selection.of(domain="suspended.test")
            for action in (AdminAction.HOLD, AdminAction.RELEASE):
                t, count = await timed(
                    lambda a=action: store.apply_selection(a, sel, time.time(), by="bench")
                )
                print(f"{action.value} {count}: {t:.2f} s")
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, (sys.argv[2:] or [None])[0])
    )
