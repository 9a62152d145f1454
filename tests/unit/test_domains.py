"""Sending domains, the pure parts: names, records, key material and files, the DKIM TXT rules
(reference section 6; RFC 6376 section 3.6.1)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st

from sealpost.dkim import key_files as keys
from sealpost.domains.dkim_check import evaluate, parse_tags, record_problem
from sealpost.domains.records import (
    DkimStatus,
    DnsReport,
    DomainKey,
    DomainNameError,
    SendingDomain,
    normalize_domain,
)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def _spki(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def _small_rsa_key() -> rsa.RSAPrivateKey:
    """A 648-bit key from two Mersenne primes (cryptography generates nothing under 1024)."""
    p, q, e = 2**521 - 1, 2**127 - 1, 65537
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p,
        q,
        d,
        rsa.rsa_crt_dmp1(d, p),
        rsa.rsa_crt_dmq1(d, q),
        rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(e, p * q),
    )
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


# -- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Example.COM", "example.com"),
        ("mail.example.com.", "mail.example.com"),
        ("  shop.test ", "shop.test"),
        ("Bücher.Example", "xn--bcher-kva.example"),
    ],
)
def test_domain_names_are_normalised(text: str, expected: str):
    assert normalize_domain(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".",
        "localhost",
        "a..b",
        "-a.com",
        "_dmarc.example.com",
        "ex ample.com",
        "a\r\nb.com",
        "a\x00b.com",
        "1.2.3.4",
        "../../etc/passwd",
        "a/b.com",
        "x" * 64 + ".com",
        ("a" * 60 + ".") * 5 + "com",
    ],
)
def test_bad_domain_names_are_refused(text: str):
    with pytest.raises(DomainNameError):
        normalize_domain(text)


@given(st.text(max_size=80))
def test_normalize_domain_only_raises_its_error(text: str):
    try:
        name = normalize_domain(text)
    except DomainNameError:
        return
    assert name == name.lower() and not name.endswith(".") and "/" not in name and ".." not in name


# -- records -------------------------------------------------------------------------------


def test_record_round_trips_and_public_view_hides_the_key_file():
    record = SendingDomain(
        domain="example.com",
        creation_time="2026-01-01T00:00:00+00:00",
        dkim_status=DkimStatus.VALID,
        ownership_verified=True,
        key=DomainKey("scph0126", "MIIB", "example.com", "/var/dkim/example.com/scph0126.key"),
        dns=DnsReport("v=DKIM1; p=MIIB", None),
    )
    payload = record.to_payload()
    assert payload["status"] == {"ownership_verified": True, "dkim_status": "valid"}
    assert payload["key_file"].endswith("scph0126.key")
    assert SendingDomain.from_payload(payload) == record
    view = record.public_view()
    assert "key_file" not in str(view) and "/var/dkim" not in str(view)
    assert view["dkim"] == {
        "signing_domain": "example.com",
        "public": "MIIB",
        "selector": "scph0126",
        "headers": "from:to:subject:date",
    }
    assert view["status"]["cname_status"] == "unverified"
    assert "domain" not in record.public_view(with_domain=False)


@pytest.mark.parametrize(
    ("status", "owned", "verified"),
    [
        (DkimStatus.VALID, False, True),
        (DkimStatus.INVALID, True, True),
        (DkimStatus.PENDING, False, False),
        (DkimStatus.UNVERIFIED, False, False),
    ],
)
def test_verified_means_dkim_valid_or_ownership(status: DkimStatus, owned: bool, verified: bool):
    record = SendingDomain("a.test", "", dkim_status=status, ownership_verified=owned)
    assert record.verified is verified


def test_from_payload_tolerates_odd_status():
    record = SendingDomain.from_payload({"domain": "a.test", "status": {"dkim_status": "weird"}})
    assert record.dkim_status is DkimStatus.UNVERIFIED and record.key is None


# -- key material --------------------------------------------------------------------------


def test_generated_key_publishes_its_public_half():
    material = keys.generate(1024)
    private = serialization.load_pem_private_key(material.private_pem, password=None)
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 1024
    assert material.public == _spki(private)
    assert "PRIVATE" not in repr(material) and material.public[:16] in repr(material)


def test_only_1024_and_2048_bits_are_generated():
    with pytest.raises(keys.KeyMaterialError) as info:
        keys.generate(512)
    assert info.value.field == "dkim_key_length"


def test_brought_keys_in_every_form(rsa_key: rsa.RSAPrivateKey):
    pkcs8 = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    pkcs1 = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    bare = "".join(line for line in pkcs1.splitlines() if not line.startswith("-----"))
    expected = _spki(rsa_key)
    for text in (pkcs8, pkcs1, bare):
        material = keys.from_private(text, expected)
        assert material.public == expected
        assert material.private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    pkcs1_public = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    assert keys.from_private(bare, base64.b64encode(pkcs1_public).decode()).public == expected


def test_brought_keys_that_do_not_fit(rsa_key: rsa.RSAPrivateKey):
    other = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(keys.KeyMaterialError) as info:
        keys.from_private(pem, _spki(other))
    assert info.value.field == "dkim.public" and "does not match" in info.value.why
    with pytest.raises(keys.KeyMaterialError, match=r"dkim\.public"):
        keys.from_private(pem, "not base64 at all!")
    encrypted = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()
    with pytest.raises(keys.KeyMaterialError, match="password"):
        keys.from_private(encrypted)
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(keys.KeyMaterialError, match="only RSA"):
        keys.from_private(ec_pem)
    small = _small_rsa_key()
    small_pem = small.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(keys.KeyMaterialError, match="bits"):
        keys.from_private(small_pem)
    for garbage in ("", "AAAA", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"):
        with pytest.raises(keys.KeyMaterialError) as info:
            keys.from_private(garbage)
        assert info.value.field == "dkim.private"


def test_default_selector_is_sparkposts_style():
    assert keys.default_selector(1767225600.0) == "scph0126"  # 2026-01-01
    assert list(keys.selector_candidates("s"))[:3] == ["s", "s-2", "s-3"]


def test_old_key_files_are_removed_only_under_the_data_dirs_dkim(tmp_path: Path):
    path = tmp_path / "dkim" / "example.com" / "sel.key"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PEM-1")
    outside = tmp_path / "elsewhere.key"
    outside.write_bytes(b"x")
    assert not keys.remove_key_file(tmp_path, outside), "only files under <data_dir>/dkim"
    assert outside.exists()
    assert keys.remove_key_file(tmp_path, path)
    assert not path.exists() and not path.parent.exists()
    assert not keys.remove_key_file(tmp_path, path)  # gone already: fine


# -- the DKIM TXT rules --------------------------------------------------------------------

PUB = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"
NAME = "scph0126._domainkey.example.com"


@pytest.mark.parametrize(
    "record",
    [
        f"v=DKIM1; k=rsa; p={PUB}",
        f"p={PUB}",
        f"v=DKIM1;k=rsa;h=sha256;p={PUB};",
        f"v=DKIM1; h=sha1:sha256; p={PUB[:20]} {PUB[20:]}",
        f"  k = RSA ; p = {PUB}  ",
    ],
)
def test_records_that_publish_the_key(record: str):
    assert record_problem(record, PUB) is None
    check = evaluate(NAME, [record], PUB)
    assert check.status is DkimStatus.VALID and check.record == record and check.error is None


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ("v=DKIM1; k=rsa", "missing a p= tag"),
        ("v=DKIM1; k=rsa; p=", "revoked"),
        (f"v=DKIM1; k=ed25519; p={PUB}", "k= must be rsa"),
        (f"v=DKIM1; h=sha1; p={PUB}", "h= must allow sha256"),
        (f"v=DKIM2; p={PUB}", "v= must be DKIM1"),
        (f"v=DKIM1; p={PUB}AAAA", "not this domain's key"),
        ("garbage without tags", "not a DKIM tag list"),
        (f"p={PUB}; p={PUB}", "not a DKIM tag list"),
    ],
)
def test_records_that_do_not(record: str, why: str):
    check = evaluate(NAME, [record], PUB)
    assert check.status is DkimStatus.INVALID and check.conclusive
    assert check.error is not None and why in check.error and check.record == record


def test_one_good_record_among_several_is_enough_and_errors_name_the_dkim_one():
    good = f"v=DKIM1; p={PUB}"
    assert evaluate(NAME, ["v=spf1 -all", good], PUB).status is DkimStatus.VALID
    bad = evaluate(NAME, ["v=spf1 -all", "v=DKIM1; p=AAAA"], PUB)
    assert bad.record == "v=DKIM1; p=AAAA" and "not this domain's key" in (bad.error or "")
    none = evaluate(NAME, [], PUB)
    assert none.status is DkimStatus.INVALID and NAME in (none.error or "")


@given(st.text(max_size=200))
def test_tag_parser_never_crashes(record: str):
    tags = parse_tags(record)
    assert tags is None or all(isinstance(v, str) for v in tags.values())
    assert record_problem(record, PUB) is None or isinstance(record_problem(record, PUB), str)
