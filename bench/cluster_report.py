"""The report's cluster sections: ``cluster-in``, ``cluster-out`` and ``claim-scale-pg`` as
Markdown tables, and their JSON.

Owns presentation only; the figures come from ``bench.cluster_results`` and
``bench.claim_scale_pg``.
"""

from __future__ import annotations

from bench.claim_scale_pg import PgQueuePoint
from bench.cluster_results import CLUSTER_IN, CLUSTER_OUT, ClusterPoint, cluster_ratios
from bench.harness import BenchReport


def cluster_json(report: BenchReport) -> dict[str, object]:
    return {
        "cluster": [p.to_dict() for p in report.cluster],
        "cluster_ratios": [r.to_dict() for r in cluster_ratios(report.cluster)],
        "claim_scale_pg": [p.to_dict() for p in report.claim_pg],
    }


def cluster_markdown(report: BenchReport) -> str:
    parts = []
    inbound = [p for p in report.cluster if p.case == CLUSTER_IN]
    outbound = [p for p in report.cluster if p.case == CLUSTER_OUT]
    case = report.options.cluster_case
    if inbound:
        parts.append(
            _table(
                f"## Cluster: inbound acceptance, {report.started_at}",
                f"Case {case.key} ({case.title}), mail for the local domain (stored held, "
                f"durable before `250`); up to {report.options.bounds.max_messages} messages or "
                f"{report.options.bounds.time_limit:g} s per row; on 2 nodes the connections "
                "alternate between the nodes.",
                inbound,
            )
        )
    if outbound:
        parts.append(
            _table(
                f"## Cluster: outbound drain, {report.started_at}",
                f"{outbound[0].messages + outbound[0].errors} queued messages (200 domains) "
                "drained into one STARTTLS sink, `[delivery] concurrency` 20 per node; the "
                "clock and the CPU run from the nodes' start (start-up included).",
                outbound,
            )
        )
    if report.cluster:
        parts.append(_ratios(report.cluster))
    if report.claim_pg:
        parts.append(claim_markdown(report.started_at, report.claim_pg))
    return "\n".join(parts)


def _table(title: str, intro: str, points: list[ClusterPoint]) -> str:
    outbound = points[0].case == CLUSTER_OUT
    middle = "Steady msgs/s | To first s" if outbound else "p50 ms | p99 ms"
    last = "Sink sessions" if outbound else "Stored"
    lines = [
        title,
        "",
        intro,
        "CPU ms/msg: user+sys of every node's process tree per message; PG backends: the "
        "PostgreSQL processes serving this run's database; PG server: every PostgreSQL "
        "process (on a shared server, other clients too); WAL: the records of this database's "
        "transactions (pg_waldump).",
        "",
        f"| Setup | Conc. | Msgs | Errors | msgs/s | {middle} | Sealpost CPU ms/msg "
        "| PG backends CPU ms/msg | PG server CPU ms/msg | WAL KB/msg | PG conns | Peak RSS MB "
        f"| {last} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        wal = p.wal_bytes_per_message
        conns = p.pg.peak_backends if p.pg else None
        if outbound:
            middle = f"{_f(p.steady_msgs_per_s)} | {_f(p.to_first)}"
            tail = p.sink_sessions
        else:
            middle = f"{_f(p.p50_ms)} | {_f(p.p99_ms)}"
            tail = p.stored
        lines.append(
            f"| {p.label} | {p.concurrency} | {p.messages} | {p.errors} | {p.msgs_per_s:.1f} "
            f"| {middle} | {_f(p.cpu_ms)} | {_f(p.pg_backend_cpu_ms)} "
            f"| {_f(p.pg_server_cpu_ms)} | {_f(None if wal is None else wal / 1024)} "
            f"| {'n/a' if conns is None else conns} | {p.peak_rss_bytes / 2**20:.1f} "
            f"| {'n/a' if tail is None else tail} |"
        )
    return "\n".join(lines) + "\n"


def _ratios(points: list[ClusterPoint]) -> str:
    lines = [
        "Ratios, same run (msgs/s above 1: faster; CPU per message below 1: cheaper; "
        "total = Sealpost + PostgreSQL backends):",
        "",
        "| Case | Conc. | Subject / baseline | msgs/s | Sealpost CPU/msg | Total CPU/msg |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in cluster_ratios(points):
        lines.append(
            f"| {r.case} | {r.concurrency} | {r.subject} / {r.baseline} | {_x(r.msgs_per_s)} "
            f"| {_x(r.cpu_per_message)} | {_x(r.total_cpu_per_message)} |"
        )
    return "\n".join(lines) + "\n"


def claim_markdown(started_at: str, points: list[PgQueuePoint]) -> str:
    lines = [
        f"## claim_due on PostgreSQL, {started_at}",
        "",
        "N queued, due messages of ~5 KB (one through `enqueue`, the rest SQL copies of it), "
        "then through the store: `claim_due(now, 100, 600)` (median of 20, claims released), "
        "`list(limit=100)`, `count()`, one durable `enqueue`; and `EXPLAIN (ANALYZE, BUFFERS)` "
        "of the claim statement (rolled back).",
        "",
        "| Queued | Fill s | claim_due ms | Plan: due index | Plan ms | Plan buffers "
        "| list ms | count ms | enqueue ms | DB MB |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for q in points:
        lines.append(
            f"| {q.messages:,} | {q.fill_seconds:.1f} | {q.claim_ms:.2f} "
            f"| {'yes' if q.plan.due_index else '**no**'} | {q.plan.execution_ms:.2f} "
            f"| {q.plan.buffers} | {q.list_ms:.2f} | {q.count_ms:.2f} | {q.enqueue_ms:.2f} "
            f"| {q.db_bytes / 2**20:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"
