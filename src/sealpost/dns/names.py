"""Host names as mail routing writes them: a name or an IP address, with an optional port.

One syntax for every place an operator or a caller names a host to connect to: static
routes and the smarthost (``[delivery]``) and the target of a tls-check. It is ``host``,
``host:port``, ``1.2.3.4``, ``1.2.3.4:port``, ``[1.2.3.4]:port``, ``[::1]:port``,
``[IPv6:2001:db8::1]:port`` (RFC 5321 section 4.1.3 address literal) or ``[host]:port``; a
bare IPv6 address has colons and no port. Host names are ASCII letters, digits, ``-``,
``_`` and dots, labels of 1-63 octets and at most 253 in all (the text form of RFC 1035
section 2.3.4's limits), kept lower case without the trailing dot as ``Resolver`` answers
name them. ValueErrors say ``relay ...``: the word static routes, smarthosts and tls-check
targets have always shown.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HostSpec:
    """A parsed ``host[:port]``."""

    host: str  # lower-case name, or an IP address when ``literal``
    port: int | None  # None: whatever port the caller defaults to
    literal: bool


def normalize_domain(domain: str) -> str:
    """Lower case, no surrounding blanks, no trailing dot."""
    return domain.strip().lower().rstrip(".")


def address_literal(text: str) -> str | None:
    """The IP address ``text`` spells (brackets allowed), in canonical form; else None."""
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return None


@functools.lru_cache(maxsize=256)
def parse_host_spec(spec: str) -> HostSpec:
    """Parse the syntax in the module docstring; ValueError names what is wrong. Cached (a
    spec that raises is not): the dispatcher parses the configured smarthost or static route
    for every message."""
    text = spec.strip()
    port_text = ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"relay {spec!r}: expected [host] or [host]:port")
        port_text = rest[1:] if rest else ""
        if rest == ":":
            raise ValueError(f"relay {spec!r}: empty port")
        if host[:5].lower() == "ipv6:":
            host = host[5:]
    elif address_literal(text) is not None:
        host = text  # a bare IPv6 address has colons and no port
    else:
        host, colon, port_text = text.partition(":")
        if colon and not port_text:
            raise ValueError(f"relay {spec!r}: empty port")
    port: int | None = None
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise ValueError(f"relay {spec!r}: port must be 1-65535")
        port = int(port_text)
    address = address_literal(host)
    if address is not None:
        return HostSpec(address, port, literal=True)
    name = normalize_domain(host)
    labels = name.split(".")
    if not name or any(not label or len(label) > 63 for label in labels) or len(name) > 253:
        raise ValueError(f"relay {spec!r}: {host!r} is not a host name or IP address")
    if not name.isascii() or any(not (c.isalnum() or c in "-_.") for c in name):
        raise ValueError(f"relay {spec!r}: {host!r} is not a host name or IP address")
    return HostSpec(name, port, literal=False)
