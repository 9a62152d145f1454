"""Conformance of ``ReceivedTlsReports`` on every backend: a report is stored once per
(organization, report-id), found by our id, listed by id past a cursor with the domain,
scope and date filters, and every column comes back as it went in."""

from __future__ import annotations

import asyncio

from sealpost.model.received_report import ReceivedReport, ReportQuery, ReportSource
from sealpost.store import open_store

DAY = 86400.0
T0 = 1_764_460_800.0  # 2026-11-30T00:00:00Z


def made(
    our_id: str,
    org: str = "Google Inc.",
    rid: str = "r1",
    domains: tuple[str, ...] = ("example.test",),
    day: int = 0,
) -> ReceivedReport:
    return ReceivedReport(
        id=our_id,
        organization=org,
        report_id=rid,
        start=T0 + day * DAY,
        end=T0 + day * DAY + DAY - 1,
        policy_domains=domains,
        successful=2**40,
        failed=3,
        contact_info="smtp-tls-reporting@google.com",
        received_at=T0 + 2 * DAY,
        source=ReportSource.MAIL,
        message_id="m" + our_id,
        report_json='{"organization-name":"Google Inc.","x":"\u00e9"}',
    )


def test_a_report_is_stored_once_per_organization_and_report_id(run):
    async def scenario(store):
        first = made("a01")
        kept = await store.add_received_report(first)
        assert kept.created and kept.report == first
        again = await store.add_received_report(made("a02"))  # the resend, under a new id of ours
        assert not again.created and again.report == first
        other_org = await store.add_received_report(made("a03", org="Microsoft Corporation"))
        assert other_org.created  # report-id is unique per organization only
        assert await store.get_received_report("a01") == first
        assert await store.get_received_report("a02") is None
        assert [r.id for r in await store.list_received_reports(ReportQuery())] == ["a01", "a03"]

    run(scenario)


def test_listing_filters_and_pages_by_our_id(run):
    async def scenario(store):
        await store.add_received_report(made("b01", rid="1", domains=("example.test",), day=0))
        await store.add_received_report(made("b02", rid="2", domains=("a.test", "example.test")))
        await store.add_received_report(made("b03", rid="3", domains=("other.test",), day=1))
        await store.add_received_report(made("b04", rid="4", domains=("sub.example.test",), day=2))

        async def ids(**query) -> list[str]:
            return [r.id for r in await store.list_received_reports(ReportQuery(**query))]

        assert await ids() == ["b01", "b02", "b03", "b04"]
        assert await ids(domain="example.test") == ["b01", "b02"]  # a whole name, not a suffix
        assert await ids(domain="a.test") == ["b02"]
        assert await ids(domain="test") == []
        assert await ids(scope=("other.test", "a.test")) == ["b02", "b03"]
        assert await ids(scope=()) == []
        assert await ids(domain="example.test", scope=("other.test",)) == []
        assert await ids(since=T0 + DAY) == ["b03", "b04"]  # ends at or after
        assert await ids(until=T0 + DAY) == ["b01", "b02"]  # starts before
        assert await ids(since=T0 + DAY, until=T0 + 2 * DAY) == ["b03"]
        assert await ids(limit=2) == ["b01", "b02"]
        assert await ids(after="b02", limit=1) == ["b03"]
        assert await ids(after="b04") == []

    run(scenario)


def test_reports_outlive_the_store_that_wrote_them(run, tmp_path, request):
    """Durable backends: a second store on the same database reads what the first wrote."""

    async def scenario(store):
        await store.add_received_report(made("c01"))
        return type(store).__name__

    kind = run(scenario)
    if kind == "MemoryStore":
        return
    url = "sqlite:///spool/queue.db" if kind == "SqliteStore" else request.getfixturevalue("pg_url")

    async def reopen() -> ReceivedReport | None:
        store = open_store(url, base_dir=tmp_path, node_id="second")
        await store.open()
        try:
            return await store.get_received_report("c01")
        finally:
            await store.close()

    assert asyncio.run(reopen()) == made("c01")
