"""TLS-RPT sending without sockets: the ``_smtp._tls`` record (RFC 8460 section 3), the
report JSON against the section 4.4 schema, the section 5.1 file name and 5.3 message, what
an attempt counts, one report per domain and day, the egress rule on https: targets, and the
daily schedule."""

from __future__ import annotations

import asyncio
import email
import email.policy
import gzip
import json
import re
from datetime import date
from email.message import Message

import jsonschema
import pytest

from sealpost.delivery.attempt import DomainAttempt
from sealpost.delivery.tls_tallies import tallies
from sealpost.model.tls_record import TlsRecord
from sealpost.model.tlsrpt import TlsFailure
from sealpost.model.tlsrpt_report import (
    PolicyType,
    ReportedPolicy,
    TargetState,
    TlsReport,
    TlsTally,
)
from sealpost.net.egress import EgressGuard
from sealpost.store.memory import MemoryStore
from sealpost.submission.door import Submission
from sealpost.tlsrpt import aggregate
from sealpost.tlsrpt.daily import run_daily, seconds_to_midnight, yesterday
from sealpost.tlsrpt.post import ReportPoster
from sealpost.tlsrpt.report_mail import file_name, report_message
from sealpost.tlsrpt.rua import NoRua, Rua, Scheme, parse_record
from sealpost.tlsrpt.send import ReporterSettings, TlsReporter
from sealpost.tlsrpt.wiring import mail_queue
from tests.fakes.resolver import ZoneResolver
from tests.tlsrpt_schema import validate

DAY = date(2026, 12, 2)
T_DAY = 1_796_169_600.0  # 2026-12-02T00:00:00Z
STS = ReportedPolicy(
    PolicyType.STS,
    ("version: STSv1", "mode: testing", "mx: *.example.test", "max_age: 86400"),
    ("*.example.test",),
)
TLSA = ReportedPolicy(PolicyType.TLSA, ("3 1 1 " + "ab" * 32,), ("mx1.example.test",))


# --- the _smtp._tls record ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("records", "expected"),
    [
        (["v=TLSRPTv1; rua=mailto:tls@example.test"], ["mailto:tls@example.test"]),
        (
            ["v=TLSRPTv1;rua=mailto:a@example.test , https://r.example.test/v1/tlsrpt;"],
            ["mailto:a@example.test", "https://r.example.test/v1/tlsrpt"],
        ),
        (["v=spf1 -all", "v=TLSRPTv1; rua=https://r.test/x"], ["https://r.test/x"]),
        (["v=TLSRPTv1; ext=1; rua=mailto:a%40x@example.test"], []),  # not an address
        (["v=TLSRPTv1; rua=ftp://r.test/x,mailto:b@example.test"], ["mailto:b@example.test"]),
        (["v=TLSRPTv1; rua=mailto:a@example.test?subject=x"], ["mailto:a@example.test?subject=x"]),
    ],
)
def test_rua_uris_of_one_record(records, expected):
    found = parse_record(records)
    if not expected:
        assert isinstance(found, NoRua)
        return
    assert isinstance(found, tuple)
    assert [r.uri for r in found] == expected


@pytest.mark.parametrize(
    ("records", "reason"),
    [
        ([], "no v=TLSRPTv1"),
        (["v=TLSRPTv1; rua=mailto:a@x.test", "v=TLSRPTv1; rua=mailto:b@x.test"], "2 v=TLSRPTv1"),
        (["v=TLSRPTv1rua=mailto:a@x.test"], "no ';'"),
        (["v=TLSRPTv1; ext=1"], "no mailto: or https:"),
        (["v=TLSRPTv1; rua=https://user:pw@r.test/"], "no mailto: or https:"),
    ],
)
def test_a_domain_without_exactly_one_usable_record_gets_no_report(records, reason):
    """RFC 8460 section 3: unless exactly one v=TLSRPTv1 record is left, the domain does not
    implement TLSRPT (MUST)."""
    found = parse_record(records)
    assert isinstance(found, NoRua) and reason in found.reason


def test_a_mailto_target_is_the_decoded_address():
    [target] = parse_record(["v=TLSRPTv1; rua=mailto:tls%2Dreports@example.test?x=1"])
    assert target == Rua(
        Scheme.MAILTO, "mailto:tls%2Dreports@example.test?x=1", "tls-reports@example.test"
    )


# --- the report -------------------------------------------------------------------------------
def _tallies() -> list[TlsTally]:
    mismatch, expired = TlsFailure.CERTIFICATE_HOST_MISMATCH, TlsFailure.CERTIFICATE_EXPIRED
    t = "2026-12-02"
    return [
        TlsTally(t, "example.test", STS, "mx1.example.test", "192.0.2.1", None, 40),
        TlsTally(t, "example.test", STS, "mx2.example.test", "192.0.2.2", mismatch, 3),
        TlsTally(t, "example.test", STS, "mx2.example.test", "192.0.2.3", expired, 5),
        TlsTally(t, "example.test", TLSA, "mx1.example.test", "192.0.2.1", None, 2),
        TlsTally(t, "plain.test", ReportedPolicy(), "mx.plain.test", "192.0.2.9", None, 1),
    ]


def _report(domain: str = "example.test") -> TlsReport:
    return TlsReport(
        "Sealpost Test",
        "mailto:postmaster@sealpost.test",
        "2026-12-02.00ff@mx.sealpost.test",
        DAY,
        domain,
        aggregate.by_domain(_tallies())[domain],
    )


def test_the_report_follows_the_rfc_8460_schema_with_the_day_summed():
    body = _report().to_json()
    validate(body)
    assert body["date-range"] == {
        "start-datetime": "2026-12-02T00:00:00Z",
        "end-datetime": "2026-12-02T23:59:59Z",
    }
    by_type = {p["policy"]["policy-type"]: p for p in body["policies"]}
    sts = by_type["sts"]
    assert sts["policy"]["policy-string"] == list(STS.strings)
    assert sts["policy"]["mx-host"] == ["*.example.test"]
    assert sts["summary"] == {
        "total-successful-session-count": 40,
        "total-failure-session-count": 8,
    }
    assert sts["failure-details"] == [  # largest count first
        {
            "result-type": "certificate-expired",
            "receiving-mx-hostname": "mx2.example.test",
            "receiving-ip": "192.0.2.3",
            "failed-session-count": 5,
        },
        {
            "result-type": "certificate-host-mismatch",
            "receiving-mx-hostname": "mx2.example.test",
            "receiving-ip": "192.0.2.2",
            "failed-session-count": 3,
        },
    ]
    assert by_type["tlsa"]["summary"]["total-successful-session-count"] == 2
    assert "failure-details" not in by_type["tlsa"]
    plain = _report("plain.test").to_json()
    validate(plain)
    assert plain["policies"][0]["policy"] == {
        "policy-type": "no-policy-found",
        "policy-domain": "plain.test",
    }


def test_the_schema_refuses_what_is_not_a_report():
    body = _report().to_json()
    del body["policies"][0]["summary"]["total-failure-session-count"]
    with pytest.raises(jsonschema.ValidationError):
        validate(body)
    body = _report().to_json()
    body["policies"][0]["failure-details"][0]["result-type"] = "certificate-bad"
    with pytest.raises(jsonschema.ValidationError):
        validate(body)


def _parts(data: bytes) -> tuple[Message, Message, Message]:
    """The report mail, its text part and its attachment (headers unfolded)."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    text, attachment = message.get_payload()
    return message, text, attachment


def test_the_report_mail_of_section_5_3():
    report = _report()
    body = gzip.compress(report.encoded(), mtime=0)
    data = report_message(
        report,
        body,
        sender="tlsrpt-noreply@mx.sealpost.test",
        recipient="tls@example.test",
        submitter="mx.sealpost.test",
        unique_id="00ff",
        now=T_DAY + 3600,
    )
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    message, text, attachment = _parts(data)
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "tlsrpt"
    assert message["Subject"] == (
        "Report Domain: example.test Submitter: mx.sealpost.test "
        "Report-ID: <2026-12-02.00ff@mx.sealpost.test>"
    )
    assert message["TLS-Report-Domain"] == "example.test"
    assert message["TLS-Report-Submitter"] == "mx.sealpost.test"
    assert message["TLS-Required"] == "No"
    assert text.get_content_type() == "text/plain"
    assert attachment.get_content_type() == "application/tlsrpt+gzip"
    name = attachment.get_filename()
    # section 5.1: sender "!" policy-domain "!" begin "!" end [ "!" unique-id ] "." extension
    assert re.fullmatch(r"mx\.sealpost\.test!example\.test!\d+!\d+!00ff\.json\.gz", name)
    begin, end = (int(x) for x in name.split("!")[2:4])
    assert (begin, end) == (T_DAY, T_DAY + 86400)
    sent = json.loads(gzip.decompress(attachment.get_payload(decode=True)))
    validate(sent)
    assert sent == report.to_json()
    assert file_name(report, "mx.sealpost.test", "00ff") == name


# --- what an attempt counts -------------------------------------------------------------------
def test_an_attempt_counts_one_session_per_result_and_none_without_tls():
    tls = TlsRecord(version="TLSv1.3")
    ok = DomainAttempt((), tls, "MX1.example.test.", "192.0.2.1", reported=STS)
    [success] = tallies("Example.Test", ok, T_DAY + 5)
    assert success == TlsTally(
        "2026-12-02", "example.test", STS, "mx1.example.test", "192.0.2.1", None, 1
    )
    failures = (TlsFailure.CERTIFICATE_NOT_TRUSTED, TlsFailure.VALIDATION_FAILURE)
    bad = DomainAttempt((), tls, "mx1.example.test", None, tls_failures=failures, reported=STS)
    assert [t.result for t in tallies("example.test", bad, T_DAY)] == sorted(failures)
    refused = DomainAttempt((), None, "mx1.example.test", reported=STS)  # no connection
    assert tallies("example.test", refused, T_DAY) == []
    relayed = DomainAttempt((), tls, "smarthost.test", "192.0.2.5")  # reported None
    assert tallies("example.test", relayed, T_DAY) == []


def test_without_a_policy_only_failing_to_negotiate_tls_or_to_find_a_policy_fails():
    """RFC 8460 section 4.4: failures are failures to negotiate TLS; with no policy an
    unverified certificate is no failure, a missing STARTTLS or a broken policy fetch is."""
    none = ReportedPolicy()
    tls = TlsRecord(version="TLSv1.3", verified=False)
    untrusted = (TlsFailure.CERTIFICATE_NOT_TRUSTED,)
    seen = DomainAttempt((), tls, "mx.test", tls_failures=untrusted, reported=none)
    assert [t.result for t in tallies("example.test", seen, T_DAY)] == [None]
    fetch = (TlsFailure.STS_POLICY_FETCH_ERROR, *untrusted)
    broken = DomainAttempt((), tls, "mx.test", tls_failures=fetch, reported=none)
    assert [t.result for t in tallies("example.test", broken, T_DAY)] == [
        TlsFailure.STS_POLICY_FETCH_ERROR
    ]
    clear = DomainAttempt(
        (),
        TlsRecord(offered=False),
        "mx.test",
        tls_failures=(TlsFailure.STARTTLS_NOT_SUPPORTED,),
        reported=none,
    )
    assert [t.result for t in tallies("example.test", clear, T_DAY)] == [
        TlsFailure.STARTTLS_NOT_SUPPORTED
    ]
    under_sts = DomainAttempt((), tls, "mx.test", tls_failures=untrusted, reported=STS)
    assert [t.result for t in tallies("example.test", under_sts, T_DAY)] == list(untrusted)


# --- one day's run ----------------------------------------------------------------------------
SETTINGS = ReporterSettings(
    organization_name="Sealpost Test",
    contact_info="postmaster@sealpost.test",
    sender="tlsrpt-noreply@mx.sealpost.test",
    submitter="mx.sealpost.test",
)


def _run(resolver: ZoneResolver, work):
    async def main():
        store = MemoryStore()
        await store.add_tls_tallies(_tallies())
        door = Submission(store, hostname="mx.sealpost.test")
        poster = ReportPoster(EgressGuard(resolver), ca_file=None, timeout=5)
        reporter = TlsReporter(store, resolver, mail_queue(door), poster, SETTINGS, lambda: T_DAY)
        try:
            return await work(store, reporter)
        finally:
            await poster.close()

    return asyncio.run(main())


def _zone() -> ZoneResolver:
    return ZoneResolver(
        {
            "_smtp._tls.example.test": {
                "TXT": ["v=TLSRPTv1; rua=mailto:tls@example.test,https://r.internal.test/x"]
            },
            "r.internal.test": {"A": ["10.1.2.3"]},
        }
    )


def test_one_report_per_domain_and_day_and_the_egress_rule_on_https():
    async def work(store, reporter):
        first = await reporter.send_day(DAY)
        again = await reporter.send_day(DAY)
        messages = await store.list(limit=10)
        return first, again, messages, await store.tls_reports()

    first, again, messages, listed = _run(_zone(), work)
    outcome = {o.domain: o for o in first}
    assert outcome["plain.test"].report is None  # no _smtp._tls record: nothing sent
    assert "_smtp._tls.plain.test" in (outcome["plain.test"].skipped or "")
    report = outcome["example.test"].report
    assert report is not None
    states = {t.uri: (t.state, t.detail) for t in report.targets}
    [queued] = messages
    assert states["mailto:tls@example.test"] == (TargetState.QUEUED, queued.id)
    state, detail = states["https://r.internal.test/x"]
    assert state is TargetState.FAILED and "private-target" in (detail or "")
    assert [o.report for o in again] == [None, None], "the second run sends nothing"
    assert "exists" in (again[0].skipped or "")
    [stored] = listed
    assert stored.report_id == report.report_id
    assert set(stored.targets) == set(report.targets)
    validate(stored.report)


def test_the_report_message_is_queued_as_ours_to_the_rua_address():
    async def work(store, reporter):
        await reporter.send_day(DAY)
        [summary] = await store.list(limit=10)
        return await store.get(summary.id)

    stored = _run(_zone(), work)
    assert stored.message.session.listener == "tlsrpt"
    assert stored.message.envelope.mail_from == "tlsrpt-noreply@mx.sealpost.test"
    assert stored.message.envelope.recipients == ("tls@example.test",)
    message, _text, attachment = _parts(stored.message.data)
    assert message["TLS-Required"] == "No"
    validate(json.loads(gzip.decompress(attachment.get_payload(decode=True))))


# --- the daily run ----------------------------------------------------------------------------
def test_midnight_arithmetic():
    assert seconds_to_midnight(T_DAY) == 86400
    assert seconds_to_midnight(T_DAY + 86399) == 1
    assert yesterday(T_DAY + 10) == date(2026, 12, 1)
    assert yesterday(T_DAY - 1) == date(2026, 11, 30)


def test_the_daily_run_catches_up_on_yesterday_at_start_and_prunes_old_days():
    async def work(store, reporter):
        old = TlsTally("2026-10-01", "example.test", STS, sessions=1)
        await store.add_tls_tallies([old])
        stop = asyncio.Event()
        waits: list[float] = []

        def jitter(top: float) -> float:
            waits.append(top)
            if len(waits) > 1:  # the wait for the next midnight: stop instead
                stop.set()
            return 0.0

        await run_daily(
            reporter,
            store,
            stop,
            delay_max=900,
            keep_days=31,
            clock=lambda: T_DAY + 86400 + 60,
            jitter=jitter,
        )
        return waits, await store.tls_reports(), await store.tls_tallies("2026-10-01")

    waits, reports, old = _run(_zone(), work)
    assert waits == [60.0, 900]  # a short catch-up jitter, then up to send_delay_max
    assert [(r.day, r.policy_domain) for r in reports] == [("2026-12-02", "example.test")]
    assert old == []
