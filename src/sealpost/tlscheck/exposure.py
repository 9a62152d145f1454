"""What a tls-check through the API may reach, and what it shows of what it reached.

Through the API a tls-check must not be a port scanner or a banner grabber (issue 10 item
3). ``clear_host`` resolves each host once through the server's egress rule
(``TargetGuard``, DESIGN.md section 9) with the SMTP-port limit, so a refused host is never
contacted and a cleared one is probed only at the checked addresses.

Whether a port is closed, filtered, open with another service behind it (SSH, HTTP, an
internal daemon's text), or open with TLS but no SMTP greeting (implicit TLS) must read the
same. ``conceal`` turns every such host into exactly what a closed port gives: failed at
``connect`` with one error text, no banner, no EHLO, no TLS, no certificate, every TLS
version ``not-tested`` (or ``unavailable`` where this machine's OpenSSL cannot offer it), no
timings, not timed out. Only a peer that greeted with ``220`` is shown in
full. ``sealpost tls-check`` on the command line (an operator on the host) is not concealed.

What stays observable: the time the request takes (a filtered port waits for the timeout).
"""

from __future__ import annotations

import asyncio

from sealpost.model.egress import Cleared, Refused, TargetGuard
from sealpost.tlscheck.report import HostReport, Verification
from sealpost.tlscheck.smtp_probe import (
    VERSION_NAMES,
    ProbeResult,
    ProbeStep,
    VersionResult,
    version_context,
)

UNREACHABLE = "no SMTP service answered (connection refused, timed out, or no 220 greeting)"


def greeted(host: HostReport) -> bool:
    """The host answered with an SMTP ``220`` greeting (``banner`` is set only then)."""
    return host.probe is not None and host.probe.banner is not None


def _closed_port_versions() -> dict[str, VersionResult]:
    return {
        name: VersionResult.UNAVAILABLE
        if version_context(version) is None
        else VersionResult.NOT_TESTED
        for version, name in VERSION_NAMES.items()
    }


def conceal(host: HostReport) -> None:
    """Make a host that did not greet indistinguishable from a closed port."""
    if host.refused or host.dns_error or not host.addresses or greeted(host):
        return
    host.probe = ProbeResult(
        host.addresses[0], host.port, failed_at=ProbeStep.CONNECT, error=UNREACHABLE
    )
    host.verification = Verification(None)
    host.versions = _closed_port_versions()
    host.certificate = None
    host.name_match = None
    host.timed_out = False
    host.timings_ms = {}


async def clear_host(
    host: HostReport, guard: TargetGuard, ports: frozenset[int] | None, timeout: float
) -> bool:
    """Resolve ``host`` once through the egress rule; False when it must not be probed."""
    try:
        async with asyncio.timeout(timeout):
            clearance = await guard.clear(host.host, port=host.port, ports=ports)
    except TimeoutError:
        host.dns_error = f"address lookup for {host.host} timed out"
        return False
    if isinstance(clearance, Refused):
        host.refused = clearance.message
        return False
    if not isinstance(clearance, Cleared):
        host.dns_error = f"address lookup for {host.host}: {clearance.reason}"
        return False
    host.addresses, host.addresses_secure = clearance.addresses, clearance.secure
    return True
