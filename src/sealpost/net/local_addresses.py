"""Whether an address belongs to this host: its interfaces, hence its own listeners.

The test is the kernel's own: binding a socket to an address succeeds only when the address
is assigned to one of this host's interfaces (or routed locally, as all of 127.0.0.0/8 is)
and fails with ``EADDRNOTAVAIL`` otherwise. It is asked at the moment of each check, so an
address added later (DHCP, a new interface) counts at once, and every listener address
(SMTP, API) is covered because a listener can only be bound to a local address.

Hosts with ``net.ipv4.ip_nonlocal_bind`` (or its IPv6 twin) switched on let any bind
succeed. That is detected once per family by binding a documentation address
(RFC 5737 192.0.2.1, RFC 3849 2001:db8::1) that no host owns; there the interface
addresses are read from ``/proc/net/fib_trie`` (IPv4 ``/32 host LOCAL`` entries) and
``/proc/net/if_inet6`` instead.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from pathlib import Path

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NEVER_LOCAL = {4: "192.0.2.1", 6: "2001:db8::1"}


def _binds(address: IPAddress) -> bool | None:
    """True when a socket can bind to ``address``; None when the family is unusable."""
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM)
    except OSError:
        return None
    with sock:
        try:
            sock.bind((str(address), 0))
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EINVAL):
                return False
            return None
    return True


def _proc_addresses() -> set[IPAddress]:
    found: set[IPAddress] = set()
    trie = Path("/proc/net/fib_trie")
    if trie.exists():
        last: str | None = None
        for line in trie.read_text().splitlines():
            text = line.strip()
            if text.startswith("|--"):
                last = text[3:].strip()
            elif text == "/32 host LOCAL" and last is not None:
                found.add(ipaddress.IPv4Address(last))
    inet6 = Path("/proc/net/if_inet6")
    if inet6.exists():
        for line in inet6.read_text().splitlines():
            raw = line.split()[0] if line.split() else ""
            if len(raw) == 32:
                found.add(ipaddress.IPv6Address(int(raw, 16)))
    return found


class LocalAddresses:
    """``address in LocalAddresses()``: is it one of this host's addresses right now?"""

    def __init__(self) -> None:
        self._nonlocal_bind: dict[int, bool] = {}

    def _bind_is_trustworthy(self, version: int) -> bool:
        if version not in self._nonlocal_bind:
            probe = _binds(ipaddress.ip_address(_NEVER_LOCAL[version]))
            self._nonlocal_bind[version] = probe is True
        return not self._nonlocal_bind[version]

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        if self._bind_is_trustworthy(address.version):
            bound = _binds(address)
            if bound is not None:
                return bound
        return address in _proc_addresses()
