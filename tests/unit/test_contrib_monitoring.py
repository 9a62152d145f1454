"""The monitoring files in ``contrib/``: the Prometheus alert rules and the Grafana dashboard.

Every metric they name must be one the server exposes (so a renamed family cannot leave a
dashboard panel or an alert silently empty), and, when Debian's ``prometheus`` package is
installed, ``promtool`` checks the rules and runs their unit tests
(``sealpost-alerts.test.yml``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sealpost.model.queue_depth import QueueDepth
from sealpost.observability.metrics import Metrics, render
from sealpost.observability.queue_gauges import FreeSpaceGauges, QueueGauges
from sealpost.store.free_space import MinFree, SpaceWatch

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
RULES = CONTRIB / "prometheus" / "sealpost-alerts.yml"
RULE_TESTS = CONTRIB / "prometheus" / "sealpost-alerts.test.yml"
DASHBOARD = CONTRIB / "grafana" / "sealpost-dashboard.json"
_NAME = re.compile(r"\bsealpost_[a-z_]+")


def exposed_names() -> set[str]:
    """Every sample name a server's /metrics can carry."""
    metrics = Metrics()
    metrics.registry.register(gauges := QueueGauges(_depth))
    asyncio.run(gauges.refresh())
    space = SpaceWatch(CONTRIB, MinFree(bytes=1))
    space.check()
    metrics.registry.register(FreeSpaceGauges(space))
    metrics.accepted.labels(listener="mx", method="smtp").inc()
    labels = {"result": "delivered", "tls": "verified", "policy_source": "default"}
    metrics.attempts.labels(domain="other", **labels).inc()
    metrics.connections.labels(listener="mx").inc()
    metrics.refused_connections.labels(limit="per_ip").inc()
    metrics.mta_sts_fetches.labels(result="ok").inc()
    metrics.webhook_batches.labels(result="delivered").inc()
    text = render(metrics).decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


async def _depth() -> QueueDepth:
    return QueueDepth(1, 0, 0.0)


def rule_expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_every_metric_named_in_contrib_is_exposed(source: str):
    exprs = rule_expressions() if source == "rules" else dashboard_expressions()
    named = {name for expr in exprs for name in _NAME.findall(expr)}
    assert named, "no sealpost metric named at all"
    assert named <= exposed_names(), named - exposed_names()


def test_the_alerts_the_operations_page_promises_exist():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {rule["alert"] for group in groups for rule in group["rules"]}
    promised = {
        "SealpostQueueStuck",
        "SealpostOldestMessageTooOld",
        "SealpostTlsCoverageDropped",
        "SealpostWebhookFailing",
    }
    assert promised <= alerts


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):  # a CI machine must not go green by skipping (development.md)
            pytest.fail("promtool not installed (Debian package prometheus)")
        pytest.skip("promtool not installed (Debian package prometheus)")
    return promtool


def test_promtool_checks_the_rules():
    done = subprocess.run(
        [_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_runs_the_rule_unit_tests():
    done = subprocess.run(
        [_promtool(), "test", "rules", RULE_TESTS.name],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=RULE_TESTS.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
