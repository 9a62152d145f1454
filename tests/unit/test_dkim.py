"""DKIM keys and signing: generated keys publish the right record, signatures verify.

Verification uses dkimpy's own ``verify()`` with a ``dnsfunc`` that answers from the records
``generate_key`` produced, so a signature that verifies here verifies for a receiver that
finds the printed record in DNS.
"""

from __future__ import annotations

import base64
from pathlib import Path

import dkim as dkimpy
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpost.dkim.keys import (
    DkimAlgorithm,
    DkimKey,
    DkimKeyError,
    dns_name,
    dns_record,
    dns_txt_value,
    generate_key,
    key_path,
    load_key,
    txt_strings,
)
from sealpost.dkim.signer import SIGNED_HEADERS, DkimSigner, from_domain, header_block

MESSAGE = (
    b"From: Ann Example <ann@example.com>\r\n"
    b"To: bob@example.net\r\n"
    b"Cc: carol@example.org\r\n"
    b"Subject: quarterly numbers\r\n"
    b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
    b"Message-ID: <m1@example.com>\r\n"
    b"Received: from somewhere by here\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hello Bob,\r\n\r\nthe numbers are fine.\r\n"
)


_ED_KEY = generate_key("ed25519")  # for the property tests (hypothesis and fixtures don't mix)


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[bytes, str]:
    return generate_key("rsa")


@pytest.fixture(scope="module")
def ed_pair() -> tuple[bytes, str]:
    return generate_key("ed25519")


class Dns:
    """A dnsfunc for dkimpy answering TXT queries from a dict."""

    def __init__(self) -> None:
        self.records: dict[str, str] = {}
        self.asked: list[str] = []

    def publish(self, domain: str, selector: str, txt: str) -> None:
        self.records[dns_name(domain, selector)] = txt

    def __call__(self, name: bytes, timeout: int = 5) -> bytes | None:
        self.asked.append(name.decode())
        txt = self.records.get(name.decode())
        return txt.encode() if txt is not None else None


def signatures(data: bytes) -> list[dict[bytes, bytes]]:
    d = dkimpy.DKIM(data)
    sigs = [v for k, v in d.headers if k.lower() == b"dkim-signature"]
    return [dkimpy.util.parse_tag_value(v) for v in sigs]


def verify(data: bytes, dns: Dns, idx: int = 0) -> bool:
    """dkimpy's verdict on signature ``idx`` (its errors, like a body hash mismatch, = False)."""
    try:
        return bool(dkimpy.DKIM(data).verify(idx=idx, dnsfunc=dns))
    except dkimpy.DKIMException:
        return False


@pytest.fixture
def both(rsa_pair: tuple[bytes, str], ed_pair: tuple[bytes, str]) -> tuple[DkimSigner, Dns]:
    dns = Dns()
    dns.publish("example.com", "rsa1", rsa_pair[1])
    dns.publish("example.com", "ed1", ed_pair[1])
    keys = [
        DkimKey("example.com", "ed1", ed_pair[0], DkimAlgorithm.ED25519_SHA256),
        DkimKey("example.com", "rsa1", rsa_pair[0], DkimAlgorithm.RSA_SHA256),
    ]
    return DkimSigner(keys), dns


# --- keys ----------------------------------------------------------------------------------


def test_generated_rsa_key_publishes_its_public_half(rsa_pair: tuple[bytes, str]) -> None:
    pem, txt = rsa_pair
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert txt.startswith("v=DKIM1; k=rsa; p=")
    public = serialization.load_der_public_key(base64.b64decode(txt.split("p=", 1)[1]))
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048
    assert dns_txt_value(pem) == txt


def test_generated_ed25519_key_is_the_raw_32_bytes(ed_pair: tuple[bytes, str]) -> None:
    pem, txt = ed_pair
    assert txt.startswith("v=DKIM1; k=ed25519; p=")
    assert len(base64.b64decode(txt.split("p=", 1)[1])) == 32  # RFC 8463 section 4
    assert dns_txt_value(pem) == txt


def test_rsa_keys_below_1024_bits_are_refused() -> None:
    with pytest.raises(DkimKeyError, match="1024"):
        generate_key("rsa", bits=512)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rsa", DkimAlgorithm.RSA_SHA256),
        ("RSA-SHA256", DkimAlgorithm.RSA_SHA256),
        ("ed25519", DkimAlgorithm.ED25519_SHA256),
        ("ed25519-sha256", DkimAlgorithm.ED25519_SHA256),
    ],
)
def test_algorithm_names(text: str, expected: DkimAlgorithm) -> None:
    assert DkimAlgorithm.parse(text) is expected


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(DkimKeyError, match="rsa or ed25519"):
        DkimAlgorithm.parse("rsa-sha1")


def test_dns_record_splits_long_values_into_255_character_strings(
    rsa_pair: tuple[bytes, str],
) -> None:
    txt = rsa_pair[1]
    record = dns_record("Example.COM.", "rsa1", txt)
    prefix = "rsa1._domainkey.example.com. IN TXT "
    assert record.startswith(prefix)
    parts = [p for p in record[len(prefix) :].split('"') if p.strip()]
    assert "".join(parts) == txt
    assert all(len(p) <= 255 for p in parts)
    assert len(parts) == 2  # a 2048-bit key needs two strings
    assert txt_strings(txt) == parts


def test_dns_record_of_a_short_value_is_one_string(ed_pair: tuple[bytes, str]) -> None:
    assert dns_record("example.com", "ed1", ed_pair[1]) == (
        f'ed1._domainkey.example.com. IN TXT "{ed_pair[1]}"'
    )


def test_dns_record_refuses_values_that_would_break_the_zone_line() -> None:
    with pytest.raises(DkimKeyError):
        dns_record("example.com", "s", 'v=DKIM1; p="x"\n')


@pytest.mark.parametrize("selector", ["../etc", "a/b", "", "-x", "a..b", "sel ector"])
def test_selectors_that_are_not_dns_labels_are_refused(selector: str, tmp_path: Path) -> None:
    with pytest.raises(DkimKeyError):
        key_path(tmp_path, "example.com", selector)


def test_key_path_layout(tmp_path: Path) -> None:
    assert key_path(tmp_path, "Example.com", "S1") == tmp_path / "dkim/example.com/s1.key"


def test_load_key_reads_pkcs8_and_pkcs1(tmp_path: Path, rsa_pair: tuple[bytes, str]) -> None:
    pkcs8 = tmp_path / "k8.pem"
    pkcs8.write_bytes(rsa_pair[0])
    key = load_key("example.com", "rsa1", pkcs8)
    assert key.algorithm is DkimAlgorithm.RSA_SHA256
    private = serialization.load_pem_private_key(rsa_pair[0], None)
    pkcs1 = tmp_path / "k1.pem"
    pkcs1.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    assert load_key("example.com", "rsa1", pkcs1).algorithm is DkimAlgorithm.RSA_SHA256


def test_load_key_detects_ed25519(tmp_path: Path, ed_pair: tuple[bytes, str]) -> None:
    path = tmp_path / "ed.pem"
    path.write_bytes(ed_pair[0])
    key = load_key("Example.com", "ED1", path)
    assert (key.domain, key.selector, key.algorithm) == (
        "example.com",
        "ed1",
        DkimAlgorithm.ED25519_SHA256,
    )


def test_load_key_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(DkimKeyError, match=r"missing\.pem"):
        load_key("example.com", "s", missing)
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a key")
    with pytest.raises(DkimKeyError, match=r"garbage\.pem"):
        load_key("example.com", "s", garbage)
    ec_file = tmp_path / "ec.pem"
    ec_file.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(DkimKeyError, match="RSA or Ed25519"):
        load_key("example.com", "s", ec_file)


def test_load_key_refuses_an_encrypted_key(tmp_path: Path, ed_pair: tuple[bytes, str]) -> None:
    private = serialization.load_pem_private_key(ed_pair[0], None)
    path = tmp_path / "enc.pem"
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(DkimKeyError, match="unencrypted"):
        load_key("example.com", "s", path)


def test_key_repr_never_shows_the_private_key(ed_pair: tuple[bytes, str]) -> None:
    key = DkimKey("example.com", "ed1", ed_pair[0], DkimAlgorithm.ED25519_SHA256)
    assert "PRIVATE" not in repr(key)
    assert "ed1" in repr(key)


# --- signing -------------------------------------------------------------------------------


def test_rsa_then_ed25519_signatures_both_verify(both: tuple[DkimSigner, Dns]) -> None:
    signer, dns = both
    signed = signer.sign(MESSAGE)
    assert signed.endswith(MESSAGE)
    sigs = signatures(signed)
    assert [s[b"a"] for s in sigs] == [b"rsa-sha256", b"ed25519-sha256"]
    assert all(s[b"c"] == b"relaxed/relaxed" and s[b"d"] == b"example.com" for s in sigs)
    assert verify(signed, dns, 0)
    assert verify(signed, dns, 1)
    assert dkimpy.verify(signed, dnsfunc=dns)  # the top signature, as most verifiers check
    assert set(dns.asked) == {"rsa1._domainkey.example.com.", "ed1._domainkey.example.com."}


def test_signed_headers_are_the_list_present_with_from_oversigned(
    both: tuple[DkimSigner, Dns],
) -> None:
    signer, _ = both
    h = signatures(signer.sign(MESSAGE))[0][b"h"]
    names = [name.strip().decode() for name in h.split(b":")]
    assert names == [
        "from",
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "from",
    ]
    assert "received" not in names
    assert set(names) <= set(SIGNED_HEADERS)


def test_a_second_from_header_breaks_the_signature(both: tuple[DkimSigner, Dns]) -> None:
    signer, dns = both
    signed = signer.sign(MESSAGE)
    forged = b"From: ceo@example.com\r\n" + signed
    assert not verify(forged, dns, 0)
    assert not verify(forged, dns, 1)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Subject: quarterly numbers", b"Subject: quarterly numbers (fixed)"),
        (b"the numbers are fine.", b"the numbers are bad."),
        (b"To: bob@example.net", b"To: mallory@example.net"),
    ],
)
def test_tampering_is_detected(both: tuple[DkimSigner, Dns], old: bytes, new: bytes) -> None:
    signer, dns = both
    signed = signer.sign(MESSAGE)
    tampered = signed.replace(old, new)
    assert tampered != signed
    assert not verify(tampered, dns, 0)
    assert not verify(tampered, dns, 1)


def test_relaxed_canonicalisation_survives_whitespace_changes(
    both: tuple[DkimSigner, Dns],
) -> None:
    signer, dns = both
    signed = signer.sign(MESSAGE)
    rewritten = signed.replace(b"Subject: quarterly numbers", b"subject:   quarterly\r\n numbers")
    assert verify(rewritten, dns, 0)
    assert verify(rewritten, dns, 1)


def test_a_subdomain_author_is_signed_by_the_parent_domain_key(
    both: tuple[DkimSigner, Dns],
) -> None:
    signer, dns = both
    message = MESSAGE.replace(b"ann@example.com", b"ann@news.Example.COM")
    signed = signer.sign(message)
    assert [s[b"d"] for s in signatures(signed)] == [b"example.com", b"example.com"]
    assert verify(signed, dns, 0)


def test_the_most_specific_domain_with_keys_wins(ed_pair: tuple[bytes, str]) -> None:
    other_pem, other_txt = generate_key("ed25519")
    signer = DkimSigner(
        [
            DkimKey("example.com", "ed1", ed_pair[0], DkimAlgorithm.ED25519_SHA256),
            DkimKey("news.example.com", "n1", other_pem, DkimAlgorithm.ED25519_SHA256),
        ]
    )
    dns = Dns()
    dns.publish("news.example.com", "n1", other_txt)
    signed = signer.sign(MESSAGE.replace(b"ann@example.com", b"ann@news.example.com"))
    sigs = signatures(signed)
    assert [(s[b"d"], s[b"s"]) for s in sigs] == [(b"news.example.com", b"n1")]
    assert verify(signed, dns)
    assert [k.selector for k in signer.keys_for("NEWS.example.com.")] == ["n1"]
    assert [k.selector for k in signer.keys_for("a.b.example.com")] == ["ed1"]


def test_domains_limit_the_signing_domain(ed_pair: tuple[bytes, str]) -> None:
    """A restricted key's mail is signed only with a key whose d= it may use (DESIGN 9)."""
    signer = DkimSigner([DkimKey("example.com", "ed1", ed_pair[0], DkimAlgorithm.ED25519_SHA256)])
    sub = MESSAGE.replace(b"ann@example.com", b"ann@news.example.com")
    assert signer.sign(sub, frozenset({"news.example.com"})) == sub, "no parent-key signing"
    assert signer.sign(MESSAGE, frozenset({"other.test"})) == MESSAGE
    assert [s[b"d"] for s in signatures(signer.sign(sub, frozenset({"EXAMPLE.com."})))] == [
        b"example.com"
    ]
    assert [s[b"d"] for s in signatures(signer.sign(sub))] == [b"example.com"]  # unrestricted
    assert signer.keys_for("news.example.com", frozenset({"news.example.com"})) == ()


def test_a_single_ed25519_key_signs_alone(ed_pair: tuple[bytes, str]) -> None:
    signer = DkimSigner([DkimKey("example.com", "ed1", ed_pair[0], "ed25519-sha256")])  # type: ignore[arg-type]
    dns = Dns()
    dns.publish("example.com", "ed1", ed_pair[1])
    signed = signer.sign(MESSAGE)
    assert [s[b"a"] for s in signatures(signed)] == [b"ed25519-sha256"]
    assert verify(signed, dns)


@pytest.mark.parametrize(
    "message",
    [
        MESSAGE.replace(b"ann@example.com", b"ann@example.org"),  # no key for the domain
        MESSAGE.replace(b"ann@example.com", b"ann@notexample.com"),  # not a parent domain
        b"From: a@example.com\r\n" + MESSAGE,  # two From fields: no single author
        MESSAGE.replace(b"<ann@example.com>", b"<ann@example.com>, eve@evil.test"),
        MESSAGE.replace(b"From: Ann Example <ann@example.com>\r\n", b""),  # no From
        MESSAGE.replace(b"<ann@example.com>", b"<undisclosed>"),  # no address
    ],
)
def test_mail_without_a_matching_key_is_returned_unchanged(
    both: tuple[DkimSigner, Dns], message: bytes
) -> None:
    signer, _ = both
    assert signer.sign(message) is message


def test_a_signer_without_keys_is_a_no_op() -> None:
    assert DkimSigner([]).sign(MESSAGE) is MESSAGE


def test_idn_authors_match_keys_in_a_label_form(ed_pair: tuple[bytes, str]) -> None:
    signer = DkimSigner(
        [DkimKey("xn--bcher-kva.example", "ed1", ed_pair[0], DkimAlgorithm.ED25519_SHA256)]
    )
    message = MESSAGE.replace(b"ann@example.com", "ann@bücher.example".encode())
    dns = Dns()
    dns.publish("xn--bcher-kva.example", "ed1", ed_pair[1])
    signed = signer.sign(message)
    assert signatures(signed)[0][b"d"] == b"xn--bcher-kva.example"
    assert verify(signed, dns)


def test_from_domain_reads_only_the_header_block() -> None:
    message = b"Subject: x\r\n\r\nFrom: spoof@example.com\r\n"
    assert header_block(message) == b"Subject: x\r\n"
    assert from_domain(message) is None
    folded = b"From: Ann\r\n Example <ann@Example.COM>\r\nTo: x@y\r\n\r\nbody"
    assert from_domain(folded) == "example.com"


def test_a_key_whose_algorithm_is_misdeclared_is_refused(rsa_pair: tuple[bytes, str]) -> None:
    with pytest.raises(DkimKeyError, match="rsa-sha256"):
        DkimSigner([DkimKey("example.com", "s", rsa_pair[0], DkimAlgorithm.ED25519_SHA256)])


def test_two_keys_of_one_algorithm_for_one_domain_are_refused(
    ed_pair: tuple[bytes, str],
) -> None:
    key = DkimKey("example.com", "ed1", ed_pair[0], DkimAlgorithm.ED25519_SHA256)
    with pytest.raises(DkimKeyError, match="one per algorithm"):
        DkimSigner([key, DkimKey("example.com", "ed2", ed_pair[0], key.algorithm)])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_from_domain_never_raises(data: bytes) -> None:
    result = from_domain(data)
    assert result is None or isinstance(result, str)


@settings(max_examples=100, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
        max_size=60,
    )
)
def test_signing_any_subject_never_raises(subject: str) -> None:
    pem, _ = _ED_KEY
    signer = DkimSigner([DkimKey("example.com", "ed1", pem, DkimAlgorithm.ED25519_SHA256)])
    message = MESSAGE.replace(b"quarterly numbers", subject.encode("utf-8"))
    signed = signer.sign(message)
    assert signed.endswith(message)


def test_a_message_dkimpy_cannot_parse_goes_out_unsigned(caplog: pytest.LogCaptureFixture) -> None:
    pem, _ = _ED_KEY
    signer = DkimSigner([DkimKey("example.com", "ed1", pem, DkimAlgorithm.ED25519_SHA256)])
    odd = b"\tstray continuation\r\nFrom: a@example.com\r\n\r\nbody\r\n"
    assert signer.sign(odd) is odd
    assert "sent unsigned" in caplog.text


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=100))
def test_signing_arbitrary_header_bytes_never_raises(extra: bytes, body: bytes) -> None:
    pem, _ = _ED_KEY
    signer = DkimSigner([DkimKey("example.com", "ed1", pem, DkimAlgorithm.ED25519_SHA256)])
    message = b"From: a@example.com\r\n" + extra + b"\r\n\r\n" + body
    assert signer.sign(message).endswith(message)
