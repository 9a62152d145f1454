"""The message builder (sealpost.compose): header safety as properties (checklist L3, I1,
I2, I4), encodings, addresses, substitution and email_rfc822 normalisation."""

from __future__ import annotations

import email
import email.policy
from email.parser import BytesHeaderParser
from email.policy import compat32

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpost.compose import inline, rfc822
from sealpost.compose.addresses import (
    BadAddress,
    Mailbox,
    address_list,
    check_address,
    parse_mailbox,
)
from sealpost.compose.header_encoding import encoded_words, fold, parameter
from sealpost.compose.refusal import LINE_BREAKS, Refused, has_forbidden
from sealpost.compose.substitution import merged, render

NOW = 1_760_000_000.0
BASE_HEADERS = {"from", "to", "subject", "date", "message-id", "mime-version", "content-type"}
BASE_HEADERS |= {"content-transfer-encoding"}
nasty = st.text(
    alphabet=st.one_of(
        st.sampled_from([*sorted(LINE_BREAKS), ":", " ", "\t", "é", "="]), st.characters()
    ),
    max_size=120,
)


def make(**fields: object) -> inline.InlineContent:
    values: dict = {"sender": Mailbox("o@shop.test", "Shop"), "subject": "Hi", "text": "t"}
    values.update(fields)
    return inline.InlineContent(**values)


def build(content: inline.InlineContent, to: inline.Addressee | None = None, data=None) -> bytes:
    inline.validate(content)
    rcpt = to or inline.Addressee("ann@example.net", "Ann")
    return inline.build(content, rcpt, data or {}, hostname="mx.test", now=NOW).data


def header_names(data: bytes) -> list[str]:
    """Header names as a strict RFC 5322 reader sees them, and as Python's parser (which
    splits on every str.splitlines() break) sees them: both must agree."""
    head = data.split(b"\r\n\r\n", 1)[0]
    strict = [line.split(b":", 1)[0].decode().lower() for line in head.split(b"\r\n")]
    strict = [
        n for n, line in zip(strict, head.split(b"\r\n"), strict=True) if line[:1] not in b" \t"
    ]
    python = [k.lower() for k in BytesHeaderParser(policy=compat32).parsebytes(head + b"\r\n\r\n")]
    assert strict == python, (strict, python)
    return strict


def assert_clean(data: bytes) -> None:
    assert b"\r" not in data.replace(b"\r\n", b"") and b"\n" not in data.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


clean = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cs"), exclude_characters=LINE_BREAKS),
    max_size=120,
)
ascii_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=127), max_size=80)
FIELDS = ("subject", "name", "value", "display", "header_to", "header_to_list", "reply_to", "cc")


@settings(max_examples=400, deadline=None)
@given(field=st.sampled_from(FIELDS), text=st.one_of(clean, nasty, ascii_text))
def test_no_input_ever_adds_a_header_line(field, text):
    given_ = {"subject": "Hi", "name": "X-Custom", "value": "v", "display": "Ann"}
    given_ |= {"header_to": None, "reply_to": "r@shop.test", "cc": "c@x.test"}
    given_[field] = text
    if field == "header_to_list":
        given_["header_to"] = f"{text} <p@x.test>, q@x.test"
    content = make(
        subject=given_["subject"],
        headers=((given_["name"], given_["value"]), ("Cc", given_["cc"])),
        sender=Mailbox("o@shop.test", given_["display"]),
        reply_to=given_["reply_to"],
    )
    to = inline.Addressee("ann@example.net", given_["display"], given_["header_to"] or None)
    try:
        data = build(content, to)
    except Refused:
        return
    assert_clean(data)
    names = header_names(data)
    assert set(names) == BASE_HEADERS | {given_["name"].lower(), "cc", "reply-to"}
    assert len(names) == len(BASE_HEADERS) + 3


@settings(max_examples=200, deadline=None)
@given(subject=st.text(max_size=300).filter(lambda s: not any(c in LINE_BREAKS for c in s)))
def test_subjects_round_trip_or_are_refused(subject):
    try:
        data = build(make(subject=subject))
    except Refused:
        assert has_forbidden(subject)
        return
    assert_clean(data)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert " ".join(str(parsed["Subject"]).split()) == " ".join(subject.split())


@given(st.text(max_size=400))
def test_substitution_data_cannot_add_headers(value):
    content = make(subject="S {{v}}", headers=(("X-V", "{{{v}}}"),), reply_to="r@shop.test")
    try:
        data = build(content, data={"v": value})
    except Refused:
        assert has_forbidden(value)
        return
    assert_clean(data)
    assert len(header_names(data)) == len(BASE_HEADERS) + 2


@pytest.mark.parametrize("brk", sorted(LINE_BREAKS))
def test_each_line_break_is_refused_naming_the_field(brk):
    cases = [
        (make(subject=f"a{brk}Bcc: x@y"), "content.subject"),
        (make(headers=(("X-A", f"a{brk}b"),)), "content.headers.X-A"),
        (make(headers=((f"X{brk}B", "v"),)), "content.headers.X"),
        (make(reply_to=f"r@shop.test{brk}"), "content.reply_to"),
    ]
    for content, field in cases:
        with pytest.raises(Refused) as caught:
            build(content)
        assert caught.value.field.startswith(field)


def test_reserved_headers_are_refused_and_x_msys_api_dropped():
    for name in ("Content-Type", "to", "SUBJECT", "From", "Reply-To", "MIME-Version"):
        with pytest.raises(Refused):
            build(make(headers=((name, "x"),)))
    data = build(make(headers=(("X-MSYS-API", '{"campaign_id": "x"}'),)))
    assert b"X-MSYS-API" not in data


def test_folding_keeps_the_value_and_the_limits():
    value = " ".join(["word"] * 300)
    folded = fold("X-Long", value)
    assert all(len(line) <= 78 for line in folded.split("\r\n"))
    assert folded.replace("\r\n", "") == f"X-Long: {value}"
    long_word = "x" * 2000
    data = build(make(subject=long_word, headers=(("X-Id", long_word),)))
    assert_clean(data)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Subject"] == long_word and parsed["X-Id"] == long_word


def test_encoded_words_and_rfc2231_parameters_round_trip():
    text = "Grüße ✓ " * 20 + "\U0001f600"
    words = encoded_words(text)
    assert all(len(w) <= 75 for w in words.split(" "))
    msg = email.message_from_string(f"Subject: {words}\n\n", policy=email.policy.default)
    assert msg["Subject"] == text
    for name in ['a "quoted" name.pdf', "../../etc/passwd", "ü" * 200, "plain.txt", "a;b=c"]:
        params = ";\r\n ".join(parameter("filename", name))
        head = f"Content-Disposition: attachment;\r\n {params}\r\n\r\n"
        assert all(len(line) <= 78 for line in head.split("\r\n"))
        parsed = email.message_from_string(head, policy=email.policy.default)
        assert parsed.get_filename() == name


def test_mime_structure_and_encodings():
    content = make(
        text="line\n" + "é" * 2000,
        html="<p>x</p>",
        amp_html="<p>amp</p>",
        attachments=(inline.Attachment("f.bin", "application/octet-stream", bytes(300)),),
        inline_images=(inline.Attachment("logo", "image/png", b"png"),),
    )
    data = build(content)
    assert_clean(data)
    assert data.split(b"\r\n\r\n", 1)[1].isascii(), "bodies are 7-bit (QP / base64)"
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/mixed"
    alternative, attached = msg.iter_parts()
    kinds = [p.get_content_type() for p in alternative.iter_parts()]
    assert kinds == ["text/plain", "text/x-amp-html", "multipart/related"]
    plain = next(alternative.iter_parts())
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert plain.get_content() == "line\r\n" + "é" * 2000 + "\r\n"
    assert attached.get_content() == bytes(300)


def test_single_part_and_images_without_html():
    data = build(make(text="only text"))
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg.get_content_type() == "text/plain" and msg.get_content() == "only text\r\n"
    images = (inline.Attachment("logo", "image/png", b"png"),)
    msg = email.message_from_bytes(build(make(inline_images=images)), policy=email.policy.default)
    assert msg.get_content_type() == "multipart/related"
    with pytest.raises(Refused):
        build(make(text=None, html=None))
    with pytest.raises(Refused):
        build(make(inline_images=images * 2))
    with pytest.raises(Refused):
        build(make(inline_images=(inline.Attachment("a<b>", "image/png", b""),)))


def test_to_header_rules():
    def to(rcpt: inline.Addressee) -> str:
        return inline.to_header(rcpt)

    assert to(inline.Addressee("a@x.test")) == "a@x.test"
    assert to(inline.Addressee("a@x.test", "Ann")) == "Ann <a@x.test>"
    assert to(inline.Addressee("a@x.test", "Ann", "b@x.test")) == "Ann <b@x.test>"
    verbatim = '"Prime " <p@x.test>, q@x.test'
    assert to(inline.Addressee("c@x.test", "Carbon", verbatim)) == verbatim
    assert to(inline.Addressee("a@x.test", "Ann, Smith")) == '"Ann, Smith" <a@x.test>'
    assert to(inline.Addressee("a@x.test", "Jörg")) == "=?utf-8?B?SsO2cmc=?= <a@x.test>"
    with pytest.raises(Refused):
        to(inline.Addressee("a@x.test", None, "b@x.test\r\nBcc: y@z"))


def test_addresses():
    assert check_address("f", "a.b+c@example.com") == "a.b+c@example.com"
    assert check_address("f", "jörg@exämple.de") == "jörg@exämple.de"
    for hard in ["a b@x.test", "a@x.test>", "<a@x.test", "a@x.test\r\n", "a@x.test NOTIFY=X"]:
        with pytest.raises(Refused) as caught:
            check_address("f", hard)
        assert not isinstance(caught.value, BadAddress)
    for soft in ["nope", "@x.test", "a@", "a..b@x.test", "a@-x.test", 'a"b@x.test', "a@x_y.test"]:
        with pytest.raises(BadAddress):
            check_address("f", soft)
    assert parse_mailbox("f", "Ann <a@x.test>") == Mailbox("a@x.test", "Ann")
    assert parse_mailbox("f", '"Smith, Ann" <a@x.test>') == Mailbox("a@x.test", "Smith, Ann")
    assert parse_mailbox("f", " a@x.test ") == Mailbox("a@x.test")
    with pytest.raises(Refused):
        parse_mailbox("f", "a@x.com> AUTH=<evil@y.test>")
    assert address_list("f", "A <a@x.test>,b@x.test") == "A <a@x.test>,b@x.test"
    assert address_list("f", "Jörg <j@x.test>") == "=?utf-8?B?SsO2cmc=?= <j@x.test>"


def test_substitution():
    data = merged({"a": "global", "b": {"c": 1, "d": [1, 2]}, "t": True}, {"a": "<mine>"})
    assert (
        render("{{a}} {{ a }} {{b.c}} {{b.d.1}} {{t}} {{nope}}", data) == "<mine> <mine> 1 2 true "
    )
    assert render("{{a}} {{{a}}}", data, escape_html=True) == "&lt;mine&gt; <mine>"
    assert render("{{b}}", data) == '{"c":1,"d":[1,2]}'
    assert render("{{if a}}x{{end}}", data) == "{{if a}}x{{end}}"
    assert render("no braces", {}) == "no braces"


def test_rfc822_normalisation_and_refusals():
    out = rfc822.normalise("From: A <a@x.test>\nSubject: s\r\rbody\rmore", hostname="h", now=NOW)
    assert out.sender == Mailbox("a@x.test")
    assert out.data.endswith(b"From: A <a@x.test>\r\nSubject: s\r\n\r\nbody\r\nmore\r\n")
    assert out.data.startswith(b"Date: ") and b"\r\nMessage-ID: <" in out.data
    kept = rfc822.normalise(
        "Date: x\r\nMessage-ID: <m@x>\r\nFrom: a@x.test\r\n\r\nb\r\n", hostname="h", now=NOW
    )
    assert kept.data == b"Date: x\r\nMessage-ID: <m@x>\r\nFrom: a@x.test\r\n\r\nb\r\n"
    bad = [
        "",
        " continuation first\n\nb",
        "From a@x.test Mon Jan 1\nFrom: a@x.test\n\nb",
        "From: a@x.test\nX: \x00\n\nb",
        "From: a@x.test\nX: a\u2028b\n\nb",
        "From: a@x.test\nContent-Type: multipart/mixed\n\nb",
        "From: nobody\n\nb",
        "From: a@x.test\nX: \ud800\n\nb",
    ]
    for text in bad:
        with pytest.raises(Refused):
            rfc822.normalise(text, hostname="h", now=NOW)


SINGLE = ("From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID")


@pytest.mark.parametrize("name", [*SINGLE, "In-Reply-To", "References"])
def test_rfc822_refuses_a_second_single_field(name: str):
    """RFC 5322 section 3.6: each of these at most once; the refusal names the header."""
    text = f"From: a@x.test\r\n{name}: <b@x.test>\r\n{name.lower()}:<c@x.test>\r\n\r\nb\r\n"
    if name == "From":
        text = "From: a@x.test\r\nfrom: c@x.test\r\n\r\nb\r\n"
    with pytest.raises(Refused) as refused:
        rfc822.normalise(text, hostname="h", now=NOW)
    assert refused.value.field == f"content.email_rfc822 ({name} header)"
    assert "more than one" in refused.value.reason


def test_rfc822_refuses_a_caller_dkim_signature_and_keeps_repeatable_fields():
    with pytest.raises(Refused) as refused:
        rfc822.normalise(
            "From: a@x.test\r\ndkim-signature: v=1; d=x.test\r\n\r\nb\r\n", hostname="h", now=NOW
        )
    assert refused.value.field == "content.email_rfc822 (DKIM-Signature header)"
    kept = "From: a@x.test\r\nReceived: a\r\nReceived: b\r\nKeywords: k\r\nKeywords: l\r\n\r\nb\r\n"
    assert rfc822.normalise(kept, hostname="h", now=NOW).data.count(b"Received:") == 2


def test_inline_custom_headers_may_not_repeat_or_sign():
    for headers in (
        (("Sender", "a@x.test"), ("sender", "b@x.test")),
        (("In-Reply-To", "<a@x>"), ("IN-REPLY-TO", "<b@x>")),
        (("DKIM-Signature", "v=1"),),
    ):
        with pytest.raises(Refused) as refused:
            inline.validate(make(headers=headers))
        assert refused.value.field == f"content.headers.{headers[-1][0]}"
    inline.validate(make(headers=(("X-Tag", "a"), ("x-tag", "b"), ("Sender", "s@x.test"))))


@pytest.mark.parametrize("where", ["sender", "recipient"])
def test_a_lone_surrogate_in_a_display_name_is_refused_not_a_crash(where):
    """JSON's "\\ud800" decodes to a lone surrogate no UTF-8 encoder can write; a display name
    that reaches the builder unchecked gave UnicodeEncodeError (a 500 through the API)."""
    name = "Ann \ud800"
    sender = Mailbox("o@shop.test", name if where == "sender" else "Ann")
    to = inline.Addressee("ann@example.net", name if where == "recipient" else None)
    with pytest.raises(Refused, match="name"):
        build(make(sender=sender), to)


@pytest.mark.parametrize(
    ("header", "sender"),
    [
        ("Jörg <jörg@bücher.test>", "jörg@bücher.test"),
        ("jörg@x.test", "jörg@x.test"),
        ("=?utf-8?q?J=C3=B6rg?= <j@x.test>", "j@x.test"),
    ],
)
def test_rfc822_utf8_from_is_the_sender_unchanged(header: str, sender: str):
    # found by fuzz/rfc822.py: compat32 turned each UTF-8 octet of the From header into
    # U+FFFD, so the envelope sender of a UTF-8 address was a different, mangled address
    out = rfc822.normalise(f"From: {header}\nSubject: ü\n\nbody\n", hostname="h", now=NOW)
    assert out.sender == Mailbox(sender)
