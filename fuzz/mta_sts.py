#!/usr/bin/env python3
"""Fuzz target: the MTA-STS parsers (``sealpost.policy.mta_sts``, RFC 8461).

The first octet picks what the rest is read as (text is UTF-8, invalid octets become lone
surrogates so that any ``str`` can be reached): ``P`` a policy file for ``parse_policy``,
``T`` NUL-separated TXT strings for ``parse_txt``, ``M`` ``pattern NUL host`` for
``mx_matches``; other octets pick one of the three by their value.

The module documents that nothing in it raises on bad input (checklist L4): invalid input
is an ``StsError``, that is no policy. Invariants:

1. No exception escapes; the results are of the documented types.
2. A parsed policy is well formed (mode, ``max_age`` within 0..31557600, ``mx`` present
   unless the mode is ``none``, patterns lower case without a trailing dot), and its
   canonical text (``StsPolicy.text``) and stored form (``to_dict``/``from_dict``) read back
   as the same policy.
3. Every exact ``mx`` pattern allows its own host name, a wildcard one exactly one extra
   leftmost label; matching ignores ASCII case.
4. A TXT record's id is 1-32 letters and digits.

Run: ``python fuzz/mta_sts.py fuzz/corpus/mta_sts -dict=fuzz/mta_sts.dict``.
"""

from __future__ import annotations

import re
import sys

import atheris

with atheris.instrument_imports(include=["sealpost"]):
    from sealpost.policy.mta_sts import (
        MAX_AGE_LIMIT,
        StsError,
        StsMode,
        StsPolicy,
        StsRecord,
        mx_matches,
        parse_policy,
        parse_txt,
    )

_ID = re.compile(r"[A-Za-z0-9]{1,32}")


def check_policy(text: str) -> None:
    result = parse_policy(text)
    if isinstance(result, StsError):
        return
    assert isinstance(result, StsPolicy), result
    assert isinstance(result.mode, StsMode)
    assert 0 <= result.max_age <= MAX_AGE_LIMIT, result
    assert result.mode is StsMode.NONE or result.mx, result
    for pattern in result.mx:
        assert pattern == pattern.lower() and not pattern.endswith("."), result
        host = "mail" + pattern[1:] if pattern.startswith("*.") else pattern
        assert result.mx_allowed(host), (pattern, host)
        assert mx_matches(pattern, host.upper() + "."), (pattern, host)
        if pattern.startswith("*."):
            assert not mx_matches(pattern, pattern[2:]), pattern
            assert not mx_matches(pattern, "a." + host), pattern
    assert parse_policy(result.text()) == result, (result, result.text())
    assert StsPolicy.from_dict(result.to_dict()) == result, result


def check_txt(text: str) -> None:
    result = parse_txt(text.split("\0"))
    if isinstance(result, StsError):
        return
    assert isinstance(result, StsRecord), result
    assert _ID.fullmatch(result.id), result


def check_match(text: str) -> None:
    pattern, _, host = text.partition("\0")
    matched = mx_matches(pattern, host)
    assert isinstance(matched, bool)
    if pattern.isascii() and host.isascii():
        assert mx_matches(pattern.swapcase(), host.swapcase()) == matched, (pattern, host)


CHECKS = {ord("P"): check_policy, ord("T"): check_txt, ord("M"): check_match}


def test_one_input(data: bytes) -> None:
    if not data:
        return
    check = CHECKS.get(data[0]) or (check_policy, check_txt, check_match)[data[0] % 3]
    check(data[1:].decode("utf-8", "surrogateescape"))


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
