"""The EventTallies contract (the console's counts of the event stream), run against every
backend: buckets, TLS outcomes by policy source, the busiest domains and the top reasons."""

from __future__ import annotations

from sealpost.model.event_tally import AttemptCount, EventCount, ReasonCount, attempt_outcome
from sealpost.model.events import EventRecord

H = 3600.0
T0 = 1_760_000_400.0  # a multiple of 3600


def _tls(version=None, verified=None, source="default", peer=None):
    return {"version": version, "verified": verified, "policy_source": source, "peer_name": peer}


def _attempt(kind, at, domain, tls, **extra):
    fields = {"recipient_domain": domain, "tls": tls, **extra}
    return EventRecord(kind, "m", at, fields, f"x@{domain}")


EVENTS = [
    EventRecord("injection", "m", T0 + 1, {"recipient_domain": "a.test"}, "x@a.test"),
    EventRecord("injection", "m", T0 + H + 5, {"recipient_domain": "a.test"}, "x@a.test"),
    _attempt("delivery", T0 + 2, "a.test", _tls("TLSv1.3", True, "mta-sts")),
    _attempt("delivery", T0 + 3, "a.test", _tls("TLSv1.3", True, "mta-sts")),
    _attempt("delivery", T0 + 4, "b.test", _tls("TLSv1.2", False, peer="mx.b.test")),
    _attempt("delivery", T0 + H, "c.test", _tls()),
    _attempt(
        "delay",
        T0 + H + 1,
        "b.test",
        _tls(None, None, "dane"),
        tlsrpt_failures=["tlsa-invalid"],
        reason="451 TLS required",
    ),
    _attempt("delay", T0 + H + 2, "b.test", _tls(), reason="421 busy"),
    _attempt("bounce", T0 + H + 3, "b.test", _tls(), reason="421 busy"),
    _attempt("delivery", T0 + 5 * H, "a.test", _tls("TLSv1.3", True)),  # outside the range
]


def test_counts_events_per_bucket_and_type(run):
    async def scenario(store):
        await store.add_events(EVENTS)
        found = await store.count_events_by_bucket(T0, T0 + 2 * H, H, ["injection", "delivery"])
        assert sorted(found, key=lambda c: (c.bucket, c.type)) == [
            EventCount(T0, "delivery", 3),
            EventCount(T0, "injection", 1),
            EventCount(T0 + H, "delivery", 1),
            EventCount(T0 + H, "injection", 1),
        ]
        assert await store.count_events_by_bucket(T0, T0 + 2 * H, H, []) == []
        # to_time is exclusive
        assert await store.count_events_by_bucket(T0, T0 + 2, H, ["injection"]) == [
            EventCount(T0, "injection", 1)
        ]

    run(scenario)


def test_classifies_attempts_by_tls_outcome_and_policy_source(run):
    async def scenario(store):
        await store.add_events(EVENTS)
        found = await store.count_attempts_by_bucket(T0, T0 + 2 * H, H)
        assert sorted(found, key=lambda c: (c.key, c.outcome, c.policy_source)) == [
            AttemptCount(T0, "unverified", "default", 1),
            AttemptCount(T0, "verified", "mta-sts", 2),
            AttemptCount(T0 + H, "other", "default", 2),
            AttemptCount(T0 + H, "plaintext", "default", 1),
            AttemptCount(T0 + H, "refused", "dane", 1),
        ]

    run(scenario)


def test_domains_with_the_most_attempts_come_first(run):
    async def scenario(store):
        await store.add_events(EVENTS)
        top = await store.count_attempts_by_domain(T0, T0 + 2 * H, 2)
        assert {c.key for c in top} == {"a.test", "b.test"}  # c.test has the fewest
        assert sum(c.count for c in top if c.key == "b.test") == 4
        assert AttemptCount("b.test", "unverified", "default", 1, "mx.b.test") in top
        assert AttemptCount("b.test", "other", "default", 2, "") in top
        everything = await store.count_attempts_by_domain(T0, T0 + 2 * H, 10)
        assert {c.key for c in everything} == {"a.test", "b.test", "c.test"}

    run(scenario)


def test_top_reasons_most_frequent_first(run):
    async def scenario(store):
        await store.add_events(EVENTS)
        assert await store.top_reasons(T0, T0 + 2 * H, ["delay", "bounce"], 5) == [
            ReasonCount("421 busy", 2),
            ReasonCount("451 TLS required", 1),
        ]
        # a tie is broken by the reason's text
        assert await store.top_reasons(T0, T0 + 2 * H, ["delay"], 1) == [ReasonCount("421 busy", 1)]

    run(scenario)


def test_outcome_definition():
    assert attempt_outcome("delivery", {"tls": _tls("TLSv1.3", True)}) == "verified"
    assert attempt_outcome("delivery", {"tls": _tls("TLSv1.3", None)}) == "unverified"
    assert attempt_outcome("delivery", {"tls": _tls()}) == "plaintext"
    assert attempt_outcome("delay", {"tls": _tls(), "tlsrpt_failures": ["x"]}) == "refused"
    assert attempt_outcome("bounce", {"tls": _tls("TLSv1.3", True)}) == "other"
