"""The metrics seam: one registry per Metrics, rendered in Prometheus text format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from sealpost import __version__
from sealpost.observability.metrics import Metrics, render


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = render(metrics).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_servers_in_one_process_never_share_a_counter():
    a, b = Metrics(), Metrics()
    a.accepted.labels(listener="mx").inc()
    a.accepted.labels(listener="mx").inc()
    b.accepted.labels(listener="api").inc()
    assert _samples(a)[("sealpost_messages_accepted_total", (("listener", "mx"),))] == 2
    assert ("sealpost_messages_accepted_total", (("listener", "mx"),)) not in _samples(b)


def test_render_is_parseable_prometheus_text_with_build_info():
    metrics = Metrics()
    metrics.attempts.labels(result="delivered", tls="verified").inc()
    metrics.commit_seconds.observe(0.003)
    samples = _samples(metrics)
    assert samples[("sealpost_build_info", (("version", __version__),))] == 1
    key = ("sealpost_delivery_attempts_total", (("result", "delivered"), ("tls", "verified")))
    assert samples[key] == 1
    assert samples[("sealpost_store_commit_seconds_count", ())] == 1
