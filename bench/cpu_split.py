"""The load generator on cores of its own: which CPUs the servers and the generator may use.

By default the generator shares every core with the server it measures, which is the
condition issue 12's targets are set in. With ``--loadgen-cpus`` the generator's processes are
confined to those CPUs and both servers to the rest, so neither server's latency includes time
its threads waited for the generator's (the generator drives a faster server harder and costs
about as much CPU per message as the server). The split is made with ``sched_setaffinity``
on the harness's own thread before it starts each side: a server's whole process tree (Sealpost's
supervisor, workers and their threads; Postfix's master and every daemon it forks later)
inherits the mask it was started with, and so does every generator process spawned after the
switch. Sealpost's ``workers = "auto"`` counts the cores it may use, so it runs one worker per
server CPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


def parse_cpus(text: str) -> tuple[int, ...]:
    """``"0"``, ``"0,1"`` or ``"0-2"`` -> sorted CPU numbers; ``ValueError`` names the fault."""
    cpus: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, sep, high = part.partition("-")
        try:
            first, last = int(low), int(high) if sep else int(low)
        except ValueError:
            raise ValueError(f"{part!r} is not a CPU number or range (e.g. 0 or 0-1)") from None
        if first < 0 or last < first:
            raise ValueError(f"{part!r} is not a CPU range")
        cpus.update(range(first, last + 1))
    if not cpus:
        raise ValueError("no CPU given")
    return tuple(sorted(cpus))


@dataclass(frozen=True)
class CpuSplit:
    """The generator's CPUs and the servers' CPUs: disjoint, both non-empty."""

    loadgen: tuple[int, ...]
    servers: tuple[int, ...]

    @classmethod
    def of(cls, loadgen: tuple[int, ...], available: set[int] | None = None) -> CpuSplit:
        usable = available if available is not None else os.sched_getaffinity(0)
        missing = sorted(set(loadgen) - usable)
        if missing:
            raise ValueError(f"CPU(s) {missing} are not available here (usable: {sorted(usable)})")
        servers = tuple(sorted(usable - set(loadgen)))
        if not servers:
            raise ValueError("no CPU left for the servers: give the load generator fewer")
        return cls(tuple(sorted(loadgen)), servers)

    def describe(self) -> str:
        loadgen, servers = _list(self.loadgen), _list(self.servers)
        return f"load generator pinned to CPU {loadgen}, servers to CPU {servers}"


@contextmanager
def started_on(cpus: tuple[int, ...] | None) -> Iterator[None]:
    """Processes started inside the block run on ``cpus`` (None: no change); the harness's
    thread gets its own mask back afterwards."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _list(cpus: tuple[int, ...]) -> str:
    return ",".join(str(c) for c in cpus)
