"""The benchmark harness (bench/) end to end, so it cannot rot; plus its pure arithmetic.

The smoke test runs one tiny case (STARTTLS, 1 message per connection, concurrency 2, a
handful of messages, a few seconds at most) against both real servers, Sealpost and a
private Postfix, and checks the report carries numbers for both and a ratio row. Nothing
here asserts on timing: only that figures exist and no message failed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from bench.cases import CASES, Bounds, parse_cases, parse_concurrencies
from bench.harness import DELIVERY_DISABLED_LABEL, BenchOptions, BenchReport, run_benchmark
from bench.loadgen import LoadSpec, split
from bench.outbound import CACHED_POSTFIX
from bench.report import ratios, to_json, to_markdown
from bench.results import ErrorKind, WorkerSample, merge, percentile, with_own_cpu
from bench.run import options_from, split_cases
from bench.smtp_session import MESSAGE_SIZE, Target, build_message

MESSAGES = 6
# Enough that Postfix's connection cache shows as the report defines it (half the sessions or
# fewer): its first burst opens up to the destination's concurrency (16 of 30 in one run)
# before any connection is back in the cache.
OUT_MESSAGES = 100


def _require_postfix() -> None:
    reason = None
    if shutil.which("postfix", path="/usr/sbin:/usr/local/sbin:/sbin") is None:
        reason = "postfix is not installed (apt-get install postfix)"
    elif os.geteuid() != 0:
        reason = "the Postfix peer needs root"
    if reason and os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the CI setup must provide it)", pytrace=False)
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def report() -> BenchReport:
    _require_postfix()
    options = BenchOptions(
        cases=(CASES["b"],),
        concurrencies=(2,),
        bounds=Bounds(time_limit=10.0, max_messages=MESSAGES),
        processes=2,
        delivery_disabled_line=True,
    )
    return run_benchmark(options)


@pytest.mark.interop
def test_smoke_run_has_numbers_for_both_servers(report: BenchReport):
    assert [m.server for m in report.measurements] == [
        "Sealpost",
        DELIVERY_DISABLED_LABEL,
        "Postfix",
    ]
    for m in report.measurements:
        assert m.load.error_count == 0, (m.server, m.load.errors)
        assert 0 < m.load.ok <= MESSAGES
        assert m.load.msgs_per_s > 0
        assert m.load.p50_ms is not None and m.load.p99_ms is not None
        assert m.load.p50_ms <= m.load.p99_ms
        assert m.load.open_p50_ms is not None and m.load.open_p99_ms is not None
        assert 0 < m.load.open_p50_ms <= m.load.open_p99_ms  # connect to the last EHLO reply
        assert m.usage.peak_rss_bytes > 0 and m.usage.peak_pss_bytes > 0
        assert m.usage.cpu_seconds >= 0
        assert m.load.processes == 2
        assert m.load.cpu_seconds > 0  # the generator's own CPU: it shares the cores
    assert report.machine.cores >= 1 and report.machine.cpu_model
    assert set(report.settings) == {"Sealpost", DELIVERY_DISABLED_LABEL, "Postfix"}
    assert int(report.settings["Postfix"]["default_process_limit"]) >= 2


@pytest.mark.interop
def test_smoke_sealpost_runs_init_config_and_says_so(report: BenchReport):
    """Issue 12 item 1: the measured Sealpost is init's config (delivery on, API on, init's
    log level); only the variant behind the flag has delivery off, and it is labelled."""
    ours = report.settings["Sealpost"]
    assert ours["delivery"] == "enabled" and ours["api"].startswith("on")
    assert ours["log"].startswith("info") and int(ours["processes"]) >= 1
    assert report.settings[DELIVERY_DISABLED_LABEL]["delivery"] == "disabled"
    assert [c.label for c in report.configs] == ["Sealpost", DELIVERY_DISABLED_LABEL]
    main, variant = report.configs
    assert variant.changes[: len(main.changes)] == main.changes
    assert [c.key for c in variant.changes[len(main.changes) :]] == ["delivery.enabled"]
    markdown = to_markdown(report)
    assert "## Changes from `sealpost init`" in markdown
    assert "| `server.hostname` | `mx.example.test` | `mx.bench.test` |" in markdown
    assert f"**{DELIVERY_DISABLED_LABEL}**: the {len(main.changes)} changes above, plus" in markdown
    assert "Sealpost: delivery enabled, log info" in markdown
    assert f"| b, {DELIVERY_DISABLED_LABEL} | 2 |" in markdown


@pytest.mark.interop
def test_smoke_markdown_and_json_reports(report: BenchReport):
    markdown = to_markdown(report)
    assert "| b: STARTTLS, 1 msg/connection | 2 | Sealpost |" in markdown
    assert "| b: STARTTLS, 1 msg/connection | 2 | Postfix |" in markdown
    assert "| Generator CPU s/1k msgs |" in markdown
    assert "| Open p50 ms | Open p99 ms |" in markdown and "| Open p50 | Open p99 |" in markdown
    row, variant = ratios(report)
    assert (row.subject, variant.subject) == ("Sealpost", DELIVERY_DISABLED_LABEL)
    assert row.msgs_per_s is not None and row.msgs_per_s > 0
    assert f"| b | 2 | {row.msgs_per_s:.2f}x |" in markdown
    assert report.machine.cpu_model in markdown

    document = json.loads(to_json(report))
    servers = {m["server"]: m for m in document["measurements"]}
    assert set(servers) == {"Sealpost", DELIVERY_DISABLED_LABEL, "Postfix"}
    assert [c["label"] for c in document["sealpost_configs"]] == list(servers)[:2]
    for m in servers.values():
        assert m["ok"] > 0 and m["msgs_per_s"] > 0 and m["p99_ms"] is not None
        assert m["peak_rss_mb"] > 0 and m["peak_pss_mb"] > 0
        assert m["generator_cpu_s"] > 0
        assert m["open_p99_ms"] >= m["open_p50_ms"] > 0
    assert document["ratios"][0]["msgs_per_s"] > 0
    assert document["ratios"][0]["open_p99_ms"] > 0
    assert document["machine"]["cores"] >= 1


@pytest.fixture(scope="module")
def extra_report() -> BenchReport:
    """The outbound and API cases at tiny sizes (no inbound case)."""
    _require_postfix()
    options = BenchOptions(
        cases=(),
        concurrencies=(2,),
        bounds=Bounds(time_limit=10.0, max_messages=MESSAGES * 20),
        processes=2,
        outbound_messages=OUT_MESSAGES,
        api=True,
    )
    return run_benchmark(options)


@pytest.mark.interop
def test_smoke_outbound_both_servers_drain_everything_over_starttls(extra_report: BenchReport):
    assert extra_report.measurements == []
    assert [m.server for m in extra_report.outbound] == ["Sealpost", "Postfix", CACHED_POSTFIX]
    for m in extra_report.outbound:
        assert (m.messages, m.delivered) == (OUT_MESSAGES, OUT_MESSAGES), m.server
        assert m.elapsed > 0 and m.msgs_per_s > 0 and 0 <= m.to_first <= m.elapsed
        assert m.sink_sessions >= 1 and m.sink_tls_sessions == m.sink_sessions, m.server
        assert m.usage.cpu_seconds > 0 and m.usage.peak_rss_bytes > 0
        assert m.cpu_per_thousand is not None
    default, cached = extra_report.outbound[1:]
    assert default.sink_sessions == OUT_MESSAGES  # Postfix as shipped: a session per message
    assert cached.sink_sessions * 2 <= OUT_MESSAGES, "Postfix's connection cache did not engage"
    markdown = to_markdown(extra_report)
    assert "## Outbound" in markdown and f"| Sealpost | {OUT_MESSAGES} | 0 |" in markdown
    assert f"| Postfix | {OUT_MESSAGES} | 0 |" in markdown
    assert "Ratio Sealpost / Postfix, same" in markdown
    assert f"Ratio Sealpost / {CACHED_POSTFIX}, same run" in markdown
    assert "the cache engaged." in markdown
    document = json.loads(to_json(extra_report))
    assert [m["delivered"] for m in document["outbound"]] == [OUT_MESSAGES] * 3
    assert document["outbound_ratio"]["msgs_per_s"] > 0
    assert document["outbound_ratio_cached"]["msgs_per_s"] > 0
    labels = [c["label"] for c in document["sealpost_configs"]]
    assert labels == [
        "Sealpost (outbound: loading)",
        "Sealpost (outbound: drain)",
        "Sealpost (API)",
    ]


@pytest.mark.interop
def test_smoke_api_one_and_hundred_recipients_per_call(extra_report: BenchReport):
    assert [m.recipients_per_call for m in extra_report.api] == [1, 100]
    for m in extra_report.api:
        assert m.load.error_count == 0, m.load.errors
        assert m.load.ok > 0 and m.load.ok == m.calls * m.recipients_per_call
        assert m.load.p99_ms is not None and m.load.p50_ms is not None
        assert m.usage.peak_rss_bytes > 0
    markdown = to_markdown(extra_report)
    assert "## HTTP API" in markdown and "n/a (no API)" in markdown
    document = json.loads(to_json(extra_report))
    assert [m["recipients_per_call"] for m in document["api"]] == [1, 100]


# --- pure parts: no sockets ----------------------------------------------------------------


def test_percentile_is_nearest_rank():
    values = [float(x) for x in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None


def test_merge_spans_the_common_window_and_adds_errors():
    a = WorkerSample(ok=3, latencies=[0.001, 0.002, 0.003], sessions=3, started=10.0)
    a.opens = [0.010, 0.030, 0.020]
    a.finished = 12.0
    a.add_error(ErrorKind.TIMEOUT)
    b = WorkerSample(ok=1, latencies=[0.004], sessions=2, started=10.5, finished=14.0)
    b.opens = [0.040, 0.005]
    b.add_error(ErrorKind.TIMEOUT)
    b.add_error(ErrorKind.TLS)
    result = merge([a, b])
    assert result.ok == 4 and result.sessions == 5 and result.processes == 2
    assert result.elapsed == 4.0 and result.msgs_per_s == 1.0
    assert result.errors == {"timeout": 2, "tls": 1} and result.error_count == 3
    assert result.p50_ms == pytest.approx(2.0)
    assert result.p99_ms == pytest.approx(4.0)
    assert result.open_p50_ms == pytest.approx(20.0)  # every process's sessions, sorted
    assert result.open_p99_ms == pytest.approx(40.0)


def test_merge_of_nothing_is_zero():
    result = merge([WorkerSample()])
    assert result.ok == 0 and result.msgs_per_s == 0.0 and result.p50_ms is None


def test_generator_cpu_is_each_process_own_and_adds_up():
    def busy() -> WorkerSample:
        sum(range(3_000_000))  # CPU, not sleep: getrusage counts only what the process ran
        return WorkerSample(ok=2)

    sample = with_own_cpu(busy)
    assert sample.cpu_seconds > 0 and sample.ok == 2
    other = WorkerSample(ok=2, cpu_seconds=0.5)
    result = merge([sample, other])
    assert result.cpu_seconds == pytest.approx(sample.cpu_seconds + 0.5)
    assert result.cpu_per_thousand == pytest.approx(result.cpu_seconds * 250)
    assert merge([WorkerSample()]).cpu_per_thousand is None


def test_split_spreads_connections_and_budget_exactly():
    target = Target("127.0.0.1", 1, False, "a@b.test", "c@d.test")
    spec = LoadSpec(
        target,
        connections=5,
        messages_per_connection=1,
        max_messages=11,
        time_limit=1.0,
        processes=2,
    )
    shares = split(spec)
    assert [s.connections for s in shares] == [3, 2]
    assert sum(s.budget for s in shares) == 11
    one = split(LoadSpec(target, 1, 1, 4, 1.0, processes=4))
    assert len(one) == 1 and one[0].budget == 4


def test_message_is_about_5kb_crlf_and_dot_safe():
    message = build_message("x.1")
    assert MESSAGE_SIZE - 100 <= len(message) <= MESSAGE_SIZE
    assert message.endswith(b"\r\n")
    lines = message.split(b"\r\n")
    assert b"\n" not in message.replace(b"\r\n", b"")
    assert not any(line.startswith(b".") for line in lines)


def test_cli_options(tmp_path: Path):
    options, args = options_from(
        [
            "--cases",
            "c,a",
            "--concurrency",
            "10,50",
            "--quick",
            "--json",
            "--output",
            str(tmp_path / "r.json"),
        ]
    )
    assert [c.key for c in options.cases] == ["c", "a"]
    assert options.concurrencies == (10, 50)
    assert options.bounds == Bounds(2.0, 2000)
    assert args.json and args.output == tmp_path / "r.json"
    options, _ = options_from(["--time-limit", "3", "--messages", "9"])
    assert options.bounds == Bounds(3.0, 9) and len(options.cases) == 3
    assert parse_cases("all") == tuple(CASES.values())
    with pytest.raises(ValueError):
        parse_cases("d")
    with pytest.raises(ValueError):
        parse_concurrencies("0")
    with pytest.raises(SystemExit):
        options_from(["--cases", "z"])


def test_cli_outbound_and_api_cases():
    assert split_cases("all") == (tuple(CASES.values()), True, True)
    assert split_cases("outbound") == ((), True, False)
    assert split_cases("b,api") == ((CASES["b"],), False, True)
    with pytest.raises(ValueError):
        split_cases(",")
    options, _ = options_from(["--cases", "outbound,api", "--quick"])
    assert options.cases == () and options.outbound_messages == 500 and options.api
    options, _ = options_from(["--cases", "a"])
    assert options.outbound_messages == 0 and not options.api
    assert not options.delivery_disabled_line
    options, _ = options_from(["--cases", "a", "--also-delivery-disabled"])
    assert options.delivery_disabled_line
    options, _ = options_from(["--cases", "outbound", "--outbound-messages", "42"])
    assert options.outbound_messages == 42
    with pytest.raises(SystemExit):
        options_from(["--outbound-messages", "0"])


# --- queue-scale case: the real SQLite store, small sizes, no Postfix needed ----------------


def test_smoke_queue_scale_case(tmp_path: Path):
    options = BenchOptions(
        cases=(), concurrencies=(1,), bounds=Bounds(1.0, 1), queue_sizes=(2000, 5000)
    )
    report = run_benchmark(options, workdir=tmp_path)
    assert [q.messages for q in report.queue] == [2000, 5000]
    for q in report.queue:
        assert q.claimed == 100 and q.fill_seconds > 0 and q.fill_msgs_per_s > 0
        assert q.claim_ms > 0 and q.list_ms > 0 and q.count_ms > 0 and q.enqueue_ms > 0
        assert q.peak_rss_bytes >= q.rss_bytes > 0
        assert q.db_bytes > q.messages * 4000  # ~5 KB each, on disk
    assert not list(tmp_path.glob("queue-*"))  # each size's database is removed
    markdown = to_markdown(report)
    assert "## Queue scale" in markdown and "| 2,000 |" in markdown and "| 5,000 |" in markdown
    document = json.loads(to_json(report))
    assert [q["messages"] for q in document["queue"]] == [2000, 5000]
    assert document["options"]["queue_sizes"] == [2000, 5000]


def test_cli_queue_case():
    options, _ = options_from(["--cases", "queue"])
    assert options.queue_sizes == (10_000, 1_000_000)
    assert options.cases == () and options.outbound_messages == 0 and not options.api
    options, _ = options_from(["--cases", "b,queue", "--quick"])
    assert options.queue_sizes == (2000, 20_000) and [c.key for c in options.cases] == ["b"]
    options, _ = options_from(["--cases", "queue", "--queue-sizes", "5,7"])
    assert options.queue_sizes == (5, 7)
    assert options_from([])[0].queue_sizes == (10_000, 1_000_000)
    assert options_from(["--cases", "a"])[0].queue_sizes == ()
    with pytest.raises(SystemExit):
        options_from(["--cases", "queue", "--queue-sizes", "0"])
    with pytest.raises(SystemExit):
        options_from(["--cases", "queue", "--queue-sizes", "x"])
