"""The ``cluster-in`` and ``cluster-out`` cases: SMTP acceptance and outbound drain on SQLite
with one node, PostgreSQL with one node and PostgreSQL with two nodes (issue 13 item 6).

Owns the order and the accounting of each run.

* ``cluster-in``: every topology's nodes run at once (``bench.cluster_nodes``); at each
  concurrency the topologies are measured one after the other with the same generator
  (``bench.loadgen``, inbound case ``c`` by default: STARTTLS, 50 messages per connection),
  so drift on a shared machine hits all alike. On two nodes the connections alternate between
  them (``LoadSpec.more_targets``); at concurrency 1 only the first node gets load. The mail
  is for the local domain, stored ``held`` before ``250``, so the figure is acceptance: the
  SMTP path and the durable commit.
* ``cluster-out``: per topology, N messages are loaded untimed through the first node's
  ``submission`` listener with delivery held (as ``bench.outbound`` does), the node is
  stopped, and every node of the topology is started with delivery on and the sink as
  smarthost; the clock runs from the start until the sink has counted N. Each node keeps
  the outbound case's ``[delivery] concurrency`` (20): a second node brings its own 20
  sessions, as adding a node would in production.

Each window records, besides the rate: the CPU of every node's tree (for ``cluster-out``
from each process's birth, start-up included), and on PostgreSQL the CPU of the database's
backends, of the whole server and the WAL written (``bench.pg_server.PgMonitor``).
``stored`` proves acceptance: the store gained exactly the messages acknowledged.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.cases import CASES, Case
from bench.cluster_nodes import TOPOLOGIES, Cluster, Topology
from bench.cluster_results import CLUSTER_IN, CLUSTER_OUT, ClusterPoint
from bench.loadgen import LoadSpec, run_load
from bench.outbound import (
    MAIL_FROM,
    OutboundSettings,
    inject,
    recipient,
    sealpost_drain,
    sealpost_held,
)
from bench.peers import Pki
from bench.pg_server import DEFAULT_PG_URL, PgMonitor, PgUsage
from bench.resources import ResourceUsage, TreeMonitor
from bench.sealpost_config import BENCH_DOMAIN, SUBMISSION_LISTENER, BenchConfig
from bench.sink import SinkProcess
from bench.smtp_session import Target, build_message

RCPT_TO = f"sink@{BENCH_DOMAIN}"


@dataclass(frozen=True)
class ClusterSettings:
    """What the cluster cases run."""

    concurrencies: tuple[int, ...] = (1, 10, 50)
    time_limit: float = 20.0
    max_messages: int = 20_000
    processes: int = 2
    inbound_case: Case = CASES["c"]
    outbound_messages: int = 20_000
    admin_url: str = DEFAULT_PG_URL
    topologies: tuple[Topology, ...] = TOPOLOGIES


def _node_monitors(stack: ExitStack, cluster: Cluster, since_start: bool) -> list[TreeMonitor]:
    """A running monitor on every node's process tree, stopped when ``stack`` closes."""
    return [
        stack.enter_context(TreeMonitor(node.root_pid, since_start=since_start))
        for node in cluster.nodes
    ]


def _pg_monitor(stack: ExitStack, cluster: Cluster) -> PgMonitor | None:
    return stack.enter_context(PgMonitor(cluster.db)) if cluster.db is not None else None


def _usage(nodes: list[TreeMonitor]) -> ResourceUsage:
    usages = [m.usage for m in nodes if m.usage is not None]
    return ResourceUsage(
        peak_rss_bytes=sum(u.peak_rss_bytes for u in usages),
        peak_pss_bytes=sum(u.peak_pss_bytes for u in usages),
        cpu_seconds=sum(u.cpu_seconds for u in usages),
        processes_seen=sum(u.processes_seen for u in usages),
    )


def _pg(monitor: PgMonitor | None) -> PgUsage | None:
    return monitor.usage if monitor is not None else None


# --- cluster-in -----------------------------------------------------------------------------


def run_cluster_inbound(
    base: Path, pki: Pki, settings: ClusterSettings, configs: list[BenchConfig]
) -> list[ClusterPoint]:
    points: list[ClusterPoint] = []
    with ExitStack() as stack:
        clusters = []
        for topology in settings.topologies:
            cluster = stack.enter_context(
                Cluster(base, pki, topology, f"in-{topology.key}", settings.admin_url)
            )
            for _ in range(topology.nodes):
                cluster.add_node((), cluster.label(CLUSTER_IN))
            cluster.start()
            cluster.warm_up(MAIL_FROM, RCPT_TO, build_message("warm-up"))
            configs.append(cluster.nodes[0].config)
            clusters.append(cluster)
        for concurrency in settings.concurrencies:
            for cluster in clusters:
                points.append(measure_inbound(cluster, concurrency, settings))
    return points


def measure_inbound(cluster: Cluster, concurrency: int, settings: ClusterSettings) -> ClusterPoint:
    case = settings.inbound_case
    targets = [Target(n.host, n.port, case.starttls, MAIL_FROM, RCPT_TO) for n in cluster.nodes]
    spec = LoadSpec(
        target=targets[0],
        connections=concurrency,
        messages_per_connection=case.messages_per_connection,
        max_messages=settings.max_messages,
        time_limit=settings.time_limit,
        processes=settings.processes,
        more_targets=tuple(targets[1:]),
    )
    before = cluster.stored()
    with ExitStack() as stack:
        pg = _pg_monitor(stack, cluster)
        nodes = _node_monitors(stack, cluster, since_start=False)
        load = run_load(spec)
    usage = _usage(nodes)
    topology = cluster.topology
    return ClusterPoint(
        case=CLUSTER_IN,
        topology=topology.key,
        label=topology.label,
        nodes=topology.nodes,
        concurrency=concurrency,
        messages=load.ok,
        errors=load.error_count,
        elapsed=load.elapsed,
        cpu_seconds=usage.cpu_seconds,
        peak_rss_bytes=usage.peak_rss_bytes,
        processes=usage.processes_seen,
        pg=_pg(pg),
        stored=cluster.stored() - before,
        p50_ms=load.p50_ms,
        p99_ms=load.p99_ms,
    )


# --- cluster-out ----------------------------------------------------------------------------


def run_cluster_outbound(
    base: Path, pki: Pki, settings: ClusterSettings, configs: list[BenchConfig]
) -> list[ClusterPoint]:
    out = OutboundSettings(messages=settings.outbound_messages)
    points = []
    with SinkProcess(pki.cert_file, pki.key_file) as sink:
        for topology in settings.topologies:
            with Cluster(base, pki, topology, f"out-{topology.key}", settings.admin_url) as c:
                points.append(drain_cluster(c, pki, sink, out, configs))
    return points


def drain_cluster(
    cluster: Cluster,
    pki: Pki,
    sink: SinkProcess,
    settings: OutboundSettings,
    configs: list[BenchConfig],
) -> ClusterPoint:
    """Load through the first node (delivery held), then drain through every node."""
    first = cluster.add_node(sealpost_held(), cluster.label(f"{CLUSTER_OUT} loading"))
    key = json.loads(first.run("keys", "create", "--label", "bench", "--json"))["key"]
    first.start()
    try:
        port = first.ports[SUBMISSION_LISTENER]
        inject(Target(first.host, port, True, MAIL_FROM, recipient(0, 1), auth_key=key), settings)
    finally:
        first.stop()
    drain = sealpost_drain(pki, sink.port, settings)
    label = cluster.label(CLUSTER_OUT)
    configs.append(cluster.reconfigure(drain, label))
    for _ in range(cluster.topology.nodes - 1):
        cluster.add_node(drain, label)
    sink.reset()
    with ExitStack() as stack:
        pg = _pg_monitor(stack, cluster)
        t0 = time.monotonic()
        cluster.start()
        nodes = _node_monitors(stack, cluster, since_start=True)
        progress = sink.wait_for(settings.messages, settings.drain_timeout)
        done = progress.count >= settings.messages
        elapsed = (progress.last_at if done else time.monotonic()) - t0
    cluster.stop()
    usage = _usage(nodes)
    topology = cluster.topology
    return ClusterPoint(
        case=CLUSTER_OUT,
        topology=topology.key,
        label=topology.label,
        nodes=topology.nodes,
        concurrency=settings.concurrency,
        messages=progress.count,
        errors=max(0, settings.messages - progress.count),
        elapsed=elapsed,
        cpu_seconds=usage.cpu_seconds,
        peak_rss_bytes=usage.peak_rss_bytes,
        processes=usage.processes_seen,
        pg=_pg(pg),
        to_first=(progress.first_at - t0) if progress.count else elapsed,
        sink_sessions=progress.sessions,
    )
