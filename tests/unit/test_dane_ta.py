"""DANE-TA (RFC 7672 section 3.1.2) without sockets: chains from trustme CAs, as DER.

Each case is a chain a server could send (leaf first) and a ``2 x x`` record; the check
must find the TA among the certificates after the leaf, validate the leaf up to it, and
match the MX host name.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sealpost.dns.resolver import TlsaRecord
from sealpost.policy.dane import content_matches, matching_record
from sealpost.policy.dane_ta import chain_leads_to_ta

HOST = "mx.example.test"


def der_chain(*pems: bytes) -> tuple[bytes, ...]:
    certs = [c for pem in pems for c in x509.load_pem_x509_certificates(pem)]
    return tuple(c.public_bytes(serialization.Encoding.DER) for c in certs)


def record(der: bytes, selector: int = 0, mtype: int = 1) -> TlsaRecord:
    cert = x509.load_der_x509_certificate(der)
    content = (
        der
        if selector == 0
        else cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    data = {0: content, 1: hashlib.sha256(content).digest(), 2: hashlib.sha512(content).digest()}
    return TlsaRecord(2, selector, mtype, data[mtype])


@pytest.fixture(scope="module")
def pki() -> tuple[trustme.CA, trustme.CA]:
    root = trustme.CA()
    return root, root.create_child_ca()


def sent(pki, *names: str, **kw) -> tuple[bytes, ...]:
    """leaf + intermediate + root, as a server that includes its TA sends them."""
    root, child = pki
    leaf = child.issue_cert(*(names or (HOST,)), **kw)
    return der_chain(*(b.bytes() for b in leaf.cert_chain_pems), root.cert_pem.bytes())


def ta(chain: tuple[bytes, ...], index: int, selector: int = 0, mtype: int = 1) -> TlsaRecord:
    return record(chain[index], selector, mtype)


def check(rec: TlsaRecord, chain: tuple[bytes, ...], host: str = HOST, **kw) -> bool:
    return chain_leads_to_ta(rec, chain, (host,), content_matches, **kw)


@pytest.mark.parametrize("selector, mtype", [(0, 1), (1, 1), (0, 2), (1, 0), (0, 0)])
@pytest.mark.parametrize("index", [1, 2], ids=["intermediate-ta", "root-ta"])
def test_chain_to_the_ta_with_the_host_name_matches(pki, index, selector, mtype):
    chain = sent(pki)
    assert check(ta(chain, index, selector, mtype), chain)


def test_a_wildcard_name_matches_one_label(pki):
    chain = sent(pki, "*.example.test")
    assert check(ta(chain, 2), chain)
    assert not check(ta(chain, 2), chain, "a.mx.example.test")


def test_the_leaf_must_name_the_mx_host(pki):
    chain = sent(pki, "other.example.test")
    assert not check(ta(chain, 2), chain)


def test_the_ta_must_be_in_the_chain_the_server_sent(pki):
    """RFC 7672 section 3.1.2: the server MUST include the TA; a digest alone is not enough."""
    chain = sent(pki)
    assert not check(ta(chain, 2), chain[:2])


def test_a_record_for_the_leaf_is_no_trust_anchor(pki):
    chain = sent(pki)
    assert not check(ta(chain, 0), chain)


def test_a_leaf_from_another_ca_does_not_chain_to_the_ta(pki):
    """A server that appends the TA certificate to a chain it does not lead to."""
    other = trustme.CA().issue_cert(HOST)
    chain = (*der_chain(*(b.bytes() for b in other.cert_chain_pems)), sent(pki)[2])
    assert not check(ta(chain, len(chain) - 1), chain)


def test_an_expired_leaf_fails(pki):
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    chain = sent(pki, not_before=past, not_after=past + dt.timedelta(days=1))
    assert not check(ta(chain, 2), chain)
    assert check(ta(chain, 2), chain, now=past + dt.timedelta(hours=12))


def test_matching_record_takes_dane_ta_and_dane_ee(pki):
    chain = sent(pki)
    wrong = TlsaRecord(2, 0, 1, b"\0" * 32)
    root = ta(chain, 2)
    assert matching_record((wrong, root), chain, (HOST,)) is root
    assert matching_record((wrong, root), chain, ("other.example.test",)) is None
    assert matching_record((root,), chain[:1], (HOST,)) is None  # only the leaf was read
