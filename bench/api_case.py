"""The API case of issue 6: ``POST /api/v1/transmissions`` over HTTPS keep-alive (Sealpost only).

Owns the HTTP load: several client processes (multiprocessing, spawn), each an asyncio loop
with one ``httpx.AsyncClient`` whose connections stay open (HTTP/1.1 keep-alive, TLS once per
connection), ``connections`` calls in flight in total. Each call carries ``recipients``
recipients (1 or 100, spread over 200 domains) and a ~5 KB text body; it counts only when
the answer is ``200`` with every recipient accepted, i.e. queued durably (the API answers
``200`` only after the commit, like SMTP's ``250``). The run stops at a message cap or a
time limit, whichever comes first. Figures: messages (recipients) per second, and
p50/p99 of the whole call. Sealpost runs init's config (API on) with delivery disabled, the
one listed change beyond the inbound ones: messages stay queued. Postfix has no API.
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
import queue
import ssl
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import TYPE_CHECKING

from bench.peers import Pki, SealpostServer
from bench.resources import ResourceUsage, TreeMonitor
from bench.results import ErrorKind, LoadResult, WorkerSample, merge, with_own_cpu
from bench.sealpost_config import BenchConfig

if TYPE_CHECKING:
    from bench.harness import BenchOptions

RECIPIENTS_PER_CALL: tuple[int, ...] = (1, 100)
API_DOMAINS = 200
_START_TIMEOUT = 60.0
HELD = (
    "delivery.enabled",
    False,
    "messages stay queued: the recipients are in 200 test domains that do not resolve, and "
    "delivery would look them up outside loopback",
)
_TEXT = "The quick brown fox jumps over the lazy dog; sealpost API benchmark payload.\n" * 66


@dataclass(frozen=True)
class ApiSettings:
    """Bounds of each API measurement."""

    max_messages: int
    time_limit: float
    connections: int = 10
    processes: int = 2
    recipients_per_call: tuple[int, ...] = RECIPIENTS_PER_CALL

    @classmethod
    def from_bounds(cls, options: BenchOptions) -> ApiSettings:
        return cls(options.bounds.max_messages, options.bounds.time_limit, 10, options.processes)


@dataclass(frozen=True)
class ApiMeasurement:
    """One recipients-per-call value: ``load.ok`` counts messages, latencies are per call."""

    recipients_per_call: int
    connections: int
    load: LoadResult
    usage: ResourceUsage

    @property
    def calls(self) -> int:
        return self.load.sessions

    def to_dict(self) -> dict[str, object]:
        return {
            "recipients_per_call": self.recipients_per_call,
            "connections": self.connections,
            "calls": self.calls,
            **self.load.to_dict(),
            **self.usage.to_dict(),
        }


def transmission(serial: int, recipients: int) -> dict[str, object]:
    """A SparkPost v1 transmission body with ``recipients`` recipients."""
    return {
        "recipients": [
            {"address": {"email": f"r{serial}.{i}@d{i % API_DOMAINS:03d}.api.bench.test"}}
            for i in range(recipients)
        ],
        "content": {
            "from": "API Bench <bench@client.bench.test>",
            "subject": f"benchmark transmission {serial}",
            "text": _TEXT,
        },
    }


def run_api(
    base: Path, pki: Pki, settings: ApiSettings, configs: list[BenchConfig]
) -> list[ApiMeasurement]:
    """Start a Sealpost on init's config (API on) with delivery off, measure each
    recipients-per-call; its config is appended to ``configs``."""
    server = SealpostServer(base, pki, name="sealpost-api", label="Sealpost (API)", extra=[HELD])
    configs.append(server.config)
    key = json.loads(server.run("keys", "create", "--label", "bench-api", "--json"))["key"]
    found = []
    try:
        server.start()
        url = f"https://127.0.0.1:{server.ports['api']}/api/v1/transmissions"
        _call_once(url, key, pki)  # warm-up, untimed
        for recipients in settings.recipients_per_call:
            with TreeMonitor(server.root_pid) as monitor:
                load = run_calls(url, key, pki, recipients, settings)
            assert monitor.usage is not None
            found.append(ApiMeasurement(recipients, settings.connections, load, monitor.usage))
    finally:
        server.stop()
    return found


def _call_once(url: str, key: str, pki: Pki) -> None:
    import httpx

    answer = httpx.post(
        url,
        json=transmission(0, 1),
        headers={"Authorization": key},
        verify=ssl.create_default_context(cafile=str(pki.ca_file)),
        timeout=30,
    )
    if answer.status_code != 200:
        raise RuntimeError(f"API warm-up failed: {answer.status_code} {answer.text}")


@dataclass(frozen=True)
class _Job:
    url: str
    key: str
    ca_file: str
    recipients: int
    connections: int
    calls: int
    time_limit: float


def run_calls(url: str, key: str, pki: Pki, recipients: int, settings: ApiSettings) -> LoadResult:
    """Client processes released together on a barrier; their samples merged."""
    total_calls = max(1, math.ceil(settings.max_messages / recipients))
    count = max(1, min(settings.processes, settings.connections))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(count + 1)
    results: multiprocessing.Queue[WorkerSample] = context.Queue()
    workers = []
    for index in range(count):
        job = _Job(
            url,
            key,
            str(pki.ca_file),
            recipients,
            settings.connections // count + (index < settings.connections % count),
            total_calls // count + (index < total_calls % count),
            settings.time_limit,
        )
        workers.append(context.Process(target=_worker, args=(job, barrier, results)))
    for worker in workers:
        worker.start()
    samples: list[WorkerSample] = []
    try:
        barrier.wait(_START_TIMEOUT)
        deadline = time.monotonic() + settings.time_limit + 60 + _START_TIMEOUT
        while len(samples) < len(workers):
            try:
                samples.append(results.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                raise RuntimeError("API load: a client process did not report") from None
    finally:
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
                worker.join(5)
    return merge(samples)


def _worker(job: _Job, barrier: Barrier, results: multiprocessing.Queue[WorkerSample]) -> None:
    import uvloop

    barrier.wait(_START_TIMEOUT)
    results.put(with_own_cpu(lambda: uvloop.run(_drive(job))))


async def _drive(job: _Job) -> WorkerSample:
    import httpx

    sample = WorkerSample(started=time.monotonic())
    deadline = sample.started + job.time_limit
    left = [job.calls]
    serials = iter(range(1, 1 << 62))
    limits = httpx.Limits(
        max_connections=job.connections, max_keepalive_connections=job.connections
    )
    headers = {"Authorization": job.key}
    tls = ssl.create_default_context(cafile=job.ca_file)
    async with httpx.AsyncClient(verify=tls, limits=limits, timeout=60) as client:

        async def loop() -> None:
            while left[0] > 0 and time.monotonic() < deadline:
                left[0] -= 1
                body = transmission(next(serials), job.recipients)
                started = time.monotonic()
                try:
                    answer = await client.post(job.url, json=body, headers=headers)
                except httpx.TimeoutException:
                    sample.add_error(ErrorKind.TIMEOUT)
                    continue
                except httpx.HTTPError:
                    sample.add_error(ErrorKind.CLOSED)
                    continue
                elapsed = time.monotonic() - started
                sample.sessions += 1
                accepted = answer.json().get("results", {}).get("total_accepted_recipients")
                if answer.status_code != 200 or accepted != job.recipients:
                    sample.add_error(ErrorKind.REPLY)
                    continue
                sample.ok += job.recipients
                sample.latencies.append(elapsed)

        await asyncio.gather(*(loop() for _ in range(job.connections)))
    sample.finished = time.monotonic()
    return sample
