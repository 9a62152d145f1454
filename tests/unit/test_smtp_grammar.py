"""Command-line grammar (RFC 5321 4.1.1, 4.1.2; RFC 6531): values and parse errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpost.smtp.grammar import (
    Command,
    Fault,
    Mailbox,
    MailCommand,
    Param,
    ParseError,
    RcptCommand,
    format_path,
    parse_helo,
    parse_mail,
    parse_params,
    parse_rcpt,
    split_command,
)


@pytest.mark.parametrize(
    ("line", "verb", "argument"),
    [
        ("EHLO client.test", "EHLO", "client.test"),
        ("ehlo client.test", "EHLO", "client.test"),
        ("MaIl FROM:<a@b.test>", "MAIL", "FROM:<a@b.test>"),
        ("QUIT", "QUIT", ""),
        ("RSET   ", "RSET", ""),
        ("NOOP  hello there", "NOOP", "hello there"),
        ("X-FOO bar", "X-FOO", "bar"),
        ("", "", ""),
    ],
)
def test_split_command(line: str, verb: str, argument: str):
    assert split_command(line) == Command(verb, argument)


@pytest.mark.parametrize(
    "name",
    [
        "client.test",
        "localhost",
        "a-b.c-d.test",
        "[192.0.2.1]",
        "[IPv6:2001:db8::1]",
        "win_host.corp",
        "example.test.",
    ],
)
def test_helo_accepts_domains_and_address_literals(name: str):
    assert parse_helo(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a b",
        "-bad.test",
        "bad-.test",
        "a..b",
        "[300.1.1.1]",
        "[IPv6:zz::1]",
        "[fe80::1%eth0]",
        "[tag:stuff]",
        "me.example XCLIENT ADDR=1.2.3.4",
        "a@b",
    ],
)
def test_helo_rejects_garbage(name: str):
    assert isinstance(parse_helo(name), ParseError)


def test_mail_null_sender_and_params():
    assert parse_mail("FROM:<>") == MailCommand(None, ())
    assert parse_mail("FROM:<> SIZE=100 BODY=8BITMIME") == MailCommand(
        None, (Param("SIZE", "100"), Param("BODY", "8BITMIME"))
    )


def test_mail_tolerates_space_after_colon_and_case():
    expected = MailCommand(Mailbox("a", "b.test"), ())
    assert parse_mail("FROM: <a@b.test>") == expected
    assert parse_mail("from:<a@b.test>") == expected
    assert parse_mail("From:  <a@b.test>  size=1").params == (Param("SIZE", "1"),)


@pytest.mark.parametrize(
    ("argument", "fault"),
    [
        ("", Fault.BAD_KEYWORD),
        ("TO:<a@b.test>", Fault.BAD_KEYWORD),
        ("FROM:a@b.test", Fault.BAD_PATH),
        ("FROM:<a@b.test", Fault.BAD_PATH),
        ("FROM:<a@b.test>garbage", Fault.BAD_PATH),
        ("FROM:<a@b.test> =x", Fault.BAD_PARAMETER),
        ("FROM:<a@b.test> SIZE=", Fault.BAD_PARAMETER),
        ("FROM:<a b@c.test>", Fault.BAD_PATH),
        ("FROM:<a@remote.>", Fault.BAD_PATH),
        ("FROM:<a@-remote.test>", Fault.BAD_PATH),
        ("FROM:<.a@b.test>", Fault.BAD_PATH),
        ("FROM:<a..b@b.test>", Fault.BAD_PATH),
        ("FROM:<a@[192.0.2.300]>", Fault.BAD_DOMAIN),
        ("FROM:<a@" + "x" * 64 + ".test>", Fault.BAD_DOMAIN),
        ("FROM:<üser@b.test>", Fault.NEEDS_SMTPUTF8),
        ("FROM:<a@b.test> X=ü", Fault.NON_ASCII),
        ("FROM:<a\u2028b@b.test> SMTPUTF8", Fault.BAD_PATH),
        ("FROM:<a@b.test> X=\u00a0 SMTPUTF8", Fault.BAD_PARAMETER),
    ],
)
def test_mail_errors(argument: str, fault: Fault):
    result = parse_mail(argument)
    assert isinstance(result, ParseError), result
    assert result.fault is fault


def test_mail_utf8_with_smtputf8():
    result = parse_mail("FROM:<üser@bücher.test> SMTPUTF8")
    assert result == MailCommand(Mailbox("üser", "bücher.test"), (Param("SMTPUTF8", None),))


def test_source_route_is_dropped():
    result = parse_rcpt("TO:<@relay.test,@other.test:user@final.test>", smtputf8=False)
    assert result == RcptCommand(Mailbox("user", "final.test"), ())


def test_quoted_local_part():
    result = parse_rcpt('TO:<"john doe>\\"x"@example.test>', smtputf8=False)
    assert isinstance(result, RcptCommand)
    assert result.recipient.quoted
    assert result.recipient.local_text == 'john doe>"x'
    assert str(result.recipient) == '"john doe>\\"x"@example.test'


def test_address_literals():
    v4 = parse_rcpt("TO:<a@[192.0.2.1]>", smtputf8=False)
    v6 = parse_rcpt("TO:<a@[IPv6:2001:db8::1]>", smtputf8=False)
    assert isinstance(v4, RcptCommand) and v4.recipient.literal
    assert isinstance(v6, RcptCommand) and v6.recipient.domain == "[IPv6:2001:db8::1]"


def test_postmaster_without_domain():
    result = parse_rcpt("TO:<PostMaster>", smtputf8=False)
    assert result == RcptCommand(Mailbox("Postmaster", ""), ())


def test_rcpt_utf8_only_when_declared():
    assert parse_rcpt("TO:<ü@b.test>", smtputf8=False) == ParseError(
        Fault.NEEDS_SMTPUTF8, "ü@b.test"
    )
    assert isinstance(parse_rcpt("TO:<ü@b.test>", smtputf8=True), RcptCommand)


def test_rcpt_params_parsed():
    result = parse_rcpt("TO:<a@b.test> NOTIFY=NEVER ORCPT=rfc822;a@b.test", smtputf8=False)
    assert isinstance(result, RcptCommand)
    assert [p.keyword for p in result.params] == ["NOTIFY", "ORCPT"]


def test_params_grammar():
    assert parse_params("") == ()
    assert parse_params(" A=1  b-c") == (Param("A", "1"), Param("B-C", None))
    assert isinstance(parse_params("x"), ParseError)
    assert isinstance(parse_params(" -A=1"), ParseError)
    assert isinstance(parse_params(" A=\tB"), ParseError)


def test_normalized_lowercases_only_the_domain():
    assert Mailbox("John", "Example.TEST").normalized == "John@example.test"
    assert format_path(None) == "<>"
    assert format_path(Mailbox("a", "b.test")) == "<a@b.test>"


# -- property: format -> parse round trip (checklist L2) ----------------------------------

_ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
atom = st.text(alphabet=_ATEXT, min_size=1, max_size=8)
dot_string = st.lists(atom, min_size=1, max_size=3).map(".".join)
qchar = st.sampled_from([chr(c) for c in range(32, 127)])
quoted = st.lists(qchar, max_size=10).map(
    lambda cs: '"' + "".join("\\" + c if c in '"\\' else c for c in cs) + '"'
)
label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
domain = st.lists(label, min_size=1, max_size=4).map(".".join)
literal = st.ip_addresses(v=4).map(lambda ip: f"[{ip}]") | st.ip_addresses(v=6).map(
    lambda ip: f"[IPv6:{ip}]"
)
mailboxes = st.builds(Mailbox, dot_string | quoted, domain | literal)
routes = st.lists(domain, max_size=3).map(lambda ds: ",".join("@" + d for d in ds))


@given(mailboxes, routes)
def test_address_round_trip(mailbox: Mailbox, route: str):
    path = format_path(mailbox)
    if route:
        path = f"<{route}:{mailbox!s}>"
    parsed = parse_rcpt(f"TO:{path}", smtputf8=False)
    assert isinstance(parsed, RcptCommand), (path, parsed)
    assert parsed.recipient == mailbox
    again = parse_mail(f"FROM:{format_path(parsed.recipient)}")
    assert isinstance(again, MailCommand)
    assert again.sender == mailbox


@given(st.text(max_size=60))
def test_parsers_never_raise(text: str):
    for result in (
        parse_mail(text),
        parse_rcpt(text, smtputf8=True),
        parse_rcpt(text, smtputf8=False),
        parse_helo(text),
        split_command(text),
    ):
        assert result is not None
