"""The ``_smtp._tls`` TXT record of a policy domain: where its TLS reports go (RFC 8460
section 3).

Section 3: of the TXT records at ``_smtp._tls.<domain>``, those not starting with
``v=TLSRPTv1`` are discarded, and unless exactly one is left the domain "does not implement
TLSRPT" (MUST), so nothing is sent. The record is ``v=TLSRPTv1`` then ``;``-separated fields
(whitespace around the delimiter allowed, a trailing one too); ``rua=`` holds one or more
comma-separated URIs, of which ``mailto:`` and ``https:`` are defined (others are ignored,
as are unknown fields). A record without a usable ``rua`` sends nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlsplit

from sealpost.dns.resolver import DnsError, Resolver

VERSION = "v=TLSRPTv1"
_DELIM = re.compile(r"[ \t]*;[ \t]*")
_COMMA = re.compile(r"[ \t]*,[ \t]*")
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[A-Za-z0-9.-]+$")
MAX_TARGETS = 10  # more URIs than this in one record: only the first ten are used


class Scheme(StrEnum):
    MAILTO = "mailto"
    HTTPS = "https"


@dataclass(frozen=True, slots=True)
class Rua:
    """One reporting URI: ``uri`` as published, ``target`` the address or the URL."""

    scheme: Scheme
    uri: str
    target: str


@dataclass(frozen=True, slots=True)
class NoRua:
    """Why a domain gets no report: no record, several, or none usable."""

    reason: str


def parse_record(records: tuple[str, ...] | list[str]) -> tuple[Rua, ...] | NoRua:
    """The reporting URIs of the TXT ``records`` at ``_smtp._tls.<domain>``."""
    found = [r for r in records if r.startswith(VERSION)]
    if not found:
        return NoRua(f"no {VERSION} TXT record")
    if len(found) > 1:
        return NoRua(f"{len(found)} {VERSION} TXT records (exactly one is required)")
    fields = _DELIM.split(found[0][len(VERSION) :])
    if fields[0] != "":
        return NoRua(f"no ';' after {VERSION}")
    uris: list[str] = []
    for field in fields[1:]:
        name, eq, value = field.partition("=")
        if eq and name.strip().lower() == "rua" and not uris:
            uris = [u for u in _COMMA.split(value.strip()) if u]
    targets = [t for t in (_target(u) for u in uris) if t is not None]
    if not targets:
        return NoRua("no mailto: or https: rua in the record")
    return tuple(dict.fromkeys(targets))[:MAX_TARGETS]


def _target(uri: str) -> Rua | None:
    scheme, _, rest = uri.partition(":")
    scheme = scheme.lower()
    if scheme == Scheme.MAILTO:
        address = unquote(rest.partition("?")[0])
        if _ADDRESS.fullmatch(address):
            return Rua(Scheme.MAILTO, uri, address)
        return None
    if scheme == Scheme.HTTPS:
        try:
            parts = urlsplit(uri)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            return None
        if parts.hostname and port_ok and not parts.username and not parts.password:
            return Rua(Scheme.HTTPS, uri, uri)
    return None


async def lookup(resolver: Resolver, domain: str) -> tuple[Rua, ...] | NoRua:
    """The reporting URIs ``domain`` publishes, or why there are none."""
    try:
        answer = await resolver.txt(f"_smtp._tls.{domain}")
    except DnsError as exc:
        return NoRua(f"_smtp._tls.{domain} TXT: {exc}")
    return parse_record(list(answer.records))
