"""DANE for SMTP: does a certificate match a TLSA record, and does it name the host.

The authentication half of DANE, kept apart from any I/O so that ``tlscheck`` (which reports
it) and ``delivery`` (which enforces it, ``policy.dane_mx`` and ``delivery.session_tls``)
judge a certificate the same way.

TLSA matching, RFC 6698 section 2.1 (the RDATA fields) as RFC 7671 and RFC 7672 restrict it
for SMTP:

- usage 3, DANE-EE (RFC 7672 section 3.1.1, RFC 7671 section 5.1): the leaf itself must
  match; its names and validity dates are not checked;
- usage 2, DANE-TA (RFC 7672 section 3.1.2): needs the chain the server sent, which
  Python's ``ssl`` does not expose (only the leaf), so it is ``UNCHECKED`` here;
- usages 0 and 1, PKIX-TA / PKIX-EE: unusable for SMTP (RFC 7672 section 3.1.3);
- selector 0 = the whole certificate, 1 = its SubjectPublicKeyInfo (RFC 6698 section
  2.1.2); matching type 0 = exact, 1 = SHA-256, 2 = SHA-512 (section 2.1.3). Anything else
  makes the record unusable (RFC 7671 section 4: unusable records are ignored).

Name matching, RFC 6125 section 6.4 as RFC 7672 section 3.2.3 (the reference identifiers
of DANE-TA) and RFC 8461 section 4.2 (MTA-STS) use it: DNS-ID subjectAltNames only,
compared case-insensitively without a trailing dot, a ``*`` wildcard standing for exactly
one whole leftmost label (``*.example.com`` matches ``mx.example.com``, not
``example.com`` nor ``a.b.example.com``).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sealpost.dns.resolver import TlsaRecord


class TlsaMatch(StrEnum):
    MATCH = "match"
    NO_MATCH = "no-match"
    UNCHECKED = "unchecked"  # DANE-TA (usage 2): needs the chain, which is not available
    UNUSABLE = "unusable"  # PKIX usages 0/1, or unknown selector / matching type


def subject_public_key_info(cert: x509.Certificate) -> bytes:
    """The DER SubjectPublicKeyInfo of ``cert`` (what selector 1 matches)."""
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def tlsa_match(record: TlsaRecord, der: bytes | None) -> TlsaMatch:
    """Whether one TLSA record matches the DER leaf certificate ``der`` (None: none seen)."""
    if record.usage == 2:
        return TlsaMatch.UNCHECKED
    if record.usage != 3 or record.selector not in (0, 1) or record.mtype not in (0, 1, 2):
        return TlsaMatch.UNUSABLE
    if der is None:
        return TlsaMatch.NO_MATCH
    if record.selector == 0:
        content = der
    else:
        content = subject_public_key_info(x509.load_der_x509_certificate(der))
    if record.mtype == 1:
        content = hashlib.sha256(content).digest()
    elif record.mtype == 2:
        content = hashlib.sha512(content).digest()
    return TlsaMatch.MATCH if content == record.data else TlsaMatch.NO_MATCH


def usable_in_delivery(record: TlsaRecord) -> bool:
    """Whether delivery can authenticate a peer with ``record``: DANE-EE (3 x x) with a known
    selector and matching type. DANE-TA (2 x x) needs the peer's chain, which Python 3.11's
    ``ssl`` gives only through a private method; delivery treats it as unusable for now
    (RFC 7672 section 2.2: only unusable records -> mandatory unauthenticated TLS)."""
    return tlsa_match(record, None) is TlsaMatch.NO_MATCH


def matching_record(records: tuple[TlsaRecord, ...], der: bytes | None) -> TlsaRecord | None:
    """The first usable record of ``records`` that the leaf ``der`` matches, if any."""
    for record in records:
        if usable_in_delivery(record) and tlsa_match(record, der) is TlsaMatch.MATCH:
            return record
    return None


def presentation(record: TlsaRecord) -> str:
    """``"3 1 1 <hex>"``, the record as a zone file writes it (RFC 6698 section 2.2)."""
    return f"{record.usage} {record.selector} {record.mtype} {record.data.hex()}"


def dane_view(records: tuple[TlsaRecord, ...], matched: TlsaRecord | None) -> dict[str, Any] | None:
    """The event's ``tls.dane`` object for a host with the secure TLSA RRset ``records``
    (None when DANE did not apply): every record, the one that matched ("3 1 1"), secure."""
    if not records:
        return None
    return {
        "tlsa": [presentation(r) for r in records],
        "matched": f"{matched.usage} {matched.selector} {matched.mtype}" if matched else None,
        "secure": True,
    }


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
