"""The queue-scale case: does the SQLite queue stay fast, and small, as it grows to 1M?

Owns one measurement per queue size, each in a process of its own (so its peak RSS is the
queue's alone): open the real store (``open_store("sqlite:///queue.db", base_dir=...)``), fill
it with N messages of ~5 KB in ``enqueue_batch`` transactions of 1,000, then time at that size
what the scheduler and the API do all day: ``claim_due(now, 100, 600)`` (median of 20 calls,
the claims released after each so every call sees the same queue), ``list(limit=100)``,
``count()`` and one durable ``enqueue``; and record the process's peak RSS and the size of
the database files. The database directory is removed after each size.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from bench.smtp_session import build_message
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.ids import new_message_id
from sealpost.model.queue import Submitted
from sealpost.model.tls_record import TlsRecord
from sealpost.store import open_store
from sealpost.store.contracts import Store

FULL_SIZES = (10_000, 1_000_000)
QUICK_SIZES = (2_000, 20_000)
BATCH = 1_000
CLAIM_LIMIT, CLAIM_LEASE, CLAIM_SAMPLES = 100, 600.0, 20


@dataclass(frozen=True)
class QueuePoint:
    """The queue at one size: fill rate, operation latencies, memory and disk."""

    messages: int
    fill_seconds: float
    claim_ms: float  # median of CLAIM_SAMPLES claim_due(now, 100, 600)
    claimed: int  # messages the last claim returned (100 unless the queue is smaller)
    list_ms: float
    count_ms: float
    enqueue_ms: float
    rss_bytes: int  # after filling and measuring
    peak_rss_bytes: int  # high-water RSS of the measuring process (ru_maxrss)
    db_bytes: int  # database, WAL and shared-memory files

    @property
    def fill_msgs_per_s(self) -> float:
        return self.messages / self.fill_seconds if self.fill_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        document: dict[str, object] = asdict(self)
        document["fill_msgs_per_s"] = round(self.fill_msgs_per_s, 1)
        return document


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"10000,1000000"`` -> (10000, 1000000); every size a positive integer."""
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"queue sizes must be integers: {text!r}") from exc
    if not sizes or any(n < 1 for n in sizes):
        raise ValueError(f"queue sizes must be positive: {text!r}")
    return sizes


def queue_message(data: bytes) -> InboundMessage:
    """A message shaped like one received over STARTTLS (as the conformance tests build it)."""
    record = TlsRecord(
        version="TLSv1.3",
        cipher="TLS_AES_256_GCM_SHA384",
        bits=256,
        sni="mx.sealpost.test",
        peer_cert_sha256="ab" * 32,
        verified=False,
        verify_error="self-signed certificate",
        extra={"alpn": None, "groups": ["x25519"]},
    )
    return InboundMessage(
        envelope=Envelope(
            mail_from="loadgen@client.bench.test",
            recipients=("sink@bench.test",),
            body="8BITMIME",
            smtputf8=False,
            requiretls=False,
            declared_size=len(data),
        ),
        session=SessionInfo(
            listener="smtp",
            client_ip="127.0.0.1",
            client_port=40000,
            helo="client.bench.test",
            esmtp=True,
            auth_user=None,
            tls=record,
            local_hostname="mx.sealpost.test",
        ),
        data=data,
    )


def run_queue_scale(base: Path, sizes: Sequence[int]) -> list[QueuePoint]:
    """One ``QueuePoint`` per size, each measured in a fresh process under ``base``."""
    context = multiprocessing.get_context("spawn")
    points = []
    for size in sizes:
        workdir = Path(tempfile.mkdtemp(prefix="queue-", dir=base))
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                points.append(pool.submit(measure_queue, str(workdir), size).result())
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return points


def measure_queue(workdir: str, size: int) -> QueuePoint:
    """Fill a fresh store in ``workdir`` with ``size`` messages and measure it (sync entry)."""
    return asyncio.run(_measure(Path(workdir), size))


async def _measure(workdir: Path, size: int) -> QueuePoint:
    store = open_store("sqlite:///queue.db", base_dir=workdir)
    await store.open()
    try:
        fill_seconds = await fill(store, size)
        claim_ms, claimed = await claim_latency(store)
        list_ms = await _timed(lambda: store.list(limit=100))
        count_ms = await _timed(store.count)
        message = queue_message(build_message("queue.extra"))
        enqueue_ms = await _timed(lambda: store.enqueue(new_message_id(), message, time.time()))
    finally:
        await store.close()
    return QueuePoint(
        messages=size,
        fill_seconds=fill_seconds,
        claim_ms=claim_ms,
        claimed=claimed,
        list_ms=list_ms,
        count_ms=count_ms,
        enqueue_ms=enqueue_ms,
        rss_bytes=(rss := psutil.Process().memory_info().rss),
        peak_rss_bytes=max(rss, peak_rss()),
        db_bytes=sum(p.stat().st_size for p in workdir.glob("queue.db*")),
    )


async def fill(store: Store, size: int) -> float:
    """Enqueue ``size`` messages of ~5 KB, ``BATCH`` per transaction; returns the seconds."""
    message = queue_message(build_message("queue.fill"))
    started = time.perf_counter()
    done = 0
    while done < size:
        n = min(BATCH, size - done)
        now = time.time()
        items = [Submitted(new_message_id(now), message) for _ in range(n)]
        await store.enqueue_batch(items, now)
        done += n
    return time.perf_counter() - started


async def claim_latency(store: Store) -> tuple[float, int]:
    """Median ms of ``claim_due(now, 100, 600)``, releasing every claim after each call."""
    samples, claimed = [], 0
    for _ in range(CLAIM_SAMPLES):
        now = time.time() + 1.0
        started = time.perf_counter()
        claims = await store.claim_due(now, CLAIM_LIMIT, CLAIM_LEASE)
        samples.append((time.perf_counter() - started) * 1000)
        claimed = len(claims)
        for claim in claims:
            await store.release(claim)
    return statistics.median(samples), claimed


async def _timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


def peak_rss() -> int:
    """Peak RSS of this process in bytes (``ru_maxrss`` is KiB on Linux, bytes on macOS).

    Linux updates the high-water mark lazily, so it can trail the current RSS by a few
    hundred KiB: the caller takes the larger of the two."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
