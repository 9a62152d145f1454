"""Reading TLS-RPT reports (RFC 8460): the body (gzip or JSON, decompression bounded), the
fields of section 4.4 (a refusal names the field at fault) and the report inside a message
(section 5.3 and the variants big senders use). Real gzip, real MIME, no mocks."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest

from sealpost.model.received_report import ReportSource
from sealpost.tlsrpt.mail import Found, ReportPart, find_report
from sealpost.tlsrpt.payload import Problem, Refusal, gunzip
from sealpost.tlsrpt.received import ParsedReport, parse_report
from tests.fixtures.tlsrpt_samples import (
    GOOGLE,
    MICROSOFT,
    as_gzip,
    as_json,
    google_mail,
    microsoft_mail,
    plain_mail,
    report,
)

MB = 1024 * 1024


def parsed(body: bytes, limit: int = MB) -> ParsedReport:
    result = parse_report(body, limit)
    assert isinstance(result, ParsedReport), result
    return result


def refused(body: bytes, limit: int = MB) -> Refusal:
    result = parse_report(body, limit)
    assert isinstance(result, Refusal), result
    return result


def test_googles_gzip_report_is_read_with_its_totals_and_dates():
    got = parsed(as_gzip(GOOGLE))
    assert (got.organization, got.report_id) == ("Google Inc.", GOOGLE["report-id"])
    assert got.policy_domains == ("example.test",)
    assert (got.successful, got.failed) == (118, 2)
    assert got.end - got.start == 86399
    assert got.contact_info == "smtp-tls-reporting@google.com"
    record = got.record("id1", 5.0, ReportSource.API, None)
    assert '"certificate-expired"' in record.report_json and record.source is ReportSource.API


def test_microsofts_raw_json_report_is_read():
    got = parsed(as_json(MICROSOFT))
    assert (got.organization, got.failed, got.successful) == ("Microsoft Corporation", 3, 40)


def test_several_policies_add_up_and_domains_are_normalised():
    second = {
        "policy": {"policy-type": "no-policy-found", "policy-domain": "Other.Example.TEST."},
        "summary": {"total-successful-session-count": 5, "total-failure-session-count": 1},
    }
    got = parsed(as_json(report(GOOGLE, policies=[*GOOGLE["policies"], second])))
    assert got.policy_domains == ("example.test", "other.example.test")
    assert (got.successful, got.failed) == (123, 3)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (report(GOOGLE, organization_name=None), "organization-name"),
        (report(GOOGLE, report_id=""), "report-id"),
        (report(GOOGLE, date_range=None), "date-range"),
        (report(GOOGLE, date_range={"start-datetime": "2026-11-30T00:00:00Z"}),
         "date-range.end-datetime"),
        (report(GOOGLE, date_range={"start-datetime": "yesterday",
                                    "end-datetime": "2026-11-30T00:00:00Z"}),
         "date-range.start-datetime"),
        (report(GOOGLE, date_range={"start-datetime": "2026-11-30T00:00:00Z",
                                    "end-datetime": "2026-11-29T00:00:00Z"}),
         "date-range.end-datetime"),
        (report(GOOGLE, policies=None), "policies"),
        (report(GOOGLE, policies=[]), "policies"),
        (report(GOOGLE, policies=[{"summary": {}}]), "policies[0].policy"),
        (report(GOOGLE, policies=[{"policy": {"policy-type": "dane", "policy-domain": "a.test"},
                                   "summary": {}}]), "policies[0].policy.policy-type"),
        (report(GOOGLE, policies=[{"policy": {"policy-type": "sts", "policy-domain": "a b"},
                                   "summary": {}}]), "policies[0].policy.policy-domain"),
        (report(GOOGLE, policies=[{"policy": {"policy-type": "sts", "policy-domain": "a.test"},
                                   "summary": {"total-successful-session-count": 1}}]),
         "policies[0].summary.total-failure-session-count"),
        (report(GOOGLE, policies=[{"policy": {"policy-type": "sts", "policy-domain": "a.test"},
                                   "summary": {"total-successful-session-count": -1,
                                               "total-failure-session-count": 0}}]),
         "policies[0].summary.total-successful-session-count"),
        (report(GOOGLE, policies=[{"policy": {"policy-type": "sts", "policy-domain": "a.test"},
                                   "summary": {"total-successful-session-count": True,
                                               "total-failure-session-count": 0}}]),
         "policies[0].summary.total-successful-session-count"),
        (report(GOOGLE, policies=[{**GOOGLE["policies"][0],
                                   "failure-details": [{"failed-session-count": 1}]}]),
         "policies[0].failure-details[0].result-type"),
    ],
)  # fmt: skip
def test_a_missing_or_wrong_field_is_refused_by_name(doc, field):
    refusal = refused(as_json(doc))
    assert refusal.problem in (Problem.MISSING, Problem.INVALID), refusal
    assert refusal.field == field and (refusal.problem is Problem.MISSING) == (
        refusal.detail == "is a required field"
    )
    assert field in refusal.text


def test_bad_json_bad_gzip_and_not_an_object_are_refused():
    assert refused(b'{"organization-name": ').problem is Problem.BAD_JSON
    assert refused(b"[1, 2]").problem is Problem.BAD_JSON
    assert refused(b"\xff\xfe\x00garbage").problem is Problem.BAD_JSON
    assert refused(b"[" * 100_000 + b"]" * 100_000).problem is Problem.BAD_JSON
    assert refused(b"\x1f\x8b\x08\x00garbage-that-is-not-deflate").problem is Problem.BAD_GZIP
    truncated = as_gzip(GOOGLE)[:-12]
    assert refused(truncated).problem is Problem.BAD_GZIP


def test_a_gzip_bomb_stops_at_the_limit():
    """200 MB of zeros compress to about 200 KB; inflating stops just past 1 MB."""
    bomb = gzip.compress(b"0" * (200 * MB), compresslevel=9)
    assert len(bomb) < 300_000
    refusal = refused(bomb, limit=MB)
    assert refusal.problem is Problem.TOO_LARGE and "max_report_bytes" in refusal.detail
    # the raw (not compressed) form is held to the same limit
    assert refused(b" " * (MB + 1) + b"{}", limit=MB).problem is Problem.TOO_LARGE


def test_gunzip_reads_every_member_and_the_limit_counts_them_all():
    two = gzip.compress(b"ab") + gzip.compress(b"cd")
    assert gunzip(two, 10) == b"abcd"
    assert isinstance(gunzip(two, 3), Refusal)
    raw = zlib.compress(b"{}")  # zlib, not gzip: no magic, so read as JSON and refused
    assert refused(raw).problem is Problem.BAD_JSON


def test_the_report_is_found_in_googles_and_microsofts_mail():
    google = find_report(google_mail())
    assert isinstance(google, ReportPart) and google.content_type == "application/tlsrpt+gzip"
    assert parsed(google.body).organization == "Google Inc."
    microsoft = find_report(microsoft_mail())
    assert isinstance(microsoft, ReportPart) and microsoft.content_type == "application/gzip"
    assert parsed(microsoft.body).report_id == MICROSOFT["report-id"]


def test_ordinary_mail_is_not_a_report_and_a_claimed_report_without_one_is_said():
    assert find_report(plain_mail()) is Found.NOT_A_REPORT
    assert find_report(b"Subject: hi\r\n\r\nhello\r\n") is Found.NOT_A_REPORT
    # the stdlib parser raises TypeError on mixed RFC 2231 continuations (fuzz/tlsrpt_report.py)
    mixed = b"Content-Type: multipart/report; boundary*=xx; boundary*3=yy\r\n\r\n--xx--\r\n"
    assert find_report(mixed) is Found.NOT_A_REPORT
    claimed = b"Subject: Report Domain: example.test Submitter: x\r\n\r\nno attachment\r\n"
    assert find_report(claimed) is Found.NO_REPORT_PART


def test_a_part_the_email_package_cannot_read_is_no_report():
    """Found by fuzz/tlsrpt_report.py: a Microsoft-like message whose broken MIME made the
    standard library raise ``ValueError: embedded null character`` from ``get_filename``
    (an RFC 2231 value); such a part is skipped and nothing raises."""
    corpus = Path(__file__).resolve().parents[2] / "fuzz" / "corpus" / "tlsrpt_report"
    data = (corpus / "regression-nul-in-rfc2231-filename").read_bytes()[1:]
    assert isinstance(find_report(data), Found)
