"""policy.dane: TLSA matching (RFC 6698 section 2.1 as RFC 7672 section 3.1 restricts it)
and RFC 6125 name matching, over real certificates from trustme. No sockets."""

from __future__ import annotations

import hashlib

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sealpost.dns.resolver import TlsaRecord
from sealpost.policy.dane import (
    TlsaMatch,
    dane_view,
    matching_record,
    name_matches,
    subject_public_key_info,
    tlsa_match,
    usable_in_delivery,
)

MX = "mx.example.test"


@pytest.fixture(scope="module")
def leaf_der() -> bytes:
    pem = trustme.CA().issue_cert(MX).cert_chain_pems[0].bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(
    ("pattern", "host", "ok"),
    [
        (MX, "MX.Example.Test.", True),
        ("*.example.test", MX, True),
        ("*.example.test", "a.b.example.test", False),
        ("*.example.test", "example.test", False),
        ("other.example.test", MX, False),
    ],
)
def test_name_matches(pattern, host, ok):
    assert name_matches((pattern,), host) is ok


def test_tlsa_match_selectors_and_types(leaf_der):
    cert = x509.load_der_x509_certificate(leaf_der)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cases = [
        TlsaRecord(3, 0, 0, leaf_der),
        TlsaRecord(3, 0, 1, hashlib.sha256(leaf_der).digest()),
        TlsaRecord(3, 1, 1, hashlib.sha256(spki).digest()),
        TlsaRecord(3, 1, 2, hashlib.sha512(spki).digest()),
    ]
    for record in cases:
        assert tlsa_match(record, leaf_der) is TlsaMatch.MATCH
    assert tlsa_match(TlsaRecord(3, 1, 1, b"\0" * 32), leaf_der) is TlsaMatch.NO_MATCH
    assert tlsa_match(TlsaRecord(3, 1, 1, b"\0" * 32), None) is TlsaMatch.NO_MATCH
    assert tlsa_match(TlsaRecord(2, 0, 1, b"\0" * 32), leaf_der) is TlsaMatch.UNCHECKED
    assert tlsa_match(TlsaRecord(1, 0, 1, b"\0" * 32), leaf_der) is TlsaMatch.UNUSABLE
    assert tlsa_match(TlsaRecord(3, 2, 1, b"\0" * 32), leaf_der) is TlsaMatch.UNUSABLE


def test_selector_one_is_the_subject_public_key_info(leaf_der):
    cert = x509.load_der_x509_certificate(leaf_der)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert subject_public_key_info(cert) == spki
    assert tlsa_match(TlsaRecord(3, 1, 0, spki), leaf_der) is TlsaMatch.MATCH


@pytest.mark.parametrize(
    ("record", "usable"),
    [
        (TlsaRecord(3, 1, 1, b"\0" * 32), True),
        (TlsaRecord(3, 0, 0, b"\0"), True),
        (TlsaRecord(2, 1, 1, b"\0" * 32), True),  # DANE-TA: the chain is read (net.peer_chain)
        (TlsaRecord(2, 1, 3, b"\0" * 32), False),  # DANE-TA, unknown matching type
        (TlsaRecord(1, 1, 1, b"\0" * 32), False),  # PKIX-EE: unusable for SMTP
        (TlsaRecord(0, 1, 1, b"\0" * 32), False),  # PKIX-TA: unusable for SMTP
        (TlsaRecord(3, 2, 1, b"\0" * 32), False),  # unknown selector
        (TlsaRecord(3, 1, 3, b"\0" * 32), False),  # unknown matching type
    ],
)
def test_usable_in_delivery(record, usable):
    assert usable_in_delivery(record) is usable


def test_matching_record_skips_unusable_records_and_views_the_match(leaf_der):
    digest = hashlib.sha256(leaf_der).digest()
    pkix = TlsaRecord(1, 0, 1, digest)  # would match, but usage 1 is unusable
    ee = TlsaRecord(3, 0, 1, digest)
    assert matching_record((pkix,), (leaf_der,), ("mx.example.test",)) is None
    assert matching_record((pkix, ee), (leaf_der,), ("mx.example.test",)) is ee
    view = dane_view((pkix, ee), ee)
    assert view == {
        "tlsa": [f"1 0 1 {digest.hex()}", f"3 0 1 {digest.hex()}"],
        "matched": "3 0 1",
        "secure": True,
    }
    assert dane_view((), None) is None
