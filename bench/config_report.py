"""The report's "Changes from `sealpost init`" section: each Sealpost config of the run.

Owns presentation only; the changes come from ``bench.sealpost_config``, whose edit proves
they are the only differences from init's file.
"""

from __future__ import annotations

from bench.harness import BenchReport
from bench.sealpost_config import Change


def changes_markdown(report: BenchReport) -> str:
    """Each Sealpost config: init's config and what the benchmark changed, with why."""
    lines = [
        "## Changes from `sealpost init`",
        "",
        "Every Sealpost in this run starts from the `sealpost.toml` that `sealpost init` writes "
        "(its defaults: hostname `mx.example.test`, development ports) and changes only the "
        "keys below. Per-IP limits are not changed: init's `[server] limit_exempt` "
        "(`127.0.0.0/8`, `::1/128`) exempts the load generator's loopback address from "
        "`max_connections_per_ip` and `connection_rate_per_ip`, as Postfix's `$mynetworks` "
        "exempts it from anvil. Logging, delivery, the API and the worker settings stay as "
        "init writes them unless a row says otherwise.",
    ]
    base: tuple[Change, ...] = ()
    for config in report.configs:
        shared = base and config.changes[: len(base)] == base
        rows = config.changes[len(base) :] if shared else config.changes
        lines += [
            "",
            f"**{config.label}**" + (f": the {len(base)} changes above, plus" if shared else ""),
            "",
            "| Key | `sealpost init` | Benchmark | Why |",
            "|---|---|---|---|",
        ]
        base = base or config.changes
        for c in rows:
            init = "(unset)" if c.init is None else f"`{_plain(c.init)}`"
            lines.append(f"| `{c.key}` | {init} | `{_plain(c.bench)}` | {c.why} |")
    return "\n".join(lines) + "\n"


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return str(value)
