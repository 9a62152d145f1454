"""The peer certificate as facts for the tls-check report.

Details come from the DER leaf the server presented; ``chain_length`` counts every
certificate it sent (read through ``net.peer_chain``), and ``chain_available`` says whether
that chain could be read at all (DANE-TA needs it). Judging the certificate (RFC 6125 name matching,
TLSA matching) is ``policy.dane``'s, shared with delivery.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from sealpost.policy.dane import subject_public_key_info


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    subject: str
    sans: tuple[str, ...]
    issuer: str
    not_before: str  # ISO 8601 UTC
    not_after: str
    days_left: int  # negative once expired
    key_type: str  # RSA | EC | Ed25519 | Ed448 | DSA | unknown
    key_size: int | None
    sha256: str  # hex, of the DER certificate
    spki_sha256: str  # hex, of the DER SubjectPublicKeyInfo
    self_issued: bool
    chain_length: int = 0  # certificates the server sent, leaf included; 0: unknown

    @property
    def expired(self) -> bool:
        return self.days_left < 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "sans": list(self.sans),
            "issuer": self.issuer,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "days_left": self.days_left,
            "expired": self.expired,
            "key_type": self.key_type,
            "key_size": self.key_size,
            "sha256": self.sha256,
            "spki_sha256": self.spki_sha256,
            "self_issued": self.self_issued,
            "chain_available": self.chain_length > 0,
            "chain_length": self.chain_length,
        }


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(cert: x509.Certificate) -> tuple[str, int | None]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return "unknown", None


def certificate_facts(
    der: bytes, now: dt.datetime | None = None, chain_length: int = 0
) -> CertificateFacts:
    """Facts of a DER certificate (``chain_length``: how many the server sent, 0 when the
    chain could not be read); ValueError when it cannot be parsed."""
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = tuple(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        sans = ()
    now = now or dt.datetime.now(dt.UTC)
    key_type, key_size = _key(cert)
    return CertificateFacts(
        subject=cert.subject.rfc4514_string(),
        sans=sans,
        issuer=cert.issuer.rfc4514_string(),
        not_before=_iso(cert.not_valid_before_utc),
        not_after=_iso(cert.not_valid_after_utc),
        days_left=(cert.not_valid_after_utc - now).days,
        key_type=key_type,
        key_size=key_size,
        sha256=hashlib.sha256(der).hexdigest(),
        spki_sha256=hashlib.sha256(subject_public_key_info(cert)).hexdigest(),
        self_issued=cert.issuer == cert.subject,
        chain_length=chain_length,
    )
