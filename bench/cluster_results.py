"""What one cluster measurement found, and the per-message figures derived from it.

Owns the arithmetic the report and the sizing notes share: messages per second, Sealpost CPU
per message (user + system of every node's process tree: ``serve``, its workers, reaped
children), PostgreSQL CPU per message (the backends of the topology's database, and apart
from it the whole server), WAL bytes per message, and the ratios between topologies.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.pg_server import PgUsage

CLUSTER_IN, CLUSTER_OUT = "cluster-in", "cluster-out"


@dataclass(frozen=True)
class ClusterPoint:
    """One topology under one load: ``cluster-in`` (SMTP acceptance at a concurrency) or
    ``cluster-out`` (draining a queue into the sink)."""

    case: str
    topology: str  # Topology.key
    label: str  # Topology.label
    nodes: int
    concurrency: int  # in: client connections; out: [delivery] concurrency per node
    messages: int  # in: acknowledged with 250; out: counted by the sink
    errors: int  # in: failed messages or sessions; out: messages not delivered in time
    elapsed: float
    cpu_seconds: float  # every node's process tree
    peak_rss_bytes: int  # sum of each node's peak
    processes: int  # processes of every node's tree seen during the window
    pg: PgUsage | None  # None on SQLite
    stored: int | None = None  # in: messages the store gained during the window
    p50_ms: float | None = None  # in only
    p99_ms: float | None = None
    to_first: float | None = None  # out only: delivery enabled -> first message at the sink
    sink_sessions: int | None = None  # out only

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def steady_msgs_per_s(self) -> float | None:
        """cluster-out: first to last message at the sink, without the start-up."""
        if self.to_first is None or self.messages < 2:
            return None
        span = self.elapsed - self.to_first
        return (self.messages - 1) / span if span > 0 else None

    def per_message_ms(self, seconds: float | None) -> float | None:
        """``seconds`` of CPU as milliseconds per message."""
        if seconds is None or not self.messages:
            return None
        return seconds * 1000 / self.messages

    @property
    def cpu_ms(self) -> float | None:
        return self.per_message_ms(self.cpu_seconds)

    @property
    def pg_backend_cpu_ms(self) -> float | None:
        return self.per_message_ms(self.pg.backend_cpu_seconds if self.pg else None)

    @property
    def pg_server_cpu_ms(self) -> float | None:
        return self.per_message_ms(self.pg.server_cpu_seconds if self.pg else None)

    @property
    def wal_bytes_per_message(self) -> float | None:
        """The database's WAL per message (pg_waldump); None where it could not be read."""
        if self.pg is None or self.pg.db_wal_bytes is None or not self.messages:
            return None
        return self.pg.db_wal_bytes / self.messages

    @property
    def server_wal_bytes_per_message(self) -> float | None:
        """Every client's WAL over the window, per message of this one."""
        if self.pg is None or not self.messages:
            return None
        return self.pg.wal_bytes / self.messages

    @property
    def total_cpu_ms(self) -> float | None:
        """Sealpost plus the PostgreSQL backends serving it: the CPU a message costs."""
        if self.cpu_ms is None:
            return None
        return self.cpu_ms + (self.pg_backend_cpu_ms or 0.0)

    def to_dict(self) -> dict[str, object]:
        return {
            "case": self.case,
            "topology": self.topology,
            "label": self.label,
            "nodes": self.nodes,
            "concurrency": self.concurrency,
            "messages": self.messages,
            "errors": self.errors,
            "elapsed_s": round(self.elapsed, 4),
            "msgs_per_s": round(self.msgs_per_s, 2),
            "steady_msgs_per_s": _r(self.steady_msgs_per_s),
            "p50_ms": _r(self.p50_ms),
            "p99_ms": _r(self.p99_ms),
            "to_first_s": _r(self.to_first),
            "sink_sessions": self.sink_sessions,
            "stored": self.stored,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "cpu_ms_per_msg": _r(self.cpu_ms),
            "pg_backend_cpu_ms_per_msg": _r(self.pg_backend_cpu_ms),
            "pg_server_cpu_ms_per_msg": _r(self.pg_server_cpu_ms),
            "total_cpu_ms_per_msg": _r(self.total_cpu_ms),
            "wal_bytes_per_msg": _r(self.wal_bytes_per_message),
            "server_wal_bytes_per_msg": _r(self.server_wal_bytes_per_message),
            "peak_rss_mb": round(self.peak_rss_bytes / 2**20, 1),
            "processes": self.processes,
            **(self.pg.to_dict() if self.pg else {}),
        }


@dataclass(frozen=True)
class ClusterRatio:
    """``subject`` / ``baseline`` for one case at one concurrency."""

    case: str
    concurrency: int
    subject: str
    baseline: str
    msgs_per_s: float | None
    cpu_per_message: float | None  # Sealpost's CPU only
    total_cpu_per_message: float | None  # Sealpost + PostgreSQL backends

    def to_dict(self) -> dict[str, object]:
        return {
            "case": self.case,
            "concurrency": self.concurrency,
            "subject": self.subject,
            "baseline": self.baseline,
            "msgs_per_s": _r(self.msgs_per_s),
            "cpu_per_message": _r(self.cpu_per_message),
            "total_cpu_per_message": _r(self.total_cpu_per_message),
        }


# (subject, baseline): what PostgreSQL costs against SQLite, and what the second node gives.
COMPARISONS = (("pg-1", "sqlite-1"), ("pg-2", "pg-1"), ("pg-2", "sqlite-1"))


def cluster_ratios(points: list[ClusterPoint]) -> list[ClusterRatio]:
    found = {(p.case, p.concurrency, p.topology): p for p in points}
    ratios = []
    for case, concurrency in dict.fromkeys((p.case, p.concurrency) for p in points):
        for subject, baseline in COMPARISONS:
            ours = found.get((case, concurrency, subject))
            theirs = found.get((case, concurrency, baseline))
            if ours is None or theirs is None:
                continue
            ratios.append(
                ClusterRatio(
                    case,
                    concurrency,
                    ours.label,
                    theirs.label,
                    _div(ours.msgs_per_s, theirs.msgs_per_s),
                    _div(ours.cpu_ms, theirs.cpu_ms),
                    _div(ours.total_cpu_ms, theirs.total_cpu_ms),
                )
            )
    return ratios


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
