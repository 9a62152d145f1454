"""policy.dane: TLSA matching (RFC 6698 section 2.1 as RFC 7672 section 3.1 restricts it)
and RFC 6125 name matching, over real certificates from trustme. No sockets."""

from __future__ import annotations

import hashlib

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sealpost.dns.resolver import TlsaRecord
from sealpost.policy.dane import TlsaMatch, name_matches, subject_public_key_info, tlsa_match

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
