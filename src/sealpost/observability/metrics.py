"""The server's Prometheus metrics, on one registry the composition root injects.

Each process builds one ``Metrics`` (``app.py``) and hands it to the parts that count; tests
build their own, so no metric is global and two servers in one test process never share a
counter. Label values come from small closed sets (listener names from the config, door,
result): never a recipient, domain or key, so cardinality stays bounded.
``render`` gives the Prometheus text exposition format (version 0.0.4).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from sealpost import __version__

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Store commits are milliseconds on a healthy disk; seconds mean trouble.
_COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The metric families, registered on ``registry`` (a fresh one unless given)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.build = Info("sealpost_build", "Version of the running server.", registry=r)
        self.build.info({"version": __version__})
        self.accepted = Counter(
            "sealpost_messages_accepted",
            "Messages accepted into the queue, by listener (api, dsn or an SMTP listener name).",
            ["listener"],
            registry=r,
        )
        self.connections = Gauge(
            "sealpost_smtp_connections_open", "Open inbound SMTP connections.", registry=r
        )
        self.refused_connections = Counter(
            "sealpost_smtp_connections_refused",
            "Inbound connections refused with 421 at the banner, by the limit that refused them.",
            ["limit"],
            registry=r,
        )
        self.attempts = Counter(
            "sealpost_delivery_attempts",
            "Outbound delivery results per recipient, by result and TLS outcome.",
            ["result", "tls"],
            registry=r,
        )
        self.commit_seconds = Histogram(
            "sealpost_store_commit_seconds",
            "Time from a store write being queued to its commit (fsync included).",
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )


def render(metrics: Metrics) -> bytes:
    """The registry in Prometheus text format, ready to serve with ``CONTENT_TYPE``."""
    return generate_latest(metrics.registry)
