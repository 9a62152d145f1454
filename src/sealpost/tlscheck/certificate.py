"""The peer certificate as facts, and DANE TLSA matching against it.

Details come from the DER leaf the server presented (Python 3.11 exposes only the leaf, so
``chain_available`` is always False and DANE-TA, usage 2, cannot be checked here).
Name matching follows RFC 6125 section 6.4 as RFC 7672 section 3.2.3 and RFC 8461 section
4.2 use it: DNS-ID SANs only, case-insensitive, a ``*`` wildcard standing for exactly one
whole leftmost label. TLSA matching implements RFC 6698 section 2.1 for DANE-EE (usage 3,
RFC 7672 section 3.1.1): selector 0 = the full certificate, 1 = SubjectPublicKeyInfo;
matching type 0 = exact, 1 = SHA-256, 2 = SHA-512. Usages 0 and 1 (PKIX-TA/EE) are unusable
for SMTP (RFC 7672 section 3.1.3).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from sealpost.dns.resolver import TlsaRecord


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
            "chain_available": False,
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


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def certificate_facts(der: bytes, now: dt.datetime | None = None) -> CertificateFacts:
    """Facts of a DER certificate; ValueError when it cannot be parsed."""
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
        spki_sha256=hashlib.sha256(_spki(cert)).hexdigest(),
        self_issued=cert.issuer == cert.subject,
    )


def name_matches(sans: tuple[str, ...], host: str) -> bool:
    """Whether a DNS-ID in ``sans`` matches ``host`` (see the module docstring)."""
    wanted = host.lower().rstrip(".")
    for pattern in sans:
        name = pattern.lower().rstrip(".")
        if name == wanted:
            return True
        if name.startswith("*.") and "." in wanted:
            label, _, rest = wanted.partition(".")
            if label and rest == name[2:]:
                return True
    return False


class TlsaMatch(StrEnum):
    MATCH = "match"
    NO_MATCH = "no-match"
    UNCHECKED = "unchecked"  # DANE-TA (usage 2): needs the chain, which is not available
    UNUSABLE = "unusable"  # PKIX usages 0/1, or unknown selector / matching type


def tlsa_match(record: TlsaRecord, der: bytes | None) -> TlsaMatch:
    """Whether one TLSA record matches the leaf certificate ``der``."""
    if record.usage == 2:
        return TlsaMatch.UNCHECKED
    if record.usage != 3 or record.selector not in (0, 1) or record.mtype not in (0, 1, 2):
        return TlsaMatch.UNUSABLE
    if der is None:
        return TlsaMatch.NO_MATCH
    content = der if record.selector == 0 else _spki(x509.load_der_x509_certificate(der))
    if record.mtype == 1:
        content = hashlib.sha256(content).digest()
    elif record.mtype == 2:
        content = hashlib.sha512(content).digest()
    return TlsaMatch.MATCH if content == record.data else TlsaMatch.NO_MATCH
