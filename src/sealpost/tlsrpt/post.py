"""A TLS report POSTed to an ``https:`` rua (RFC 8460 section 5.4), through the egress rule.

The rua comes from the policy domain's DNS, so it is as untrusted as a webhook target: the
host is cleared once by the same ``TargetGuard`` (``net.egress``: no loopback, private,
link-local or own address unless ``[tlsrpt] allowed_private_targets`` lists it) and the
connection goes to exactly the checked address (``net.pinned_http``). The certificate is
verified (system CAs and ``[delivery] ca_file``), redirects are not followed, and the body
is the gzip report with ``Content-Type: application/tlsrpt+gzip`` (section 5.4). Any 2xx
is success; the rest is a failure named in words, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from sealpost.model.egress import Cleared, TargetGuard
from sealpost.net.client_tls import verifying
from sealpost.net.pinned_http import PinnedTransport, pinned, url_host
from sealpost.tlsrpt.report_mail import CONTENT_TYPE

USER_AGENT = "Sealpost-TLSRPT/1"


@dataclass(frozen=True, slots=True)
class PostResult:
    ok: bool
    detail: str  # "HTTP 200", or why it failed


class ReportPoster:
    """POSTs reports; create it in the event loop that uses it, ``close`` at the end."""

    def __init__(self, guard: TargetGuard, *, ca_file: Path | None, timeout: float) -> None:
        self._guard = guard
        limits = httpx.Limits(max_connections=4, max_keepalive_connections=0)
        self._client = httpx.AsyncClient(
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": USER_AGENT},
            transport=PinnedTransport(verify=verifying(ca_file), limits=limits),
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def post(self, url: str, body: bytes) -> PostResult:
        try:
            host = url_host(url)
        except (httpx.InvalidURL, UnicodeError) as exc:
            return PostResult(False, f"bad URL: {exc}")
        clearance = await self._guard.clear(host)
        if not isinstance(clearance, Cleared):
            return PostResult(False, clearance.message)
        try:
            with pinned({host: clearance.address}):
                response = await self._client.post(
                    url, content=body, headers={"Content-Type": CONTENT_TYPE}
                )
        except httpx.HTTPError as exc:
            return PostResult(False, f"{type(exc).__name__}: {exc}"[:300])
        except OSError as exc:
            return PostResult(False, f"{type(exc).__name__}: {exc}"[:300])
        return PostResult(200 <= response.status_code < 300, f"HTTP {response.status_code}")
