"""The load generator: several processes, each an asyncio (uvloop) loop of SMTP sessions.

Owns how load is shaped and bounded: ``connections`` sessions open at once in total, split
over ``processes`` worker processes (so the generator is not the bottleneck, and never one
Python interpreter's GIL), each session carrying up to ``messages_per_connection`` messages;
the run stops at ``max_messages`` messages *or* ``time_limit`` seconds, whichever comes first
(sessions finish the message they are in). With a ``rate`` the messages are paced
(``Pacer``): the same connections, at most that many messages a second, so two servers'
latencies can be compared at the same load. Every process starts on one barrier and returns a
``WorkerSample``; ``run_load`` merges them into one ``LoadResult``. With ``more_targets`` (the
other nodes of a cluster) the run's connections go round-robin over every target.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier

from bench.results import ErrorKind, LoadResult, WorkerSample, merge, with_own_cpu
from bench.smtp_session import SessionError, SmtpSession, Target, build_message, client_tls_context

_START_TIMEOUT = 60.0  # seconds for every worker process to reach the start barrier


@dataclass(frozen=True)
class LoadSpec:
    """One run of the generator against one server."""

    target: Target
    connections: int
    messages_per_connection: int
    max_messages: int
    time_limit: float
    processes: int = 2
    more_targets: tuple[Target, ...] = ()  # other nodes: connections go round-robin over all
    rate: float = 0.0  # messages per second over all processes; 0: as fast as answered

    @property
    def targets(self) -> tuple[Target, ...]:
        return (self.target, *self.more_targets)


@dataclass(frozen=True)
class _Share:
    """The part of a run one worker process does."""

    index: int
    connections: int
    budget: int
    first: int = 0  # the run-wide index of this process's first connection


class Pacer:
    """Open-loop pacing of one process's messages: the k-th may start at ``started + k /
    rate``, never earlier. A message whose slot has passed (the server was slow) goes at once
    and the schedule restarts from it: lost time is not made up with a burst."""

    def __init__(self, rate: float, started: float) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = started

    def delay(self, now: float) -> float:
        """Seconds to wait before the next message (0: go), claiming its slot."""
        if self._interval == 0.0:
            return 0.0
        slot = max(self._next, now)
        self._next = slot + self._interval
        return max(0.0, slot - now)


def split(spec: LoadSpec) -> list[_Share]:
    """Connections and message budget, spread as evenly as possible over the processes."""
    count = max(1, min(spec.processes, spec.connections))
    shares = []
    first = 0
    for index in range(count):
        connections = spec.connections // count + (index < spec.connections % count)
        budget = spec.max_messages * connections // spec.connections
        shares.append(_Share(index, connections, budget, first))
        first += connections
    leftover = spec.max_messages - sum(s.budget for s in shares)
    shares[0] = _Share(0, shares[0].connections, shares[0].budget + leftover, 0)
    return shares


def run_load(spec: LoadSpec) -> LoadResult:
    """Start the worker processes, release them together, merge what they measured."""
    if spec.connections < 1 or spec.messages_per_connection < 1 or spec.max_messages < 1:
        raise ValueError("connections, messages_per_connection and max_messages must be >= 1")
    context = multiprocessing.get_context("spawn")
    shares = split(spec)
    barrier = context.Barrier(len(shares) + 1)
    results: multiprocessing.Queue[WorkerSample] = context.Queue()
    workers = [
        context.Process(
            target=_worker_main, args=(spec, share, barrier, results), name=f"loadgen-{i}"
        )
        for i, share in enumerate(shares)
    ]
    for worker in workers:
        worker.start()
    samples: list[WorkerSample] = []
    try:
        barrier.wait(_START_TIMEOUT)
        wait = spec.time_limit + 2 * spec.target.step_timeout + _START_TIMEOUT
        deadline = time.monotonic() + wait
        while len(samples) < len(workers):
            try:
                samples.append(results.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                raise RuntimeError(
                    f"load generator: {len(workers) - len(samples)} worker(s) did not report"
                ) from None
    finally:
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
                worker.join(5)
    return merge(samples)


def _worker_main(
    spec: LoadSpec,
    share: _Share,
    barrier: Barrier,
    results: multiprocessing.Queue[WorkerSample],
) -> None:
    import uvloop

    barrier.wait(_START_TIMEOUT)
    results.put(with_own_cpu(lambda: uvloop.run(_drive(spec, share))))


async def _drive(spec: LoadSpec, share: _Share) -> WorkerSample:
    sample = WorkerSample(started=time.monotonic())
    deadline = sample.started + spec.time_limit
    budget = [share.budget]
    tls = client_tls_context() if spec.target.starttls else None
    serials = iter(range(1 << 62))
    pacer = Pacer(spec.rate * share.connections / spec.connections, sample.started)

    async def take() -> bool:
        if budget[0] <= 0 or time.monotonic() >= deadline:
            return False
        budget[0] -= 1
        wait = pacer.delay(time.monotonic())
        if wait > 0:
            await asyncio.sleep(wait)
        return True

    async def connection_loop(target: Target) -> None:
        while await take():  # the ticket taken here is the session's first message
            session = SmtpSession(target, tls)
            opening = time.monotonic()
            try:
                await session.open()
            except SessionError as exc:
                sample.add_error(exc.kind)
                await session.close(polite=False)
                continue
            sample.opens.append(time.monotonic() - opening)
            sample.sessions += 1
            healthy = True
            sent = 0
            while True:
                try:
                    message = build_message(f"{share.index}.{next(serials)}")
                    sample.latencies.append(await session.send(message))
                    sample.ok += 1
                except SessionError as exc:
                    sample.add_error(exc.kind)
                    healthy = False
                    break
                sent += 1
                if sent >= spec.messages_per_connection or not await take():
                    break
            await session.close(polite=healthy)

    targets = spec.targets
    tasks = [
        asyncio.create_task(connection_loop(targets[(share.first + k) % len(targets)]))
        for k in range(share.connections)
    ]
    hard_stop = spec.time_limit + 2 * spec.target.step_timeout
    _, pending = await asyncio.wait(tasks, timeout=hard_stop)
    for task in pending:
        task.cancel()
        sample.add_error(ErrorKind.TIMEOUT)
    if pending:
        await asyncio.wait(pending, timeout=5)
    sample.finished = time.monotonic()
    return sample
