#!/usr/bin/env python3
"""Fuzz target: the DSN parser (``sealpost.delivery.dsn_parse.parse_dsn``).

Bounces come from anyone, so ``parse_dsn`` documents no error at all: any bytes give a
``ParsedDsn`` or ``None``. Invariants checked on every input:

- no exception escapes;
- every text it returns is one line of printable text (no CR, LF or other control
  character), as the events and webhooks that carry it expect;
- an action is lower case and a status is empty or ``x.y.z`` with class 2, 4 or 5.

Run: ``python fuzz/dsn_parse.py fuzz/corpus/dsn_parse [libFuzzer options]``.
"""

from __future__ import annotations

import re
import sys

import atheris

with atheris.instrument_imports(include=["sealpost", "email"]):
    from sealpost.delivery.dsn_parse import ParsedDsn, parse_dsn

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")


def _one_line(value: str | None, what: str) -> None:
    if value is not None and _UNSAFE.search(value):
        raise AssertionError(f"{what} is not one printable line: {value!r}")


def check(parsed: ParsedDsn | None) -> None:
    if parsed is None:
        return
    for name in ("reporting_mta", "envelope_id", "original_message_id", "sealpost_id"):
        _one_line(getattr(parsed, name), name)
    for report in parsed.recipients:
        assert report.address, report
        for name in ("address", "action", "status", "diagnostic", "remote_mta"):
            _one_line(getattr(report, name), f"recipient {name}")
        _one_line(report.original_recipient, "original_recipient")
        assert report.action == report.action.lower(), report
        assert report.status == "" or _STATUS.fullmatch(report.status), report


def test_one_input(data: bytes) -> None:
    check(parse_dsn(data))


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
