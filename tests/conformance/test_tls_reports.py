"""Conformance of the TlsReportStore half of every backend: tallies are summed by key (the
attempt's own ``record_attempt`` adds them, and nothing when its lease was lost), read back
per UTC day; one report per (day, policy domain), whoever claims first; target states;
pruning by day. On the durable backends two stores on one database (two nodes on
PostgreSQL) see each other's tallies and cannot both claim a report."""

from __future__ import annotations

import asyncio

import pytest

from sealpost.model.queue import RecipientResult
from sealpost.model.tlsrpt import TlsFailure
from sealpost.model.tlsrpt_report import (
    PolicyType,
    ReportedPolicy,
    ReportTarget,
    SentReport,
    TargetState,
    TlsTally,
)
from sealpost.store.errors import LeaseLostError
from tests.conformance.test_queue_store import T0, ids, message

STS = ReportedPolicy(
    PolicyType.STS,
    ("version: STSv1", "mode: enforce", "mx: *.example.test", "max_age: 86400"),
    ("*.example.test",),
)
NONE = ReportedPolicy()


def tally(day="2026-12-02", domain="example.test", policy=STS, result=None, n=1, ip="192.0.2.1"):
    return TlsTally(day, domain, policy, "mx1.example.test", ip, result, n)


def report(day="2026-12-02", domain="example.test", rid="r1@sealpost.test") -> SentReport:
    return SentReport(
        rid,
        day,
        domain,
        T0,
        {"report-id": rid, "policies": []},
        (ReportTarget("mailto:a@example.test"), ReportTarget("https://r.example.test/x")),
    )


def test_tallies_with_one_key_are_summed_and_read_per_day(run):
    async def scenario(store):
        mismatch = TlsFailure.CERTIFICATE_HOST_MISMATCH
        await store.add_tls_tallies([tally(), tally(n=2), tally(result=mismatch)])
        await store.add_tls_tallies([tally(), tally(policy=NONE), tally(ip="192.0.2.2")])
        await store.add_tls_tallies([tally(day="2026-12-03"), tally(domain="b.test")])
        found = await store.tls_tallies("2026-12-02")
        summed = {(t.policy_domain, t.policy, t.receiving_ip, t.result): t.sessions for t in found}
        assert summed == {
            ("example.test", STS, "192.0.2.1", None): 4,
            ("example.test", STS, "192.0.2.1", mismatch): 1,
            ("example.test", NONE, "192.0.2.1", None): 1,
            ("example.test", STS, "192.0.2.2", None): 1,
            ("b.test", STS, "192.0.2.1", None): 1,
        }
        assert [t.receiving_mx for t in found] == ["mx1.example.test"] * 5
        assert [t.sessions for t in await store.tls_tallies("2026-12-03")] == [1]
        assert await store.tls_tallies("2026-12-01") == []

    run(scenario)


def test_record_attempt_adds_its_tallies_in_the_same_write(run):
    async def scenario(store):
        [a] = ids(1)
        await store.enqueue(a, message("x@example.test"), T0)
        [claim] = await store.claim_due(T0, 1, 60)
        delivered = [RecipientResult("x@example.test", "delivered")]
        await store.record_attempt(claim, delivered, T0, (), [tally(), tally(n=2)])
        [summed] = await store.tls_tallies("2026-12-02")
        assert summed.sessions == 3
        # A lost lease writes nothing: no outcome, no event, no tally.
        await store.retry_now(a, T0)
        with pytest.raises(LeaseLostError):
            await store.record_attempt(claim, delivered, T0, (), [tally(n=5)])
        assert [t.sessions for t in await store.tls_tallies("2026-12-02")] == [3]

    run(scenario)


def test_one_report_per_day_and_domain_whoever_claims_first(run):
    async def scenario(store):
        assert await store.claim_tls_report(report())
        assert not await store.claim_tls_report(report(rid="r2@sealpost.test")), "same day"
        assert await store.claim_tls_report(report(domain="b.test", rid="r3@sealpost.test"))
        assert await store.claim_tls_report(report(day="2026-12-03", rid="r4@sealpost.test"))
        [first] = await store.tls_reports(day="2026-12-02", limit=1)
        assert first.policy_domain == "b.test"  # by domain within a day
        listed = await store.tls_reports()
        assert [(r.day, r.policy_domain) for r in listed] == [
            ("2026-12-03", "example.test"),
            ("2026-12-02", "b.test"),
            ("2026-12-02", "example.test"),
        ]
        mine = listed[2]
        assert mine.report_id == "r1@sealpost.test" and mine.report["report-id"] == mine.report_id
        assert [t.state for t in mine.targets] == [TargetState.PENDING] * 2

    run(scenario)


def test_target_states_are_recorded(run):
    async def scenario(store):
        await store.claim_tls_report(report())
        await store.set_tls_report_target(
            "r1@sealpost.test", "mailto:a@example.test", TargetState.QUEUED, "msg-1", T0 + 1
        )
        await store.set_tls_report_target(
            "r1@sealpost.test", "https://r.example.test/x", TargetState.FAILED, "HTTP 500", T0 + 2
        )
        [got] = await store.tls_reports()
        assert got.targets == (
            ReportTarget("https://r.example.test/x", TargetState.FAILED, "HTTP 500", T0 + 2),
            ReportTarget("mailto:a@example.test", TargetState.QUEUED, "msg-1", T0 + 1),
        )

    run(scenario)


def test_forgetting_drops_only_earlier_days(run):
    async def scenario(store):
        await store.add_tls_tallies([tally(day="2026-11-01"), tally(day="2026-12-02")])
        await store.claim_tls_report(report(day="2026-11-01", rid="old@sealpost.test"))
        await store.claim_tls_report(report())
        assert await store.forget_tls_before("2026-12-01") == 4  # tally, report, 2 targets
        assert await store.tls_tallies("2026-11-01") == []
        assert len(await store.tls_tallies("2026-12-02")) == 1
        assert [r.day for r in await store.tls_reports()] == ["2026-12-02"]

    run(scenario)


def test_two_stores_on_one_database_share_tallies_and_one_claim(run_pair):
    async def scenario(a, b):
        await asyncio.gather(a.add_tls_tallies([tally()]), b.add_tls_tallies([tally(n=2)]))
        [summed] = await b.tls_tallies("2026-12-02")
        assert summed.sessions == 3
        claims = await asyncio.gather(
            a.claim_tls_report(report(rid="a@node")),
            b.claim_tls_report(report(rid="b@node")),
        )
        assert sorted(claims) == [False, True]
        [only] = await a.tls_reports()
        assert only.report_id == ("a@node" if claims[0] else "b@node")

    run_pair(scenario)
