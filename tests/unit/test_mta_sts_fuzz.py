"""Property tests of the MTA-STS parsers (checklist L4): any input gives a value, never an
exception; invalid input means "no policy"; valid policies survive generation and parsing."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

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

FUZZ = settings(max_examples=400, deadline=None)

label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
domain = st.lists(label, min_size=1, max_size=4).map(".".join)
pattern = st.one_of(domain, domain.map(lambda d: "*." + d))

# Pieces that make near-valid inputs likelier than pure noise would.
policy_token = st.sampled_from(
    [
        "version: STSv1",
        "mode: enforce",
        "mode: testing",
        "mode: none",
        "max_age: 86400",
        "max_age: 31557601",
        "mx: mail.example.com",
        "mx: *.example.com",
        "mx: *",
        "foo: bar",
        ":",
        "",
        " ",
        "\t",
        "\r",
        "\x00",
        "\ufeff",
        "é",
        "\u2028",
    ]
)
policy_text = st.one_of(
    st.text(),
    st.lists(st.one_of(policy_token, st.text(max_size=12)), max_size=12).flatmap(
        lambda parts: st.sampled_from(["\n", "\r\n", "\r"]).map(lambda sep: sep.join(parts))
    ),
)
txt_token = st.sampled_from(
    ["v=STSv1", "id=abc", "id=", "ext=1", ";", " ", "\t", "=", "v=STSv12", "id=" + "x" * 33]
)
txt_record = st.one_of(st.text(), st.lists(txt_token, max_size=8).map("".join))


@FUZZ
@given(policy_text)
@example("version: STSv1\nmode: enforce\nmx: \udcff\nmax_age: 1")
def test_parse_policy_never_raises(text: str) -> None:
    result = parse_policy(text)
    assert isinstance(result, (StsPolicy, StsError))
    if isinstance(result, StsError):
        assert result.failure is TlsFailure.STS_POLICY_INVALID
    else:
        assert 0 <= result.max_age <= MAX_AGE_LIMIT
        assert result.mode is StsMode.NONE or result.mx


@FUZZ
@given(st.lists(txt_record, max_size=4))
def test_parse_txt_never_raises(records: list[str]) -> None:
    result = parse_txt(records)
    assert isinstance(result, (StsRecord, StsError))
    if isinstance(result, StsRecord):
        assert 1 <= len(result.id) <= 32 and result.id.isascii() and result.id.isalnum()


@FUZZ
@given(st.text(), st.text())
@example("*.\udcff", "a.\udcff")
@example("*.xn--", "a.xn--")
def test_mx_matches_never_raises(pattern_text: str, host: str) -> None:
    assert mx_matches(pattern_text, host) in (True, False)


@FUZZ
@given(
    st.sampled_from(StsMode),
    st.integers(0, MAX_AGE_LIMIT),
    st.lists(pattern, min_size=1, max_size=5, unique=True),
    st.sampled_from(["\n", "\r\n"]),
    st.permutations(range(4)),
)
def test_generated_policies_parse(
    mode: StsMode, max_age: int, patterns: list[str], newline: str, order: list[int]
) -> None:
    fields = [
        ["version: STSv1"],
        [f"mode: {mode.value}"],
        [f"max_age: {max_age}"],
        [f"mx: {p}" for p in patterns],
    ]
    text = newline.join(line for i in order for line in fields[i]) + newline
    assert parse_policy(text) == StsPolicy(mode, max_age, tuple(patterns))


@FUZZ
@given(pattern, label, domain)
def test_wildcard_matches_exactly_one_label(wild: str, extra: str, other: str) -> None:
    if not wild.startswith("*."):
        assert mx_matches(wild, wild.upper() + ".")
        return
    base = wild[2:]
    assert mx_matches(wild, f"{extra}.{base}")
    assert not mx_matches(wild, base)
    assert not mx_matches(wild, f"{extra}.{extra}.{base}")
    if not other.endswith(base):
        assert not mx_matches(wild, f"{extra}.{other}")
