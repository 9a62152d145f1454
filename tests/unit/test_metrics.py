"""The metrics seam: one registry per Metrics, rendered in Prometheus text format; the
queue-wide gauges; what a delivery attempt counts as for TLS coverage."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from sealpost import __version__
from sealpost.delivery.coverage import AttemptTally, TlsOutcome, policy_source, tls_outcome
from sealpost.model.queue_depth import QueueDepth
from sealpost.model.reply import Reply
from sealpost.model.tls_record import Fallback, TlsRecord
from sealpost.observability.metrics import Metrics, render
from sealpost.observability.queue_gauges import QueueGauges


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = render(metrics).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_servers_in_one_process_never_share_a_counter():
    a, b = Metrics(), Metrics()
    a.accepted.labels(listener="mx", method="smtp").inc()
    a.accepted.labels(listener="mx", method="smtp").inc()
    b.accepted.labels(listener="api", method="api").inc()
    key = ("sealpost_messages_accepted_total", (("listener", "mx"), ("method", "smtp")))
    assert _samples(a)[key] == 2
    assert key not in _samples(b)


def test_render_is_parseable_prometheus_text_with_build_info():
    metrics = Metrics()
    metrics.attempts.labels(
        result="delivered", tls="verified", policy_source="mta-sts", domain="other"
    ).inc()
    metrics.commit_seconds.observe(0.003)
    samples = _samples(metrics)
    assert samples[("sealpost_build_info", (("version", __version__),))] == 1
    labels = (("domain", "other"), ("policy_source", "mta-sts"), ("result", "delivered"))
    key = ("sealpost_delivery_attempts_total", (*labels, ("tls", "verified")))
    assert samples[key] == 1
    assert samples[("sealpost_store_commit_seconds_count", ())] == 1


def test_only_listed_domains_get_a_label_of_their_own():
    metrics = Metrics(domains=["Gmail.com."])
    assert metrics.domain_label("GMAIL.COM") == "gmail.com"
    assert metrics.domain_label("victim-1234.example") == "other"


def test_queue_gauges_are_read_once_per_ttl_and_say_when_the_store_is_out():
    now = [1000.0]
    reads: list[int] = []
    answer: list[QueueDepth | Exception] = [QueueDepth(3, 1, 940.0)]

    async def read() -> QueueDepth:
        reads.append(1)
        value = answer[0]
        if isinstance(value, Exception):
            raise value
        return value

    gauges = QueueGauges(read, ttl=2.0, clock=lambda: now[0])

    def collected() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in gauges.collect()
            for s in family.samples
        }

    async def scenario() -> None:
        await gauges.refresh()
        await gauges.refresh()  # within the ttl: no second read
        assert len(reads) == 1
        found = collected()
        assert found[("sealpost_queue_messages", (("state", "queued"),))] == 3
        assert found[("sealpost_queue_messages", (("state", "held"),))] == 1
        assert found[("sealpost_queue_oldest_message_age_seconds", ())] == 60
        assert found[("sealpost_queue_gauges_up", ())] == 1
        now[0] += 3
        answer[0] = OSError("gone")
        await gauges.refresh()
        assert len(reads) == 2
        found = collected()
        assert found[("sealpost_queue_gauges_up", ())] == 0
        assert ("sealpost_queue_messages", (("state", "queued"),)) not in found

    asyncio.run(scenario())


def test_tls_outcomes_of_an_attempt():
    verified = TlsRecord(version="TLSv1.3", verified=True, policy_source="mta-sts")
    assert tls_outcome(verified, True, None) is TlsOutcome.VERIFIED
    assert policy_source(verified) == "mta-sts"
    unverified = TlsRecord(version="TLSv1.2", verified=False, policy_source="default")
    assert tls_outcome(unverified, True, None) is TlsOutcome.UNVERIFIED
    assert tls_outcome(TlsRecord(offered=False), True, None) is TlsOutcome.PLAINTEXT
    fell_back = TlsRecord(offered=True, fallback=Fallback.HANDSHAKE_FAILED)
    assert tls_outcome(fell_back, True, None) is TlsOutcome.FALLBACK
    refused = Reply.of(451, "4.7.5", "no MX host meets the MTA-STS policy")
    policy_only = TlsRecord(level_required="verify", policy_source="mta-sts")
    assert tls_outcome(policy_only, False, refused) is TlsOutcome.POLICY_REFUSED
    requiretls = Reply.of(550, "5.7.30", "REQUIRETLS not supported")
    assert tls_outcome(policy_only, False, requiretls) is TlsOutcome.POLICY_REFUSED
    unreachable = Reply.of(451, "4.4.1", "connection refused")
    assert tls_outcome(policy_only, False, unreachable) is TlsOutcome.NO_SESSION
    assert tls_outcome(None, False, Reply.of(550, "5.1.2", "null MX")) is TlsOutcome.NO_SESSION
    assert policy_source(None) == "none"


def test_attempt_tallies_are_counted_with_bounded_labels():
    metrics = Metrics(domains=["example.net"])
    metrics.count_attempts(
        [
            AttemptTally("delivered", TlsOutcome.VERIFIED, "mta-sts", "Example.NET"),
            AttemptTally("deferred", TlsOutcome.NO_SESSION, "none", "someone-else.test"),
        ]
    )
    metrics.count_accepted("submission", 3)
    metrics.count_accepted("api", 2)
    samples = _samples(metrics)
    verified = (
        ("domain", "example.net"),
        ("policy_source", "mta-sts"),
        ("result", "delivered"),
        ("tls", "verified"),
    )
    assert samples[("sealpost_delivery_attempts_total", verified)] == 1
    other = (("domain", "other"), ("policy_source", "none"), ("result", "deferred"))
    assert samples[("sealpost_delivery_attempts_total", (*other, ("tls", "no_session")))] == 1
    accepted = "sealpost_messages_accepted_total"
    assert samples[(accepted, (("listener", "submission"), ("method", "smtp")))] == 3
    assert samples[(accepted, (("listener", "api"), ("method", "api")))] == 2
