"""DANE for SMTP: does a certificate match a TLSA record, and does it name the host.

The authentication half of DANE, kept apart from any I/O so that ``tlscheck`` (which reports
it) and ``delivery`` (which enforces it, ``policy.dane_mx`` and ``delivery.session_tls``)
judge a certificate the same way.

TLSA matching, RFC 6698 section 2.1 (the RDATA fields) as RFC 7671 and RFC 7672 restrict it
for SMTP:

- usage 3, DANE-EE (RFC 7672 section 3.1.1, RFC 7671 section 5.1): the leaf itself must
  match; its names and validity dates are not checked;
- usage 2, DANE-TA (RFC 7672 section 3.1.2): a certificate the server sent after the leaf
  must match, the leaf must validate up to it and carry one of the reference identifiers
  (section 3.2.3: the TLSA base domain or the next-hop domain, ``policy.dane_ta``); it
  needs the whole chain (``net.peer_chain``), so ``tlsa_match``, which sees only a leaf,
  says ``UNCHECKED``;
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
from sealpost.net.peer_chain import CHAIN_AVAILABLE
from sealpost.policy.dane_ta import chain_leads_to_ta


class TlsaMatch(StrEnum):
    MATCH = "match"
    NO_MATCH = "no-match"
    UNCHECKED = "unchecked"  # DANE-TA (usage 2) without the chain (tlsa_match sees a leaf)
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
    if record.usage != 3 or not _known_parameters(record):
        return TlsaMatch.UNUSABLE
    if der is None:
        return TlsaMatch.NO_MATCH
    return TlsaMatch.MATCH if content_matches(record, der) else TlsaMatch.NO_MATCH


def chain_match(record: TlsaRecord, chain: tuple[bytes, ...], names: tuple[str, ...]) -> TlsaMatch:
    """Like ``tlsa_match``, with the peer's whole ``chain`` (DER, leaf first): DANE-TA is
    judged too against the reference identifiers ``names`` (``policy.dane_ta``);
    ``UNCHECKED`` only where this Python cannot read the chain. A server that sent only
    its leaf cannot match: it must include the TA."""
    if record.usage != 2:
        return tlsa_match(record, chain[0] if chain else None)
    if not _known_parameters(record):
        return TlsaMatch.UNUSABLE
    if not CHAIN_AVAILABLE:
        return TlsaMatch.UNCHECKED
    if chain_leads_to_ta(record, chain, names, content_matches):
        return TlsaMatch.MATCH
    return TlsaMatch.NO_MATCH


def _known_parameters(record: TlsaRecord) -> bool:
    return record.selector in (0, 1) and record.mtype in (0, 1, 2)


def content_matches(record: TlsaRecord, der: bytes) -> bool:
    """Whether the certificate ``der`` matches the record's selector, matching type and
    data (RFC 6698 sections 2.1.2-2.1.4), whatever its usage."""
    if not _known_parameters(record):
        return False
    if record.selector == 0:
        content = der
    else:
        content = subject_public_key_info(x509.load_der_x509_certificate(der))
    if record.mtype == 1:
        content = hashlib.sha256(content).digest()
    elif record.mtype == 2:
        content = hashlib.sha512(content).digest()
    return content == record.data


def usable_in_delivery(record: TlsaRecord) -> bool:
    """Whether delivery can authenticate a peer with ``record``: DANE-EE (3 x x) or DANE-TA
    (2 x x) with a known selector and matching type. DANE-TA needs the peer's chain; where
    this Python cannot read it (``net.peer_chain``) it is unusable (RFC 7672 section 2.2:
    only unusable records -> mandatory unauthenticated TLS)."""
    if record.usage == 2:
        return CHAIN_AVAILABLE and _known_parameters(record)
    return tlsa_match(record, None) is TlsaMatch.NO_MATCH


def matching_record(
    records: tuple[TlsaRecord, ...], chain: tuple[bytes, ...], names: tuple[str, ...]
) -> TlsaRecord | None:
    """The first usable record of ``records`` that the peer's ``chain`` (DER, leaf first)
    satisfies, if any: DANE-EE against the leaf, DANE-TA through the chain to a leaf
    naming one of ``names``."""
    for record in records:
        if usable_in_delivery(record) and chain_match(record, chain, names) is TlsaMatch.MATCH:
            return record
    return None


def presentation(record: TlsaRecord) -> str:
    """``"3 1 1 <hex>"``, the record as a zone file writes it (RFC 6698 section 2.2)."""
    return f"{record.usage} {record.selector} {record.mtype} {record.data.hex()}"


def dane_view(
    records: tuple[TlsaRecord, ...], matched: TlsaRecord | None, owner: str = ""
) -> dict[str, Any] | None:
    """The event's ``tls.dane`` object for a host with the secure TLSA RRset ``records``
    (None when DANE did not apply): every record, the one that matched ("3 1 1"), secure,
    and where the records are (``tlsa_name``, "_25._tcp.<TLSA base domain>") when known."""
    if not records:
        return None
    view: dict[str, Any] = {
        "tlsa": [presentation(r) for r in records],
        "matched": f"{matched.usage} {matched.selector} {matched.mtype}" if matched else None,
        "secure": True,
    }
    if owner:
        view["tlsa_name"] = owner
    return view


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
