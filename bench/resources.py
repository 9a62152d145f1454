"""Peak RSS and CPU seconds of a server's whole process tree while the load runs (psutil).

Owns the accounting: a background thread sums the RSS of the root process and all its live
descendants every ``interval`` seconds and keeps the peak. A sum of RSS counts pages shared
between processes once per process, which inflates a forking server such as Postfix (every
smtpd maps the same libraries), so every ``pss_every``-th sample also sums PSS (shared pages
split between their users; dearer to read, from ``/proc/PID/smaps_rollup``). CPU is the
difference of two snapshots of user+system time over the tree, where each process also
carries the time of the children it has already reaped (``children_user`` and
``children_system``), so short-lived Postfix daemons (smtpd, cleanup) that exit during the run
are still counted.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from types import TracebackType

import psutil


@dataclass(frozen=True)
class ResourceUsage:
    """What the server's process tree used during one measurement."""

    peak_rss_bytes: int
    peak_pss_bytes: int
    cpu_seconds: float
    processes_seen: int

    def to_dict(self) -> dict[str, object]:
        return {
            "peak_rss_mb": round(self.peak_rss_bytes / 2**20, 1),
            "peak_pss_mb": round(self.peak_pss_bytes / 2**20, 1),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "processes_seen": self.processes_seen,
        }


def tree(root_pid: int) -> list[psutil.Process]:
    """The root and its live descendants (empty when the root is gone)."""
    try:
        root = psutil.Process(root_pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_memory(root_pid: int, with_pss: bool) -> tuple[int, int, set[int]]:
    """(sum of RSS, sum of PSS or 0, pids seen) over the tree."""
    rss, pss, pids = 0, 0, set()
    for proc in tree(root_pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if with_pss:
                full = proc.memory_full_info()
                rss, pss = rss + full.rss, pss + full.pss
            else:
                rss += proc.memory_info().rss
            pids.add(proc.pid)
    return rss, pss, pids


def tree_cpu_seconds(root_pid: int) -> float:
    total = 0.0
    for proc in tree(root_pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = proc.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


class TreeMonitor:
    """``with TreeMonitor(pid) as monitor: ...`` then ``monitor.usage``."""

    def __init__(
        self, root_pid: int, interval: float = 0.1, pss_every: int = 5, since_start: bool = False
    ) -> None:
        self.root_pid = root_pid
        self.since_start = since_start  # count CPU from the process's birth, not from enter
        self.interval = interval
        self.pss_every = pss_every
        self._samples = 0
        self._peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-monitor", daemon=True)
        self._peak = 0
        self._pids: set[int] = set()
        self._cpu_start = 0.0
        self.usage: ResourceUsage | None = None

    def __enter__(self) -> TreeMonitor:
        self._cpu_start = 0.0 if self.since_start else tree_cpu_seconds(self.root_pid)
        self._take_sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(5)
        self._take_sample(with_pss=True)
        cpu = max(0.0, tree_cpu_seconds(self.root_pid) - self._cpu_start)
        self.usage = ResourceUsage(self._peak, self._peak_pss, cpu, len(self._pids))

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._take_sample()

    def _take_sample(self, with_pss: bool = False) -> None:
        with_pss = with_pss or self._samples % self.pss_every == 0
        self._samples += 1
        rss, pss, pids = tree_memory(self.root_pid, with_pss)
        self._peak = max(self._peak, rss)
        self._peak_pss = max(self._peak_pss, pss)
        self._pids |= pids
