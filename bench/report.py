"""The benchmark report: a Markdown table of absolute figures, one of Sealpost/Postfix ratios
measured in the same run, the machine it ran on; or the same as JSON.

Owns presentation only; every figure comes from ``Measurement`` values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench.cluster_report import cluster_json, cluster_markdown
from bench.config_report import changes_markdown
from bench.harness import BenchReport, Measurement
from bench.outbound import CACHED_POSTFIX

SUBJECT, BASELINE = "Sealpost", "Postfix"


@dataclass(frozen=True)
class Ratio:
    """Sealpost / Postfix for one (case, concurrency); ``None`` where a side has no figure."""

    case: str
    concurrency: int
    subject: str  # which Sealpost line: "Sealpost" or a labelled variant
    msgs_per_s: float | None
    p50: float | None
    p99: float | None
    open_p50: float | None  # the session's opening: connect to its last EHLO reply
    open_p99: float | None
    peak_rss: float | None
    peak_pss: float | None
    cpu_per_message: float | None

    def to_dict(self) -> dict[str, object]:
        return {
            "case": self.case,
            "concurrency": self.concurrency,
            "subject": self.subject,
            "msgs_per_s": _r(self.msgs_per_s),
            "p50_ms": _r(self.p50),
            "p99_ms": _r(self.p99),
            "open_p50_ms": _r(self.open_p50),
            "open_p99_ms": _r(self.open_p99),
            "peak_rss": _r(self.peak_rss),
            "peak_pss": _r(self.peak_pss),
            "cpu_per_message": _r(self.cpu_per_message),
        }


def cpu_per_thousand(m: Measurement) -> float | None:
    return m.usage.cpu_seconds * 1000 / m.load.ok if m.load.ok else None


def subjects(report: BenchReport) -> list[str]:
    """The Sealpost lines measured, the init-config one first."""
    found = {m.server for m in report.measurements if m.server.startswith(SUBJECT)}
    return sorted(found, key=lambda label: (label != SUBJECT, label))


def ratios(report: BenchReport) -> list[Ratio]:
    found = []
    for subject in subjects(report):
        for case in report.options.cases:
            for concurrency in report.options.concurrencies:
                ours = report.find(case.key, concurrency, subject)
                theirs = report.find(case.key, concurrency, BASELINE)
                if ours is None or theirs is None:
                    continue
                found.append(
                    Ratio(
                        case.key,
                        concurrency,
                        subject,
                        _div(ours.load.msgs_per_s, theirs.load.msgs_per_s),
                        _div(ours.load.p50_ms, theirs.load.p50_ms),
                        _div(ours.load.p99_ms, theirs.load.p99_ms),
                        _div(ours.load.open_p50_ms, theirs.load.open_p50_ms),
                        _div(ours.load.open_p99_ms, theirs.load.open_p99_ms),
                        _div(ours.usage.peak_rss_bytes, theirs.usage.peak_rss_bytes),
                        _div(ours.usage.peak_pss_bytes, theirs.usage.peak_pss_bytes),
                        _div(cpu_per_thousand(ours), cpu_per_thousand(theirs)),
                    )
                )
    return found


def to_json(report: BenchReport) -> str:
    options = report.options
    document = {
        "started_at": report.started_at,
        "machine": report.machine.to_dict(),
        "options": {
            "cases": [c.key for c in options.cases],
            "concurrencies": list(options.concurrencies),
            "time_limit_s": options.bounds.time_limit,
            "max_messages": options.bounds.max_messages,
            "processes": options.processes,
            "loadgen_cpus": list(options.cpu_split.loadgen) if options.cpu_split else None,
            "server_cpus": list(options.cpu_split.servers) if options.cpu_split else None,
            "at_postfix_rate": options.at_postfix_rate,
            "outbound_messages": options.outbound_messages,
            "api": options.api,
            "queue_sizes": list(options.queue_sizes),
            "delivery_disabled_line": options.delivery_disabled_line,
            "cluster_in": options.cluster_in,
            "cluster_case": options.cluster_case.key,
            "cluster_out_messages": options.cluster_out_messages,
            "claim_pg_sizes": list(options.claim_pg_sizes),
        },
        "settings": report.settings,
        "sealpost_configs": [
            {"label": c.label, "changes": [ch.to_dict() for ch in c.changes]}
            for c in report.configs
        ],
        "measurements": [m.to_dict() for m in report.measurements],
        "ratios": [r.to_dict() for r in ratios(report)],
        "outbound": [m.to_dict() for m in report.outbound],
        "outbound_ratio": outbound_ratio(report),
        "outbound_ratio_cached": outbound_ratio(report, CACHED_POSTFIX),
        "api": [m.to_dict() for m in report.api],
        "queue": [p.to_dict() for p in report.queue],
        **cluster_json(report),
        "failures": [f.to_dict() for f in report.failures],
    }
    return json.dumps(document, indent=2)


def to_markdown(report: BenchReport) -> str:
    parts = [f"Machine: {report.machine.summary()}.\n"]
    if report.configs:
        parts.append(changes_markdown(report))
    if report.measurements:
        parts.append(inbound_markdown(report))
    if report.outbound:
        parts.append(outbound_markdown(report))
    if report.api:
        parts.append(api_markdown(report))
    if report.queue:
        parts.append(queue_markdown(report))
    if report.cluster or report.claim_pg:
        parts.append(cluster_markdown(report))
    if report.failures:
        parts.append(failures_markdown(report))
    return "\n".join(parts)


def failures_markdown(report: BenchReport) -> str:
    """The parts that raised: what is above is complete, these are missing."""
    lines = [
        "## Parts that failed\n",
        "These parts stopped with an error; the sections above are what the run measured "
        "before and after them. Run a part again alone with `--cases`.\n",
        "| Part | Error |",
        "|---|---|",
    ]
    lines += [f"| {f.part} | {f.error.replace('|', '/')} |" for f in report.failures]
    return "\n".join(lines) + "\n"


def outbound_ratio(report: BenchReport, baseline: str = BASELINE) -> dict[str, float | None] | None:
    """Sealpost / ``baseline`` (a Postfix line) of the outbound figures, when both ran."""
    found = {m.server: m for m in report.outbound}
    ours, theirs = found.get(SUBJECT), found.get(baseline)
    if ours is None or theirs is None:
        return None
    return {
        "msgs_per_s": _r(_div(ours.msgs_per_s, theirs.msgs_per_s)),
        "steady_msgs_per_s": _r(_div(ours.steady_msgs_per_s, theirs.steady_msgs_per_s)),
        "cpu_per_message": _r(_div(ours.cpu_per_thousand, theirs.cpu_per_thousand)),
    }


def outbound_markdown(report: BenchReport) -> str:
    first = report.outbound[0]
    lines = [
        f"## Outbound, {report.started_at}",
        "",
        f"{first.messages} queued messages of ~5 KB, one recipient each over 200 domains, "
        "all relayed over STARTTLS (level may) to one local sink. msgs/s: from delivery "
        "enabled until the sink has them all; steady: first to last message at the sink.",
        "",
        "| Server | Delivered | Errors | Seconds | msgs/s | Steady msgs/s | To first s "
        "| Sink sessions (TLS) | Peak RSS MB | Peak PSS MB | CPU s | CPU s/1k msgs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in report.outbound:
        lines.append(
            f"| {m.server} | {m.delivered} | {m.messages - m.delivered} | {m.elapsed:.2f} "
            f"| {m.msgs_per_s:.1f} | {_f1(m.steady_msgs_per_s)} | {m.to_first:.2f} "
            f"| {m.sink_sessions} ({m.sink_tls_sessions}) "
            f"| {m.usage.peak_rss_bytes / 2**20:.1f} | {m.usage.peak_pss_bytes / 2**20:.1f} "
            f"| {m.usage.cpu_seconds:.2f} | {_f(m.cpu_per_thousand)} |"
        )
    for baseline in (BASELINE, CACHED_POSTFIX):
        ratio = outbound_ratio(report, baseline)
        if ratio is None:
            continue
        lines += [
            "",
            f"Ratio Sealpost / {baseline}, same run: msgs/s {_x(ratio['msgs_per_s'])}, steady "
            f"msgs/s {_x(ratio['steady_msgs_per_s'])}, CPU per message "
            f"{_x(ratio['cpu_per_message'])}.",
        ]
    cached = next((m for m in report.outbound if m.server == CACHED_POSTFIX), None)
    if cached is not None:
        engaged = cached.sink_sessions * 2 <= cached.messages
        lines += [
            "",
            f"{CACHED_POSTFIX}: `smtp_connection_cache_destinations = 127.0.0.1`, "
            "`smtp_tls_connection_reuse = yes` (TLS connections are cached through tlsproxy). "
            f"The sink saw {cached.sink_sessions} sessions for {cached.messages} messages: "
            + ("the cache engaged." if engaged else "**the cache did NOT engage.**"),
        ]
    return "\n".join(lines) + "\n"


def api_markdown(report: BenchReport) -> str:
    lines = [
        f"## HTTP API, {report.started_at}",
        "",
        "`POST /api/v1/transmissions` over HTTPS keep-alive, ~5 KB text body; msgs/s counts "
        "recipients queued; latency is the whole call. Postfix has no HTTP API: no ratio.",
        "",
        "| Rcpts/call | Conn. | Server | Calls | Msgs | Errors | msgs/s | calls/s | p50 ms "
        "| p99 ms | Peak RSS MB | CPU s | CPU s/1k msgs | Postfix |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for m in report.api:
        calls_per_s = m.calls / m.load.elapsed if m.load.elapsed > 0 else 0.0
        cpu = m.usage.cpu_seconds * 1000 / m.load.ok if m.load.ok else None
        errors = m.load.error_count
        lines.append(
            f"| {m.recipients_per_call} | {m.connections} | Sealpost | {m.calls} | {m.load.ok} "
            f"| {errors} | {m.load.msgs_per_s:.1f} | {calls_per_s:.1f} | {_f(m.load.p50_ms)} "
            f"| {_f(m.load.p99_ms)} | {m.usage.peak_rss_bytes / 2**20:.1f} "
            f"| {m.usage.cpu_seconds:.2f} | {_f(cpu)} | n/a (no API) |"
        )
    return "\n".join(lines) + "\n"


def queue_markdown(report: BenchReport) -> str:
    lines = [
        f"## Queue scale, {report.started_at}",
        "",
        "The SQLite queue filled with N messages of ~5 KB (`enqueue_batch`, 1,000 per "
        "transaction) in a process of its own, then timed at that size: `claim_due(now, 100, "
        "600)` (median of 20, claims released after each), `list(limit=100)`, `count()`, one "
        "fsynced `enqueue`. RSS: that process; DB: database + WAL files.",
        "",
        "| Queued | Fill s | Fill msgs/s | claim_due ms | list ms | count ms | enqueue ms "
        "| RSS MB | Peak RSS MB | DB MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for q in report.queue:
        lines.append(
            f"| {q.messages:,} | {q.fill_seconds:.1f} | {q.fill_msgs_per_s:.0f} "
            f"| {q.claim_ms:.2f} | {q.list_ms:.2f} | {q.count_ms:.2f} | {q.enqueue_ms:.2f} "
            f"| {q.rss_bytes / 2**20:.1f} | {q.peak_rss_bytes / 2**20:.1f} "
            f"| {q.db_bytes / 2**20:.0f} |"
        )
    return "\n".join(lines) + "\n"


def inbound_markdown(report: BenchReport) -> str:
    options = report.options
    lines = [
        f"## Inbound SMTP, {report.started_at}",
        "",
        f"Each measurement: up to {options.bounds.max_messages} messages of ~5 KB or "
        f"{options.bounds.time_limit:g} s, whichever comes first; load generator in "
        f"{options.processes} process(es)"
        + (f"; {options.cpu_split.describe()}" if options.cpu_split else "")
        + ". Latency: end of DATA to `250`; open: connect to the reply to the EHLO that "
        "starts the mail transactions (after STARTTLS in cases b and c), once per session.",
        "",
        *_sealpost_lines(report),
        "| Case | Conc. | Server | Msgs | Errors | msgs/s | p50 ms | p99 ms | Open p50 ms "
        "| Open p99 ms | Peak RSS MB | Peak PSS MB | CPU s | CPU s/1k msgs "
        "| Generator CPU s/1k msgs |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in report.measurements:
        lines.append(
            f"| {m.case.key}: {m.case.title} | {m.concurrency} | {m.server} | {m.load.ok} "
            f"| {_errors(m)} | {m.load.msgs_per_s:.1f} | {_f(m.load.p50_ms)} "
            f"| {_f(m.load.p99_ms)} | {_f(m.load.open_p50_ms)} | {_f(m.load.open_p99_ms)} "
            f"| {m.usage.peak_rss_bytes / 2**20:.1f} | {m.usage.peak_pss_bytes / 2**20:.1f} "
            f"| {m.usage.cpu_seconds:.2f} | {_f(cpu_per_thousand(m))} "
            f"| {_f(m.load.cpu_per_thousand)} |"
        )
    lines += [
        "",
        "The generator shares the cores with the server it measures: its CPU per message is "
        "CPU the server under test could not use.",
        "",
        "Ratios Sealpost / Postfix, same run (msgs/s: above 1 is Sealpost faster; latency, "
        "memory and CPU per message: below 1 is Sealpost better). RSS is summed over the "
        "process tree, so pages shared by Postfix's many processes count once per process; "
        "PSS splits them fairly.",
        "",
        "| Case | Conc. | msgs/s | p50 | p99 | Open p50 | Open p99 | Peak RSS | Peak PSS "
        "| CPU/msg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ratios(report):
        case = r.case if r.subject == SUBJECT else f"{r.case}, {r.subject}"
        lines.append(
            f"| {case} | {r.concurrency} | {_x(r.msgs_per_s)} | {_x(r.p50)} | {_x(r.p99)} "
            f"| {_x(r.open_p50)} | {_x(r.open_p99)} | {_x(r.peak_rss)} | {_x(r.peak_pss)} "
            f"| {_x(r.cpu_per_message)} |"
        )
    return "\n".join(lines) + "\n"


def _sealpost_lines(report: BenchReport) -> list[str]:
    """One line per Sealpost: what it ran with (delivery, log level, API, workers)."""
    lines = []
    for label, settings in report.settings.items():
        if label.startswith(SUBJECT):
            lines.append(
                f"{label}: delivery {settings['delivery']}, log {settings['log']}, API "
                f"{settings['api']}, workers {settings['workers']}, "
                f"{settings['processes']} process(es) after start."
            )
    return [*lines, ""] if lines else []


def _errors(m: Measurement) -> str:
    if not m.load.errors:
        return "0"
    detail = ", ".join(f"{k} {v}" for k, v in m.load.errors.items())
    return f"{m.load.error_count} ({detail})"


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _f1(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
