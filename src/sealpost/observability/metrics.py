"""The server's Prometheus metrics, on one registry the composition root injects.

Each process builds one ``Metrics`` (``app.py``) and hands it to the parts that count; tests
build their own, so no metric is global and two servers in one test process never share a
counter. With several worker processes (``[server] workers``) every worker's values live in
files of one per-run directory (``multiprocess``) and the listener that serves ``/metrics``
adds them up.

Label values come from small closed sets (listener names from the config, method, result,
TLS outcome, policy source, the limit that refused): never a recipient, key or IP. The only
domain label is ``domain`` on delivery attempts, and its values are the domains the operator
listed (``[metrics] domains``) plus ``other``, so cardinality stays bounded.
``render`` gives the Prometheus text exposition format.

What is counted per message (accepted, open connections) goes to label children bound once
per listener and kept (``count_accepted``, ``open_connections``): ``labels()`` builds and
looks up its key under a lock on every call, which showed in the inbound benchmark's
profiles. A child is bound on first use, so the series are exactly those ``labels()`` made.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import InfoMetricFamily
from prometheus_client.registry import Collector

from sealpost import __version__

CONTENT_TYPE = CONTENT_TYPE_LATEST
OTHER_DOMAIN = "other"
# Listener names that are not SMTP listeners: the API, our bounces, our TLS reports (RFC 8460).
_OWN_DOORS = frozenset({"api", "dsn", "tlsrpt"})
# Store commits are milliseconds on a healthy disk; seconds mean trouble.
_COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Webhook lag: from an event's time to the 2xx of the batch that carried it.
_LAG_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)


class AttemptCount(Protocol):
    """One recipient of one delivery attempt (``delivery.coverage.AttemptTally``)."""

    @property
    def result(self) -> str: ...
    @property
    def tls(self) -> str: ...
    @property
    def policy_source(self) -> str: ...
    @property
    def domain(self) -> str: ...


class BuildInfo(Collector):
    """``sealpost_build_info{version=...} 1``: a collector of its own, because the served
    registry of several workers holds no process's families (``multiprocess``)."""

    def collect(self) -> Iterable[InfoMetricFamily]:
        yield InfoMetricFamily(
            "sealpost_build", "Version of the running server.", value={"version": __version__}
        )


class Metrics:
    """The metric families, registered on ``registry`` (a fresh one unless given).

    ``domains``: the recipient domains that get their own ``domain`` label value.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, domains: Iterable[str] = ()
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.domains = frozenset(d.lower().rstrip(".") for d in domains)
        self._accepted_by: dict[str, Counter] = {}  # listener -> its bound child
        self._open_by: dict[str, Gauge] = {}
        r = self.registry
        self.registry.register(BuildInfo())
        self.accepted = Counter(
            "sealpost_messages_accepted",
            "Messages accepted into the queue, by listener (an SMTP listener name, api, dsn "
            "or tlsrpt) and method (smtp, api, dsn: our bounces, tlsrpt: our TLS reports).",
            ["listener", "method"],
            registry=r,
        )
        self.connections = Gauge(
            "sealpost_smtp_connections_open",
            "Open inbound SMTP connections, by listener.",
            ["listener"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.refused_connections = Counter(
            "sealpost_smtp_connections_refused",
            "Inbound connections refused with 421 at the banner, by the limit that refused "
            "them (per_ip, rate_per_ip, total).",
            ["limit"],
            registry=r,
        )
        self.attempts = Counter(
            "sealpost_delivery_attempts",
            "Outbound delivery results per recipient, by result (delivered, deferred, "
            "bounced), TLS outcome (verified, unverified, plaintext, fallback, "
            "policy_refused, no_session), the source of the TLS policy and the recipient "
            "domain (a [metrics] domains entry, else other).",
            ["result", "tls", "policy_source", "domain"],
            registry=r,
        )
        self.mta_sts_fetches = Counter(
            "sealpost_mta_sts_fetches",
            "MTA-STS policy fetches, by result (ok, or the RFC 8460 failure: "
            "sts-policy-fetch-error, sts-policy-invalid, sts-webpki-invalid).",
            ["result"],
            registry=r,
        )
        self.webhook_batches = Counter(
            "sealpost_webhook_batches",
            "Webhook batch POSTs, by result (delivered, failed: retried later, dropped: "
            "given up after the retries).",
            ["result"],
            registry=r,
        )
        self.webhook_lag = Histogram(
            "sealpost_webhook_lag_seconds",
            "Seconds from the oldest event of a webhook batch to the 2xx that delivered it.",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.commit_seconds = Histogram(
            "sealpost_store_commit_seconds",
            "Time from a store write being queued to its commit (fsync included).",
            buckets=_COMMIT_BUCKETS,
            registry=r,
        )

    def domain_label(self, domain: str) -> str:
        """``domain`` when the operator listed it, else ``other``."""
        name = domain.lower().rstrip(".")
        return name if name in self.domains else OTHER_DOMAIN

    # --- what the parts report (the composition root hands these to them) ---------------
    def count_accepted(self, listener: str, count: int) -> None:
        """``count`` messages stored by the door for ``listener`` (``api``, ``dsn`` or an
        SMTP listener's name)."""
        child = self._accepted_by.get(listener)
        if child is None:
            method = listener if listener in _OWN_DOORS else "smtp"
            child = self.accepted.labels(listener=listener, method=method)
            self._accepted_by[listener] = child
        child.inc(count)

    def open_connections(self, listener: str) -> Gauge:
        """The open-connections gauge of ``listener`` (``inc`` at accept, ``dec`` at close)."""
        child = self._open_by.get(listener)
        if child is None:
            child = self._open_by[listener] = self.connections.labels(listener=listener)
        return child

    def count_attempts(self, tallies: Iterable[AttemptCount]) -> None:
        """One recorded delivery attempt's per-recipient tallies."""
        for t in tallies:
            self.attempts.labels(
                result=t.result,
                tls=str(t.tls),
                policy_source=t.policy_source,
                domain=self.domain_label(t.domain),
            ).inc()

    def count_sts_fetch(self, result: str) -> None:
        self.mta_sts_fetches.labels(result=result).inc()

    def count_webhook_batch(self, result: str, lag: float | None) -> None:
        self.webhook_batches.labels(result=result).inc()
        if lag is not None:
            self.webhook_lag.observe(max(0.0, lag))


def render(metrics: Metrics) -> bytes:
    """The registry in Prometheus text format, ready to serve with ``CONTENT_TYPE``."""
    return generate_latest(metrics.registry)
