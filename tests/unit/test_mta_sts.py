"""MTA-STS parsing (RFC 8461 sections 3.1, 3.2) and MX patterns (section 4.1): golden tables,
including the Snawoot postfix-mta-sts-resolver bad-record and bad-policy cases (checklist C2,
C3)."""

from __future__ import annotations

import json

import pytest

from sealpost.model.tlsrpt import TlsFailure
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
from sealpost.policy.sts_cache import CachedPolicy, MemoryStsCache

GOOD = "version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: 86400"


# -- TXT records (section 3.1) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "policy_id"),
    [
        (["v=STSv1; id=20160831085700Z;"], "20160831085700Z"),
        (["v=STSv1;id=20180907T090909;"], "20180907T090909"),
        (["v=STSv1; id=abc"], "abc"),
        (["v=STSv1 ; id=abc ;  "], "abc"),  # *WSP ";" *WSP
        (["v=STSv1;\tid=abc"], "abc"),
        (["v=STSv1; id=" + "a" * 32], "a" * 32),
        (["v=STSv1; id=abc; ext=value-with:colons"], "abc"),  # extensions are ignored
        (["v=STSv1; ext_1.x-y=1; id=abc"], "abc"),
        (["v=STSv1; id=first; id=second"], "first"),  # a repeated field: the first counts
        (["v=spf1 -all", "v=STSv1; id=abc", "something else"], "abc"),  # others discarded
        (["v=STSv12; id=zzz", "v=STSv1; id=abc"], "abc"),  # STSv12 is not STSv1
    ],
)
def test_valid_txt_records(records: list[str], policy_id: str) -> None:
    result = parse_txt(records)
    assert isinstance(result, StsRecord), result
    assert result.id == policy_id


def test_txt_extensions_are_kept() -> None:
    result = parse_txt(["v=STSv1; id=1; foo=bar"])
    assert result == StsRecord(id="1", extensions=(("foo", "bar"),))


@pytest.mark.parametrize(
    ("records", "why"),
    [
        (["v=STSv1; id=1", "v=STSv1; id=2"], "2 v=STSv1"),  # two records
        (["v=STSv1; id=1", "v=STSv1; id=1"], "2 v=STSv1"),  # even identical ones
        (["id=20180907T090909; v=STSv1;"], "no v=STSv1"),  # Snawoot bad-record1
        (["azazaza;asdasdasdasd"], "no v=STSv1"),  # bad-record2
        (["v=STSv12;id=20180907T090909;"], "no v=STSv1"),  # bad-record3
        (["v=STSv1"], "no id"),
        (["v=STSv1;"], "no id"),
        (["v=STSv1; id="], "bad id"),
        (["v=STSv1; id=" + "a" * 33], "bad id"),
        (["v=STSv1; id=abc-def"], "bad id"),
        (["v=STSv1; id=ab c"], "bad id"),
        (["v=STSv1 id=abc"], "no ';'"),
        (["v=STSv1;; id=abc"], "malformed field"),
        (["v=STSv1; id=abc; junk"], "malformed field"),
        (["v=STSv1; id=abc; x=a b"], "malformed field"),
        (["v=STSv1; id=abc; x=a=b"], "malformed field"),
        (["v=STSv1; ID=abc"], "no id"),  # field names are case-sensitive
        (["V=STSv1; id=abc"], "no v=STSv1"),
        ([], "no v=STSv1"),
    ],
)
def test_invalid_txt_records(records: list[str], why: str) -> None:
    result = parse_txt(records)
    assert isinstance(result, StsError), result
    assert result.failure is TlsFailure.STS_POLICY_INVALID
    assert why in result.detail
    assert result.absent is (why == "no v=STSv1")


# -- policy files (section 3.2) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD, StsPolicy(StsMode.ENFORCE, 86400, ("mail.loc",))),
        (GOOD.replace("\n", "\r\n") + "\r\n", StsPolicy(StsMode.ENFORCE, 86400, ("mail.loc",))),
        (
            "version: STSv1\nmode: testing\nmax_age: 86400\nmx: mail.loc\n",  # Snawoot testing
            StsPolicy(StsMode.TESTING, 86400, ("mail.loc",)),
        ),
        (
            "version: STSv1\nmode: none\nmax_age: 86400",  # valid-none: no mx needed
            StsPolicy(StsMode.NONE, 86400, ()),
        ),
        (
            # RFC 8461 section 3.2 example; patterns lower-cased, trailing dot dropped
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
            "mx: *.Example.NET.\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
            StsPolicy(
                StsMode.ENFORCE,
                604800,
                ("mail.example.com", "*.example.net", "backupmx.example.com"),
            ),
        ),
        # fields in any order, tabs and spaces after the colon, trailing blanks, blank lines
        (
            "max_age:\t0  \nmx:mx.a.test\n\nmode:   enforce\nversion: STSv1\n\n",
            StsPolicy(StsMode.ENFORCE, 0, ("mx.a.test",)),
        ),
        # unknown fields (with any visible characters, UTF-8 too) are ignored
        (
            GOOD + "\nfoo: bar; baz=1\nx-ext_1.2: é ü\n",
            StsPolicy(StsMode.ENFORCE, 86400, ("mail.loc",)),
        ),
        # repeated fields other than mx: the first counts
        (
            "version: STSv1\nmode: enforce\nmode: none\nmx: a.test\nmax_age: 5\nmax_age: x\n",
            StsPolicy(StsMode.ENFORCE, 5, ("a.test",)),
        ),
        ("version: STSv1\nversion: STSv2\nmode: none\nmax_age: 1", StsPolicy(StsMode.NONE, 1)),
        # repeated mx values are kept once
        (GOOD + "\nmx: MAIL.loc", StsPolicy(StsMode.ENFORCE, 86400, ("mail.loc",))),
        (
            f"version: STSv1\nmode: none\nmax_age: {MAX_AGE_LIMIT}",
            StsPolicy(StsMode.NONE, MAX_AGE_LIMIT),
        ),
        ("\ufeff" + GOOD, StsPolicy(StsMode.ENFORCE, 86400, ("mail.loc",))),
    ],
)
def test_valid_policies(text: str, expected: StsPolicy) -> None:
    assert parse_policy(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("garbage", "not a 'key: value'"),  # Snawoot bad-policy1
        ("version: STSv1\nmode: enforce\nmax_age: 86400", "without an mx"),  # bad-policy2
        ("version: STSv1\nmode: testing\nmax_age: 86400", "without an mx"),
        ("version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: xxx", "bad max_age"),  # 5
        ("version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: 31557601", "bad max_age"),  # 6
        ("version: STSv1\nmx: mail.loc\nmax_age: 86400", "no mode"),  # bad-policy7
        ("version: STSv1\nmode: doubt\nmx: mail.loc\nmax_age: 86400", "unknown mode"),  # 8
        ("", "no version"),
        ("\n\n", "no version"),
        ("mode: enforce\nmx: mail.loc\nmax_age: 86400", "no version"),
        ("version: STSv2\nmode: enforce\nmx: mail.loc\nmax_age: 86400", "unsupported version"),
        ("version: stsv1\nmode: enforce\nmx: mail.loc\nmax_age: 86400", "unsupported version"),
        ("Version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: 86400", "no version"),
        ("version: STSv1\nmode: Enforce\nmx: mail.loc\nmax_age: 86400", "unknown mode"),
        ("version: STSv1\nmode: enforce\nmx: mail.loc", "no max_age"),
        ("version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: -1", "bad max_age"),
        ("version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: 1e5", "bad max_age"),
        ("version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: 12345678901", "bad max_age"),
        ("version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: \u0661\u0662", "bad max_age"),
        (GOOD + "\nmx: *", "bad mx"),
        (GOOD + "\nmx: *.", "bad mx"),
        (GOOD + "\nmx: a.*.loc", "bad mx"),
        (GOOD + "\nmx: mail_1.loc", "bad mx"),
        (GOOD + "\nmx: -mail.loc", "bad mx"),
        (GOOD + "\nmx: mail..loc", "bad mx"),
        (GOOD + "\nmx: mail.loc mx2.loc", "bad mx"),
        (GOOD + "\nmx: ma\u00efl.loc", "bad mx"),
        (GOOD + "\nmx: " + "a" * 64 + ".loc", "bad mx"),
        (GOOD + "\nmx:", "not a 'key: value'"),
        (GOOD + "\n version: STSv1", "not a 'key: value'"),  # no leading blanks
        (GOOD + "\nversion : STSv1", "not a 'key: value'"),
        (GOOD + "\n# comment", "not a 'key: value'"),
        (GOOD + "\n" + "k" * 33 + ": v", "not a 'key: value'"),
        (GOOD + "\nfoo: a\tb", "tab inside"),
        (GOOD + "\nfoo: a\x00b", "control character"),
        (GOOD + "\rmx: other.loc", "control character"),  # a lone CR is no line end
        ("version: STSv1\r\r\nmode: none\nmax_age: 1", "control character"),
    ],
)
def test_invalid_policies(text: str, why: str) -> None:
    result = parse_policy(text)
    assert isinstance(result, StsError), result
    assert result.failure is TlsFailure.STS_POLICY_INVALID
    assert why in result.detail


def test_policy_text_round_trips() -> None:
    policy = parse_policy(GOOD + "\nmx: *.backup.loc")
    assert isinstance(policy, StsPolicy)
    assert parse_policy(policy.text()) == policy
    assert policy.text().startswith("version: STSv1\r\nmode: enforce\r\n")


# -- MX patterns (section 4.1, checklist C2) ------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("mail.example.com", "mail.example.com", True),
        ("mail.example.com", "MAIL.Example.COM", True),
        ("mail.example.com.", "mail.example.com", True),
        ("mail.example.com", "mail.example.com.", True),
        ("mail.example.com", "other.example.com", False),
        ("mail.example.com", "mail.example.com.evil.test", False),
        ("mail.example.com", "xmail.example.com", False),
        ("*.example.com", "mail.example.com", True),
        ("*.example.com", "MX1.EXAMPLE.COM.", True),
        ("*.Example.Com", "mx1.example.com", True),
        ("*.example.com", "example.com", False),  # the wildcard is exactly one label
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", ".example.com", False),
        ("*.example.com", "mailexample.com", False),
        ("*.example.com", "mail.example.com.evil.test", False),
        ("*.example.com", "*.example.com", False),
        ("*", "example.com", False),
        ("*.", "example.com", False),
        ("a.*.example.com", "a.b.example.com", False),
        ("", "", False),
        ("mail.example.com", "", False),
        ("*.bücher.example", "mx.xn--bcher-kva.example", True),  # A-labels compared
        ("mx.xn--bcher-kva.example", "mx.bücher.example", True),
    ],
)
def test_mx_patterns(pattern: str, host: str, matches: bool) -> None:
    assert mx_matches(pattern, host) is matches


def test_policy_mx_allowed() -> None:
    policy = StsPolicy(StsMode.ENFORCE, 60, ("mx1.example.com", "*.backup.example.com"))
    allowed = [
        h
        for h in (
            "mx1.example.com",
            "mx2.example.com",
            "b.backup.example.com",
            "backup.example.com",
        )
        if policy.mx_allowed(h)
    ]
    assert allowed == ["mx1.example.com", "b.backup.example.com"]


# -- cache values -------------------------------------------------------------------------


def test_cached_policy_is_json_serialisable() -> None:
    cached = CachedPolicy(StsPolicy(StsMode.TESTING, 600, ("*.a.test",)), "id1", 100.0, 700.0)
    text = json.dumps(cached.to_dict())
    assert CachedPolicy.from_dict(json.loads(text)) == cached
    assert cached.fresh(699.9) and not cached.fresh(700.0)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"policy": {}, "policy_id": "x", "fetched_at": 0, "expires_at": 1},
        {
            "policy": {"mode": "bogus", "max_age": 1, "mx": []},
            "policy_id": "x",
            "fetched_at": 0,
            "expires_at": 1,
        },
        {
            "policy": {"mode": "enforce", "max_age": 1, "mx": []},
            "policy_id": "x",
            "fetched_at": 0,
            "expires_at": 1,
        },
        {
            "policy": {"mode": "none", "max_age": "1", "mx": []},
            "policy_id": "x",
            "fetched_at": 0,
            "expires_at": 1,
        },
        {
            "policy": {"mode": "none", "max_age": 1, "mx": ["bad pattern"]},
            "policy_id": "x",
            "fetched_at": 0,
            "expires_at": 1,
        },
        {
            "policy": {"mode": "none", "max_age": 1, "mx": []},
            "policy_id": "",
            "fetched_at": 0,
            "expires_at": 1,
        },
        {
            "policy": {"mode": "none", "max_age": 1, "mx": []},
            "policy_id": "x",
            "fetched_at": "soon",
            "expires_at": 1,
        },
    ],
)
def test_cached_policy_from_bad_data_is_a_value_error(data: dict) -> None:
    with pytest.raises(ValueError):
        CachedPolicy.from_dict(data)


def test_memory_cache_normalises_domains() -> None:
    import asyncio

    cache = MemoryStsCache()
    cached = CachedPolicy(StsPolicy(StsMode.NONE, 1), "a", 0.0, 1.0)

    async def scenario() -> CachedPolicy | None:
        await cache.put("Example.TEST.", cached)
        return await cache.get("example.test")

    assert asyncio.run(scenario()) == cached
    assert len(cache) == 1
