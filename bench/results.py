"""What one load-generator run measured, as values: per-process samples and their merge.

Owns the arithmetic (throughput over the common wall-clock window, nearest-rank
percentiles) so the generator, the harness and the report agree on what a figure means.
"""

from __future__ import annotations

import math
import resource
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class ErrorKind(StrEnum):
    """Why a message (or the session that was to carry it) failed."""

    CONNECT = "connect"  # TCP connect refused or failed
    TLS = "tls"  # STARTTLS refused or the handshake failed
    REPLY = "reply"  # an unexpected reply code (4xx/5xx where 2xx/3xx was due)
    TIMEOUT = "timeout"  # no reply within the per-step timeout
    CLOSED = "closed"  # the server closed the connection mid-session


@dataclass
class WorkerSample:
    """What one generator process saw; ``started``/``finished`` are CLOCK_MONOTONIC seconds,
    which Linux shares between processes, so windows of several processes can be merged."""

    ok: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, end of data -> 250
    # seconds, connect -> the reply to the EHLO that opens the session (after STARTTLS)
    opens: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    sessions: int = 0
    started: float = 0.0
    finished: float = 0.0
    cpu_seconds: float = 0.0  # this process's own user + system CPU over the run

    def add_error(self, kind: ErrorKind) -> None:
        self.errors[kind.value] = self.errors.get(kind.value, 0) + 1


@dataclass(frozen=True)
class LoadResult:
    """The merge of every generator process of one run."""

    ok: int
    errors: dict[str, int]
    sessions: int
    elapsed: float  # seconds from the first process starting to the last one finishing
    p50_ms: float | None
    p99_ms: float | None
    processes: int
    cpu_seconds: float = 0.0  # the generator's own CPU, every process: it shares the cores
    open_p50_ms: float | None = None  # connect to the session's last EHLO reply
    open_p99_ms: float | None = None

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def msgs_per_s(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def cpu_per_thousand(self) -> float | None:
        """The generator's CPU seconds per 1,000 acknowledged messages."""
        return self.cpu_seconds * 1000 / self.ok if self.ok else None

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "errors": dict(self.errors),
            "error_count": self.error_count,
            "sessions": self.sessions,
            "elapsed_s": round(self.elapsed, 4),
            "msgs_per_s": round(self.msgs_per_s, 2),
            "p50_ms": _round(self.p50_ms),
            "p99_ms": _round(self.p99_ms),
            "open_p50_ms": _round(self.open_p50_ms),
            "open_p99_ms": _round(self.open_p99_ms),
            "processes": self.processes,
            "generator_cpu_s": round(self.cpu_seconds, 3),
        }


def with_own_cpu(run: Callable[[], WorkerSample]) -> WorkerSample:
    """``run()``'s sample, with the CPU (user + system) this process spent producing it: a
    generator shares the cores with the server it measures."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    sample = run()
    after = resource.getrusage(resource.RUSAGE_SELF)
    sample.cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return sample


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values; ``None`` when there are none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def merge(samples: Iterable[WorkerSample]) -> LoadResult:
    """One result from every process's sample."""
    samples = list(samples)
    errors: Counter[str] = Counter()
    for sample in samples:
        errors.update(sample.errors)
    active = [s for s in samples if s.finished > 0]
    elapsed = max(s.finished for s in active) - min(s.started for s in active) if active else 0.0
    p50, p99 = _p50_p99_ms(x for s in samples for x in s.latencies)
    open_p50, open_p99 = _p50_p99_ms(x for s in samples for x in s.opens)
    return LoadResult(
        ok=sum(s.ok for s in samples),
        errors=dict(sorted(errors.items())),
        sessions=sum(s.sessions for s in samples),
        elapsed=elapsed,
        p50_ms=p50,
        p99_ms=p99,
        processes=len(samples),
        cpu_seconds=sum(s.cpu_seconds for s in samples),
        open_p50_ms=open_p50,
        open_p99_ms=open_p99,
    )


def _p50_p99_ms(seconds: Iterable[float]) -> tuple[float | None, float | None]:
    """The median and 99th percentile of durations in seconds, in milliseconds."""
    ordered = sorted(seconds)
    found = (percentile(ordered, 0.50), percentile(ordered, 0.99))
    p50, p99 = (None if v is None else v * 1000 for v in found)
    return p50, p99


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
