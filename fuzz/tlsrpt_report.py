#!/usr/bin/env python3
"""Fuzz target: reading a TLS-RPT report from anyone (``sealpost.tlsrpt``).

The first octet chooses the path: even, the input is a report body
(``received.parse_report``: gzip or JSON, decompression bounded); odd, the rest is a mail
message (``mail.find_report``, then ``parse_report`` on the part found), as the intake reads
held mail. Invariants checked on every input:

- no exception escapes: any bytes give a ``ParsedReport``, a ``Refusal`` or a ``Found``;
- a refusal's text is one printable line (the intake logs it);
- a parsed report has counts >= 0, a date range whose end is not before its start, and
  policy domains that are lower case, without spaces or a trailing dot (the store keeps them
  space-separated), sorted and unique; its record's JSON reads back as the same document.

Run: ``python fuzz/tlsrpt_report.py fuzz/corpus/tlsrpt_report [libFuzzer options]``.
"""

from __future__ import annotations

import json
import re
import sys

import atheris

with atheris.instrument_imports(include=["sealpost", "email", "json", "gzip", "zlib"]):
    from sealpost.model.received_report import ReportSource
    from sealpost.tlsrpt.mail import Found, find_report
    from sealpost.tlsrpt.payload import Refusal
    from sealpost.tlsrpt.received import ParsedReport, parse_report

LIMIT = 256 * 1024  # small, so a bomb is found fast
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def check(result: ParsedReport | Refusal | Found) -> None:
    if isinstance(result, Found):
        return
    if isinstance(result, Refusal):
        assert not _UNSAFE.search(result.text), result.text
        return
    assert result.successful >= 0 and result.failed >= 0, result
    assert result.end >= result.start, result
    domains = result.policy_domains
    assert domains and list(domains) == sorted(set(domains)), domains
    for domain in domains:
        assert domain == domain.lower() and " " not in domain and not domain.endswith("."), domain
    record = result.record("id", 0.0, ReportSource.MAIL, None)
    assert json.loads(record.report_json) == result.document


def test_one_input(data: bytes) -> None:
    if not data:
        return
    body = data[1:]
    if data[0] % 2 == 0:
        check(parse_report(body, LIMIT))
        return
    found = find_report(body)
    check(found if isinstance(found, Found) else parse_report(found.body, LIMIT))


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
