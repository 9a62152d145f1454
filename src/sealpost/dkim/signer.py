"""DKIM signing of outgoing mail with dkimpy (RFC 6376, RFC 8301, RFC 8463).

The signer picks the keys of the From: header's domain (or of its closest parent domain that
has keys), signs relaxed/relaxed over a fixed list of header fields, and prepends the
DKIM-Signature fields: rsa-sha256 first, then ed25519-sha256 when the domain has both (RFC
8463 section 4 recommends dual signing while receivers adopt ed25519). From is signed once
more than it occurs ("oversigned"), so a second From cannot be added without breaking the
signature (RFC 6376 section 8.15). RFC 6376 section 5.4 MUST: the From field is always signed.

Finding the From domain reads only the header block, so mail with no key is returned
untouched without parsing the body. Keys, their generation and DNS records are in
``dkim.keys``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from email.utils import getaddresses

import dkim as dkimpy

from sealpost.dkim.keys import (
    DkimAlgorithm,
    DkimKey,
    DkimKeyError,
    algorithm_of,
    signing_material,
)

log = logging.getLogger("sealpost.dkim")

SIGNED_HEADERS: tuple[str, ...] = (
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "in-reply-to",
    "references",
)
_OVERSIGNED = ("from",)
_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:")
_ORDER = (DkimAlgorithm.RSA_SHA256, DkimAlgorithm.ED25519_SHA256)


def header_block(data: bytes) -> bytes:
    """The header section of a message: everything before the first empty line."""
    if data.startswith((b"\r\n", b"\n")):
        return b""
    for sep in (b"\r\n\r\n", b"\n\n"):
        end = data.find(sep)
        if end >= 0:
            return data[: end + len(sep) // 2]
    return data


def header_fields(block: bytes) -> list[tuple[str, str]]:
    """``(lower-case name, unfolded value)`` for every field of a header block, in order."""
    fields: list[tuple[str, bytearray]] = []
    for line in block.splitlines():
        if line[:1] in (b" ", b"\t"):
            if fields:
                fields[-1][1].extend(b" " + line.strip())
            continue
        match = _FIELD_NAME.match(line)
        if match is None:
            continue
        value = bytearray(line[match.end() :].strip())
        fields.append((match.group(1).decode("ascii").lower(), value))
    return [(name, bytes(value).decode("utf-8", "replace")) for name, value in fields]


def _ascii_domain(domain: str) -> str | None:
    bare = domain.strip().rstrip(".").lower()
    if not bare:
        return None
    try:
        return bare.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def from_domain(data: bytes) -> str | None:
    """The domain of the message's single From: address, or None when it has no single one.

    Several From fields, or a From naming mailboxes in different domains, give None: there is
    no one author domain to sign for.
    """
    return _author_domain(header_fields(header_block(data)))


def _author_domain(fields: list[tuple[str, str]]) -> str | None:
    values = [value for name, value in fields if name == "from"]
    if len(values) != 1:
        return None
    domains = set()
    for _, address in getaddresses(values):
        local, at, domain = address.rpartition("@")
        if not at or not local:
            return None
        ascii_domain = _ascii_domain(domain)
        if ascii_domain is None:
            return None
        domains.add(ascii_domain)
    return domains.pop() if len(domains) == 1 else None


class DkimSigner:
    """Signs messages with the keys of their author domain; see the module docstring."""

    def __init__(self, keys: Sequence[DkimKey]) -> None:
        by_domain: dict[str, dict[DkimAlgorithm, tuple[DkimKey, bytes]]] = {}
        for key in keys:
            actual = algorithm_of(key.private_key_pem)
            if actual is not key.algorithm:
                raise DkimKeyError(
                    f"DKIM key {key.selector}._domainkey.{key.domain}: the key is "
                    f"{actual.value}, not {key.algorithm.value}"
                )
            slots = by_domain.setdefault(key.domain, {})
            if key.algorithm in slots:
                raise DkimKeyError(
                    f"two {key.algorithm.value} DKIM keys for {key.domain}: keep one per algorithm"
                )
            slots[key.algorithm] = (key, signing_material(key))
        self._keys = {
            domain: [slots[alg] for alg in _ORDER if alg in slots]
            for domain, slots in by_domain.items()
        }

    def keys_for(self, domain: str, allowed: frozenset[str] | None = None) -> tuple[DkimKey, ...]:
        """The keys that sign mail from ``domain``: its own, else its closest parent's;
        with ``allowed``, only a signing domain in that set (A-label form) is used."""
        return tuple(key for key, _ in self._material_for(domain, allowed))

    def _material_for(
        self, domain: str, allowed: frozenset[str] | None = None
    ) -> list[tuple[DkimKey, bytes]]:
        labels = domain.lower().rstrip(".").split(".")
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            if allowed is not None and candidate not in allowed:
                continue
            found = self._keys.get(candidate)
            if found:
                return found
        return []

    def sign(self, data: bytes, domains: frozenset[str] | None = None) -> bytes:
        """The message with DKIM-Signature fields prepended, or ``data`` when no key applies.

        ``domains`` (a restricted key's sender domains) limits the signing domain: mail is
        signed only with a key whose d= is one of them (DESIGN section 9: what we sign we
        vouch for). A message dkimpy cannot sign (malformed header block) is returned
        unchanged and logged: an unsigned message still goes out, as it would from a domain
        without keys.
        """
        if not self._keys:
            return data
        fields = header_fields(header_block(data))
        domain = _author_domain(fields)
        allowed = None if domains is None else frozenset(_ascii_domain(d) or d for d in domains)
        material = self._material_for(domain, allowed) if domain is not None else []
        if not material:
            return data
        include = [name for name, _ in fields if name in SIGNED_HEADERS] + list(_OVERSIGNED)
        signatures: list[bytes] = []
        for key, secret in material:
            try:
                signatures.append(
                    dkimpy.DKIM(data, signature_algorithm=key.algorithm.value.encode()).sign(
                        key.selector.encode(),
                        key.domain.encode(),
                        secret,
                        canonicalize=(b"relaxed", b"relaxed"),
                        include_headers=[name.encode() for name in include],
                    )
                )
            except Exception as exc:  # dkimpy on odd input raises more than DKIMException
                log.warning(
                    "DKIM signing with %s._domainkey.%s failed (%s: %s); sent unsigned",
                    key.selector,
                    key.domain,
                    type(exc).__name__,
                    exc,
                )
                return data
        return b"".join(signatures) + data
