"""The benchmark run: start both servers, drive each case with the same generator, stop them.

Owns the order of a run (servers interleaved per measurement, so drift on a shared machine
hits both alike), the warm-up that proves each server accepts a message before it is timed,
and the cleanup (both servers stopped and the work directory removed, whatever happens).
A part that fails (a peer that would not start, a drain past its timeout) is recorded in the
report and the next part still runs: a fifteen-minute run keeps what it measured.
"""

from __future__ import annotations

import shutil
import smtplib
import ssl
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.api_case import ApiMeasurement, ApiSettings, run_api
from bench.cases import CASES, Bounds, Case
from bench.claim_scale_pg import PgQueuePoint, run_claim_scale_pg
from bench.cluster_cases import ClusterSettings, run_cluster_inbound, run_cluster_outbound
from bench.cluster_results import ClusterPoint
from bench.cpu_split import CpuSplit, started_on
from bench.loadgen import LoadSpec, run_load
from bench.machine import Machine, describe_machine
from bench.outbound import OutboundMeasurement, OutboundSettings, run_outbound
from bench.peers import (
    Pki,
    PostfixServer,
    SealpostServer,
    Server,
    make_pki,
)
from bench.pg_server import DEFAULT_PG_URL
from bench.queue_scale import QueuePoint, run_queue_scale
from bench.resources import ResourceUsage, TreeMonitor
from bench.results import LoadResult
from bench.sealpost_config import BENCH_DOMAIN, DELIVERY_DISABLED, BenchConfig, workers_change
from bench.smtp_session import Target, build_message

MAIL_FROM = "loadgen@client.bench.test"
RCPT_TO = f"sink@{BENCH_DOMAIN}"
DELIVERY_DISABLED_LABEL = "Sealpost (delivery disabled)"
AT_POSTFIX_RATE_LABEL = "Sealpost (at Postfix's rate)"
# Issue 12's target read as one statement: 1.5x Postfix's msgs/s with a p99 no worse than
# Postfix's at its own maximum. A closed-loop generator gives the faster server all it can
# take, so its unpaced p99 is measured at 1.8-2x Postfix's load; paced at 1.5x, both halves
# of the target are measured at once.
TARGET_MULTIPLE = 1.5
AT_TARGET_RATE_LABEL = f"Sealpost (at {TARGET_MULTIPLE:g}x Postfix's rate)"


@dataclass(frozen=True)
class BenchOptions:
    """What to run."""

    cases: tuple[Case, ...]
    concurrencies: tuple[int, ...]
    bounds: Bounds
    processes: int = 2
    keep_workdir: bool = False
    outbound_messages: int = 0  # 0: no outbound case
    api: bool = False
    queue_sizes: tuple[int, ...] = ()  # (): no queue-scale case
    delivery_disabled_line: bool = False  # also measure the "delivery disabled" variant
    also_workers: tuple[int, ...] = ()  # also measure Sealpost with [server] workers = each
    cluster_in: bool = False  # SQLite 1 node / PostgreSQL 1 and 2 nodes, inbound
    cluster_out_messages: int = 0  # the same, outbound drain of N messages (0: not run)
    claim_pg_sizes: tuple[int, ...] = ()  # claim_due on PostgreSQL at these sizes
    cluster_case: Case = CASES["c"]  # the inbound workload of cluster-in
    pg_url: str = DEFAULT_PG_URL  # the server the PostgreSQL cases create databases on
    cpu_split: CpuSplit | None = None  # inbound: generator and servers on separate CPUs
    at_postfix_rate: bool = False  # inbound: also Sealpost paced at Postfix's msgs/s (paced_rates)

    @property
    def needs_servers(self) -> bool:
        return bool(
            self.cases
            or self.outbound_messages
            or self.api
            or self.cluster_in
            or self.cluster_out_messages
        )


@dataclass(frozen=True)
class Measurement:
    """One server under one case at one concurrency."""

    case: Case
    concurrency: int
    server: str
    load: LoadResult
    usage: ResourceUsage

    def to_dict(self) -> dict[str, object]:
        return {
            "case": self.case.key,
            "case_title": self.case.title,
            "concurrency": self.concurrency,
            "server": self.server,
            **self.load.to_dict(),
            **self.usage.to_dict(),
        }


@dataclass(frozen=True)
class PartFailure:
    """One part of a run that raised instead of finishing (the rest of the report stands)."""

    part: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"part": self.part, "error": self.error}


@dataclass
class BenchReport:
    """Everything a run produced, in run order."""

    machine: Machine
    options: BenchOptions
    started_at: str
    measurements: list[Measurement] = field(default_factory=list)
    settings: dict[str, dict[str, str]] = field(default_factory=dict)
    outbound: list[OutboundMeasurement] = field(default_factory=list)
    api: list[ApiMeasurement] = field(default_factory=list)
    queue: list[QueuePoint] = field(default_factory=list)
    configs: list[BenchConfig] = field(default_factory=list)  # every Sealpost config used
    cluster: list[ClusterPoint] = field(default_factory=list)
    claim_pg: list[PgQueuePoint] = field(default_factory=list)
    failures: list[PartFailure] = field(default_factory=list)

    def find(self, case: str, concurrency: int, server: str) -> Measurement | None:
        for m in self.measurements:
            if (m.case.key, m.concurrency, m.server) == (case, concurrency, server):
                return m
        return None


def run_benchmark(options: BenchOptions, workdir: Path | None = None) -> BenchReport:
    """Run every (case, concurrency) against Sealpost then Postfix; returns the report."""
    base = workdir or Path(tempfile.mkdtemp(prefix="sp-bench-", dir="/tmp"))
    base.chmod(0o755)  # Postfix's unprivileged daemons must search every parent
    report = BenchReport(
        describe_machine(), options, datetime.now(UTC).isoformat(timespec="seconds")
    )
    try:
        if options.queue_sizes:  # first: it needs no server, and leaves nothing running
            attempt(
                report,
                "queue",
                lambda: report.queue.extend(run_queue_scale(base, options.queue_sizes)),
            )
        if options.claim_pg_sizes:
            attempt(
                report,
                "claim-scale-pg",
                lambda: report.claim_pg.extend(
                    run_claim_scale_pg(options.claim_pg_sizes, options.pg_url)
                ),
            )
        if not options.needs_servers:
            return report
        pki = make_pki(base / "pki")
        if options.cases:
            attempt(report, "inbound", lambda: run_inbound(base, pki, options, report))
        if options.outbound_messages:
            settings = OutboundSettings(messages=options.outbound_messages)
            attempt(
                report,
                "outbound",
                lambda: report.outbound.extend(run_outbound(base, pki, settings, report.configs)),
            )
        if options.api:
            api_settings = ApiSettings.from_bounds(options)
            attempt(
                report,
                "api",
                lambda: report.api.extend(run_api(base, pki, api_settings, report.configs)),
            )
        attempt(report, "cluster", lambda: run_cluster(base, pki, options, report))
    finally:
        if not options.keep_workdir and workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    return report


def attempt(report: BenchReport, part: str, run: Callable[[], object]) -> None:
    """Run one part of the benchmark. If it raises, the failure goes into the report (and to
    stderr at once) and the caller goes on with the next part; the measurements the part
    appended before it failed stay in the report."""
    try:
        run()
    except Exception as exc:  # whatever broke one part must not lose the others
        failure = PartFailure(part, f"{type(exc).__name__}: {exc}")
        report.failures.append(failure)
        print(f"benchmark part {part!r} failed: {failure.error}", file=sys.stderr)


def run_cluster(base: Path, pki: Pki, options: BenchOptions, report: BenchReport) -> None:
    """The cluster cases (``bench.cluster_cases``), inbound first."""
    settings = ClusterSettings(
        concurrencies=options.concurrencies,
        time_limit=options.bounds.time_limit,
        max_messages=options.bounds.max_messages,
        processes=options.processes,
        inbound_case=options.cluster_case,
        outbound_messages=options.cluster_out_messages,
        admin_url=options.pg_url,
    )
    if options.cluster_in:
        report.cluster += run_cluster_inbound(base, pki, settings, report.configs)
    if options.cluster_out_messages:
        report.cluster += run_cluster_outbound(base, pki, settings, report.configs)


def run_inbound(base: Path, pki: Pki, options: BenchOptions, report: BenchReport) -> None:
    """Cases a-c: the servers up for the whole inbound part, stopped before the rest. Each
    (case, concurrency) measures Sealpost, [Sealpost with delivery disabled,] then Postfix."""
    top = max(options.concurrencies)
    with ExitStack() as stack:
        sealposts = [SealpostServer(base, pki)]
        if options.delivery_disabled_line:
            sealposts.append(
                SealpostServer(
                    base,
                    pki,
                    name="sealpost-nodelivery",
                    label=DELIVERY_DISABLED_LABEL,
                    extra=[DELIVERY_DISABLED],
                )
            )
        for count in options.also_workers:
            sealposts.append(
                SealpostServer(
                    base,
                    pki,
                    name=f"sealpost-workers-{count}",
                    label=f"Sealpost (workers = {count})",
                    extra=[workers_change(count)],
                )
            )
        split = options.cpu_split
        with started_on(split.servers if split else None):
            for sealpost in sealposts:
                stack.callback(sealpost.stop)
                sealpost.start()
                report.configs.append(sealpost.config)
            postfix = PostfixServer(base, pki, top)
            stack.callback(postfix.stop)
            postfix.start()
        servers: tuple[Server, ...] = (*sealposts, postfix)
        for server in servers:
            warm_up(server)
            report.settings[server.label] = server.settings()
        for case in options.cases:
            for concurrency in options.concurrencies:
                for server in servers:
                    report.measurements.append(measure(server, case, concurrency, options))
                if options.at_postfix_rate:
                    report.measurements.extend(
                        at_postfix_rate(report, sealposts[0], case, concurrency, options)
                    )


def paced_rates(postfix_msgs_per_s: float) -> list[tuple[float, str]]:
    """(rate, label) of the paced Sealpost lines of a cell whose Postfix made
    ``postfix_msgs_per_s``: at Postfix's rate (both latencies at the same load) and at
    ``TARGET_MULTIPLE`` times it (the throughput target, with its latency)."""
    base = max(1.0, postfix_msgs_per_s)
    return [(base, AT_POSTFIX_RATE_LABEL), (base * TARGET_MULTIPLE, AT_TARGET_RATE_LABEL)]


def at_postfix_rate(
    report: BenchReport, sealpost: Server, case: Case, concurrency: int, options: BenchOptions
) -> list[Measurement]:
    """Sealpost again, its messages paced at each of ``paced_rates``: closed-loop, the faster
    server also carries more, so its unpaced latency is measured at a higher load than
    Postfix's."""
    postfix = report.find(case.key, concurrency, PostfixServer.label)
    assert postfix is not None
    return [
        measure(sealpost, case, concurrency, options, rate=rate, label=label)
        for rate, label in paced_rates(postfix.load.msgs_per_s)
    ]


def measure(
    server: Server,
    case: Case,
    concurrency: int,
    options: BenchOptions,
    *,
    rate: float = 0.0,
    label: str | None = None,
) -> Measurement:
    spec = LoadSpec(
        target=Target(server.host, server.port, case.starttls, MAIL_FROM, RCPT_TO),
        connections=concurrency,
        messages_per_connection=case.messages_per_connection,
        max_messages=options.bounds.max_messages,
        time_limit=options.bounds.time_limit,
        processes=options.processes,
        rate=rate,
    )
    split = options.cpu_split
    with TreeMonitor(server.root_pid) as monitor, started_on(split.loadgen if split else None):
        load = run_load(spec)
    assert monitor.usage is not None
    return Measurement(case, concurrency, label or server.label, load, monitor.usage)


def warm_up(server: Server) -> None:
    """One plaintext and one STARTTLS message, untimed: the server works before it is timed."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for starttls in (False, True):
        with smtplib.SMTP(server.host, server.port, "client.bench.test", timeout=30) as smtp:
            if starttls:
                smtp.starttls(context=context)
            refused = smtp.sendmail(MAIL_FROM, [RCPT_TO], build_message("warm-up"))
            if refused:
                raise RuntimeError(f"{server.label} refused the warm-up message: {refused}")
