"""``python -m bench.run``: the benchmark's command line (``make bench`` calls it).

Owns argument parsing and output: the Markdown report (or ``--json``) on stdout and,
with ``--output FILE``, the same text in a file. Exit status 0 on a completed run, 2 on bad
arguments, 1 when a server could not be started.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.cases import CASES, FULL, QUICK, Bounds, Case, parse_cases, parse_concurrencies
from bench.claim_scale_pg import FULL_PG_SIZES, QUICK_PG_SIZES
from bench.cpu_split import CpuSplit, parse_cpus
from bench.harness import BenchOptions, run_benchmark
from bench.peers import PeerError
from bench.pg_server import DEFAULT_PG_URL
from bench.queue_scale import FULL_SIZES, QUICK_SIZES, parse_sizes
from bench.report import to_json, to_markdown

FULL_OUTBOUND, QUICK_OUTBOUND = 20_000, 500
CLUSTER_IN, CLUSTER_OUT, CLAIM_PG = "cluster-in", "cluster-out", "claim-scale-pg"
CLUSTER_KEYS = {CLUSTER_IN, CLUSTER_OUT, CLAIM_PG}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Sealpost vs Postfix on loopback: inbound SMTP (a-c), outbound, HTTP API; "
        "the queue at scale.",
    )
    p.add_argument(
        "--cases",
        default="all",
        help="a,b,c,outbound,api,queue or all (default all); cluster-in,cluster-out,"
        "claim-scale-pg or cluster (those three: PostgreSQL, no Postfix)",
    )
    p.add_argument(
        "--outbound-messages",
        type=int,
        help="messages queued in the outbound and cluster-out cases (default 20000; --quick 500)",
    )
    p.add_argument(
        "--queue-sizes",
        help="queue sizes of the queue case (default 10000,1000000; --quick 2000,20000)",
    )
    p.add_argument(
        "--claim-pg-sizes",
        help="queue sizes of claim-scale-pg (default 10000,1000000; --quick 2000,20000)",
    )
    p.add_argument(
        "--cluster-case",
        default="c",
        choices=sorted(CASES),
        help="inbound workload of cluster-in (default c: STARTTLS, 50 msgs/connection)",
    )
    p.add_argument(
        "--pg-url",
        default=DEFAULT_PG_URL,
        help=f"PostgreSQL server the cluster cases create their databases on ({DEFAULT_PG_URL})",
    )
    p.add_argument("--concurrency", default="1,10,50", help="comma list (default 1,10,50)")
    p.add_argument("--quick", action="store_true", help="short measurements (2 s / 2000 msgs)")
    p.add_argument("--time-limit", type=float, help="seconds per measurement (overrides)")
    p.add_argument("--messages", type=int, help="message cap per measurement (overrides)")
    p.add_argument(
        "--processes",
        type=int,
        default=max(1, min(4, os.cpu_count() or 1)),
        help="load generator processes (default: cores, at most 4)",
    )
    p.add_argument("--json", action="store_true", help="JSON instead of Markdown")
    p.add_argument("--output", type=Path, help="also write the report to this file")
    p.add_argument("--keep", action="store_true", help="keep the work directory in /tmp")
    p.add_argument(
        "--also-delivery-disabled",
        action="store_true",
        help="inbound: also measure a Sealpost with [delivery] enabled = false, a labelled "
        "extra line (not a shipped configuration)",
    )
    p.add_argument(
        "--also-workers",
        default="",
        help="inbound: comma list of [server] workers values to measure as labelled extra "
        "Sealpost lines (e.g. 1); the main line keeps init's default (auto: one per core)",
    )
    p.add_argument(
        "--also-at-postfix-rate",
        action="store_true",
        help="inbound: after each Postfix measurement, measure Sealpost again paced at "
        "Postfix's msgs/s (both latencies at the same load) and at 1.5 times it (the "
        "throughput target with its latency), two labelled extra lines",
    )
    p.add_argument(
        "--loadgen-cpus",
        help="inbound: pin the load generator to these CPUs (e.g. 0) and both servers to the "
        "others; default: all share every core (the condition of issue 12's targets)",
    )
    return p


def options_from(argv: Sequence[str] | None = None) -> tuple[BenchOptions, argparse.Namespace]:
    p = parser()
    args = p.parse_args(argv)
    try:
        rest, cluster = split_cluster(args.cases)
        rest, queue = split_queue(rest) if rest else ("", False)
        cases, outbound, api = split_cases(rest) if rest else ((), False, False)
        concurrencies = parse_concurrencies(args.concurrency)
        sizes = parse_sizes(args.queue_sizes) if args.queue_sizes is not None else None
        pg_sizes = parse_sizes(args.claim_pg_sizes) if args.claim_pg_sizes is not None else None
    except ValueError as exc:
        p.error(str(exc))
    if sizes is None:
        sizes = QUICK_SIZES if args.quick else FULL_SIZES
    if pg_sizes is None:
        pg_sizes = QUICK_PG_SIZES if args.quick else FULL_PG_SIZES
    base = QUICK if args.quick else FULL
    bounds = Bounds(
        time_limit=args.time_limit if args.time_limit is not None else base.time_limit,
        max_messages=args.messages if args.messages is not None else base.max_messages,
    )
    if bounds.time_limit <= 0 or bounds.max_messages < 1 or args.processes < 1:
        p.error("--time-limit, --messages and --processes must be positive")
    out_messages = args.outbound_messages
    if out_messages is None:
        out_messages = QUICK_OUTBOUND if args.quick else FULL_OUTBOUND
    if out_messages < 1:
        p.error("--outbound-messages must be positive")
    try:
        also_workers = parse_concurrencies(args.also_workers) if args.also_workers else ()
    except ValueError as exc:
        p.error(f"--also-workers: {exc}")
    split = None
    if args.loadgen_cpus:
        try:
            split = CpuSplit.of(parse_cpus(args.loadgen_cpus))
        except ValueError as exc:
            p.error(f"--loadgen-cpus: {exc}")
    options = BenchOptions(
        cases,
        concurrencies,
        bounds,
        args.processes,
        args.keep,
        outbound_messages=out_messages if outbound else 0,
        api=api,
        queue_sizes=sizes if queue else (),
        delivery_disabled_line=args.also_delivery_disabled,
        also_workers=also_workers,
        cluster_in=CLUSTER_IN in cluster,
        cluster_out_messages=out_messages if CLUSTER_OUT in cluster else 0,
        claim_pg_sizes=pg_sizes if CLAIM_PG in cluster else (),
        cluster_case=CASES[args.cluster_case],
        pg_url=args.pg_url,
        cpu_split=split,
        at_postfix_rate=args.also_at_postfix_rate,
    )
    return options, args


def split_cluster(text: str) -> tuple[str, frozenset[str]]:
    """``--cases`` -> (the other cases, the cluster cases picked); ``cluster`` is all three.
    ``all`` keeps its meaning (the Postfix comparison and the SQLite queue), without them."""
    keys = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not keys:
        raise ValueError("no case given")
    picked = {k for k in keys if k in CLUSTER_KEYS}
    if "cluster" in keys:
        picked = set(CLUSTER_KEYS)
    rest = [k for k in keys if k not in CLUSTER_KEYS and k != "cluster"]
    return ",".join(rest), frozenset(picked)


def split_queue(text: str) -> tuple[str, bool]:
    """``--cases`` -> (the other cases, queue?); ``all`` includes the queue case."""
    if text.strip().lower() == "all":
        return text, True
    keys = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not keys:
        raise ValueError("no case given")
    return ",".join(k for k in keys if k != "queue"), "queue" in keys


def split_cases(text: str) -> tuple[tuple[Case, ...], bool, bool]:
    """``--cases`` -> (inbound cases, outbound?, api?); ``all`` is every one of them."""
    if text.strip().lower() == "all":
        return parse_cases("all"), True, True
    keys = [part.strip().lower() for part in text.split(",") if part.strip()]
    extra = {"outbound", "api"}
    inbound = ",".join(k for k in keys if k not in extra)
    cases = parse_cases(inbound) if inbound else ()
    if not cases and not extra & set(keys):
        raise ValueError("no case given")
    return cases, "outbound" in keys, "api" in keys


def main(argv: Sequence[str] | None = None) -> int:
    options, args = options_from(argv)
    needs_postfix = bool(options.cases or options.outbound_messages or options.api)
    if needs_postfix and os.geteuid() != 0:
        print("the Postfix peer needs root (postfix start)", file=sys.stderr)
        return 1
    try:
        report = run_benchmark(options)
    except PeerError as exc:
        print(f"benchmark aborted: {exc}", file=sys.stderr)
        return 1
    text = to_json(report) if args.json else to_markdown(report)
    sys.stdout.write(text)
    if args.output is not None:
        args.output.write_text(text)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
