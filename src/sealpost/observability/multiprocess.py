"""Metrics of several worker processes, seen at one address.

With ``[server] workers`` above 1, every worker counts in its own process, but Prometheus
scrapes one listener (the primary's). prometheus_client's multiprocess mode is used: the
supervisor makes a directory for this run (``RunDirectory``) before it forks; each worker,
first thing after the fork, switches its metric values to memory-mapped files in it
(``enter_worker``: ``counter_<pid>.db``, ``gauge_livesum_<pid>.db``, ...), and the scrape
adds up every file (``scrape_registry``). Files of a worker that died stay, so counters
never go backwards across a restart; its live gauges (open connections) are dropped by the
supervisor (``RunDirectory.process_dead``). The directory is removed when the supervisor
exits, so a new run starts from zero, as a single process does.

Why not the supervisor collecting from the workers: it runs no event loop, thread or
database connection by design (``workers/supervisor.py``), and a pull from every worker on
each scrape would add a round trip per worker; the files cost one ``mmap`` write per update.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from sealpost.observability.metrics import BuildInfo

_ENV = "PROMETHEUS_MULTIPROC_DIR"


class RunDirectory:
    """The per-run directory of metric files (private to the service user)."""

    def __init__(self, parent: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="sealpost-metrics-", dir=parent))

    def process_dead(self, pid: int) -> None:
        """A worker exited: its live gauges no longer count (its counters stay)."""
        with contextlib.suppress(OSError):
            mark_process_dead(pid, str(self.path))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def enter_worker(path: str | os.PathLike[str]) -> None:
    """In a freshly forked worker, before any ``Metrics`` is built: keep every metric value
    in this process's files under ``path``."""
    os.environ[_ENV] = str(path)
    values.ValueClass = values.MultiProcessValue()


def scrape_registry(path: str | os.PathLike[str]) -> CollectorRegistry:
    """A registry whose collection is the sum of every worker's files, and the build info."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    registry.register(BuildInfo())
    return registry
