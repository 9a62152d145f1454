"""The cluster benchmark cases (bench/cluster_*.py, bench/claim_scale_pg.py) end to end at
tiny sizes, so they cannot rot.

Real parts only: real ``sealpost serve`` nodes on init's config, the real PostgreSQL server of
``tests/fixtures/postgres.py`` (each case creates and drops its own databases there), the
benchmark's sink. Nothing asserts on timing: only that each topology ran, that what a node
acknowledged is in its store, that the drain delivered everything, that the PostgreSQL
figures were taken and that the claim walks the due index. Needs no Postfix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from bench.cases import Bounds
from bench.cluster_cases import ClusterSettings, run_cluster_outbound
from bench.cluster_nodes import TOPOLOGIES
from bench.cluster_results import CLUSTER_IN, CLUSTER_OUT, ClusterPoint, cluster_ratios
from bench.harness import BenchOptions, BenchReport, run_benchmark
from bench.peers import make_pki
from bench.pg_server import ScratchDatabase, admin_value
from bench.pg_wal import attribute
from bench.report import to_json, to_markdown
from bench.run import options_from, split_cluster

# Seven node starts, each a `sealpost init` and a `serve`: minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(900)
TWO_NODES = next(t for t in TOPOLOGIES if t.key == "pg-2")

MESSAGES = 40
OUT_MESSAGES = 30
SETUPS = ["sqlite-1", "pg-1", "pg-2"]


def _our_scratch_databases(pg_server: str) -> int:
    """Scratch databases of this process (``sealpost_bench_<pid>_<n>``) still on the server."""
    sql = f"SELECT count(*) FROM pg_database WHERE datname LIKE 'sealpost_bench_{os.getpid()}_%'"
    return int(str(admin_value(pg_server, sql)))


@pytest.fixture(scope="module")
def report(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> BenchReport:
    """cluster-in on every setup and claim-scale-pg through the harness; cluster-out on two
    PostgreSQL nodes only (the drain code is the same for every setup, and the SQLite drain
    is the outbound case's, which test_bench_smoke covers), added to the same report."""
    options = BenchOptions(
        cases=(),
        concurrencies=(4,),
        bounds=Bounds(time_limit=10.0, max_messages=MESSAGES),
        processes=2,
        cluster_in=True,
        claim_pg_sizes=(300, 1200),
        pg_url=pg_server,
    )
    workdir = tmp_path_factory.mktemp("cluster-bench")
    found = run_benchmark(options, workdir=workdir)
    settings = ClusterSettings(
        outbound_messages=OUT_MESSAGES, admin_url=pg_server, topologies=(TWO_NODES,)
    )
    pki = make_pki(workdir / "pki-out")
    found.cluster += run_cluster_outbound(workdir, pki, settings, found.configs)
    assert _our_scratch_databases(pg_server) == 0, "a scratch database was left behind"
    return found


def _points(report: BenchReport, case: str) -> list[ClusterPoint]:
    return [p for p in report.cluster if p.case == case]


def test_inbound_every_topology_stores_exactly_what_it_acknowledged(report: BenchReport):
    points = _points(report, CLUSTER_IN)
    assert [p.topology for p in points] == SETUPS
    assert [p.nodes for p in points] == [1, 1, 2]
    for p in points:
        assert p.errors == 0, p.label
        assert 0 < p.messages <= MESSAGES
        assert p.stored == p.messages, f"{p.label}: 250 without a stored message"
        assert p.p50_ms is not None and p.p99_ms is not None and p.p50_ms <= p.p99_ms
        assert p.cpu_seconds > 0 and p.peak_rss_bytes > 0
    sqlite, pg1, pg2 = points
    assert sqlite.pg is None and sqlite.pg_backend_cpu_ms is None
    for p in (pg1, pg2):
        assert p.pg is not None and p.pg.wal_bytes > 0
        # taken, but at this size the backends' CPU can stay under one 10 ms clock tick
        assert p.pg.backend_cpu_seconds is not None and p.pg.backend_cpu_seconds >= 0
        assert p.pg.server_cpu_seconds is not None
        # the whole server counts at least the backends (to a few 10 ms clock ticks: the
        # two are read at slightly different moments)
        assert p.pg.server_cpu_seconds >= p.pg.backend_cpu_seconds - 0.05
        assert p.pg.peak_backends is not None and p.pg.peak_backends >= p.nodes
        if os.geteuid() == 0:  # pg_waldump reads the server's pg_wal
            assert p.pg.db_wal_bytes is not None and p.pg.db_wal_bytes > 0
    assert pg2.pg is not None and pg1.pg is not None
    assert pg2.pg.peak_backends is not None and pg1.pg.peak_backends is not None
    assert pg2.pg.peak_backends > pg1.pg.peak_backends, "the second node has connections too"


def test_outbound_two_nodes_drain_everything(report: BenchReport):
    (p,) = _points(report, CLUSTER_OUT)
    assert (p.topology, p.nodes) == ("pg-2", 2)
    assert (p.messages, p.errors) == (OUT_MESSAGES, 0)
    assert p.sink_sessions is not None and p.sink_sessions >= 1
    assert p.to_first is not None and 0 <= p.to_first <= p.elapsed
    assert p.cpu_ms is not None and p.cpu_ms > 0
    assert p.pg is not None and p.pg.backend_cpu_seconds is not None
    assert p.pg.peak_backends is not None and p.pg.peak_backends >= 2
    assert [c.label for c in report.configs][-1] == "Sealpost (cluster-out: PostgreSQL, 2 nodes)"


def test_claim_scale_pg_walks_the_due_index(report: BenchReport):
    assert [q.messages for q in report.claim_pg] == [300, 1200]
    for q in report.claim_pg:
        assert q.claimed == 100 and q.claim_ms > 0 and q.enqueue_ms > 0
        assert q.plan.due_index, q.plan.text
        assert q.plan.buffers > 0 and q.plan.execution_ms > 0
        assert q.db_bytes > 0


def test_report_has_the_cluster_sections_and_ratios(report: BenchReport):
    ratios = cluster_ratios(report.cluster)
    pairs = {(r.case, r.subject, r.baseline) for r in ratios}
    assert (CLUSTER_IN, "PostgreSQL, 2 nodes", "PostgreSQL, 1 node") in pairs
    assert (CLUSTER_IN, "PostgreSQL, 1 node", "SQLite, 1 node") in pairs
    assert all(r.msgs_per_s is not None and r.msgs_per_s > 0 for r in ratios)
    markdown = to_markdown(report)
    assert "## Cluster: inbound acceptance" in markdown
    assert "## Cluster: outbound drain" in markdown
    assert "## claim_due on PostgreSQL" in markdown and "| 1,200 |" in markdown
    assert "| PostgreSQL, 2 nodes | 4 |" in markdown
    assert "`cluster.node_id` | (unset) | `node-a` |" in markdown
    document = json.loads(to_json(report))
    assert [p["topology"] for p in document["cluster"]] == [*SETUPS, "pg-2"]
    assert document["cluster"][1]["pg_wal_bytes"] > 0
    assert document["claim_scale_pg"][0]["plan"]["due_index"] is True
    assert document["options"]["claim_pg_sizes"] == [300, 1200]


def test_scratch_database_is_dropped_even_after_an_error(pg_server: str):
    with pytest.raises(RuntimeError), ScratchDatabase(pg_server) as db:
        name = db.name
        raise RuntimeError("boom")
    sql = f"SELECT count(*) FROM pg_database WHERE datname = '{name}'"
    assert int(str(admin_value(pg_server, sql))) == 0


def test_wal_attribution_counts_the_databases_transactions_only():
    lines = [
        "rmgr: Heap        len (rec/tot):     54/   254, tx:        758, lsn: 0/01, prev 0/00, "
        "desc: INSERT off 3, blkref #0: rel 1663/16384/16385 blk 0 FPW",
        "rmgr: Transaction len (rec/tot):     34/    34, tx:        758, lsn: 0/02, prev 0/01, "
        "desc: COMMIT 2026-12-03",
        "rmgr: Heap        len (rec/tot):     54/   100, tx:        759, lsn: 0/03, prev 0/02, "
        "desc: INSERT off 4, blkref #0: rel 1663/5/16385 blk 0",
        "rmgr: Transaction len (rec/tot):     34/    34, tx:        759, lsn: 0/04, prev 0/03, "
        "desc: COMMIT 2026-12-03",
        "rmgr: Standby     len (rec/tot):     42/    42, tx:          0, lsn: 0/05, prev 0/04, "
        "desc: LOCK xid 760 db 16384 rel 47209",
        "rmgr: XLOG        len (rec/tot):    114/   114, tx:          0, lsn: 0/06, prev 0/05, "
        "desc: CHECKPOINT_ONLINE",
    ]
    assert attribute(lines, 16384) == 254 + 34 + 42
    assert attribute(lines, 5) == 100 + 34
    assert attribute(lines, 1) == 0


def test_cli_cluster_cases(tmp_path: Path):
    assert split_cluster("cluster") == (
        "",
        frozenset({"cluster-in", "cluster-out", "claim-scale-pg"}),
    )
    assert split_cluster("a,cluster-in") == ("a", frozenset({"cluster-in"}))
    assert split_cluster("all") == ("all", frozenset())
    options, _ = options_from(["--cases", "cluster", "--quick"])
    assert options.cases == () and options.outbound_messages == 0 and not options.api
    assert options.queue_sizes == () and options.needs_servers
    assert options.cluster_in and options.cluster_out_messages == 500
    assert options.claim_pg_sizes == (2000, 20_000) and options.cluster_case.key == "c"
    options, _ = options_from(["--cases", "claim-scale-pg", "--claim-pg-sizes", "5,7"])
    assert options.claim_pg_sizes == (5, 7) and not options.needs_servers
    assert not options.cluster_in and options.cluster_out_messages == 0
    options, _ = options_from(["--cases", "cluster-out", "--outbound-messages", "9"])
    assert options.cluster_out_messages == 9 and options.outbound_messages == 0
    options, _ = options_from(["--cases", "cluster-in", "--cluster-case", "a"])
    assert options.cluster_case.key == "a" and options.cluster_out_messages == 0
    assert options_from(["--cases", "claim-scale-pg"])[0].claim_pg_sizes == (10_000, 1_000_000)
    assert options_from([])[0].claim_pg_sizes == () and not options_from([])[0].cluster_in
    with pytest.raises(SystemExit):
        options_from(["--cases", "claim-scale-pg", "--claim-pg-sizes", "0"])
    with pytest.raises(SystemExit):
        options_from(["--cases", "cluster-in", "--cluster-case", "d"])
