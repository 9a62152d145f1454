"""Fetching an MTA-STS policy over HTTPS (RFC 8461 section 3.3).

``GET https://mta-sts.<domain>/.well-known/mta-sts.txt``, with the host name resolved through
Sealpost's own ``Resolver`` (so tests and operators control where it goes) and the TCP
connection made to that address, while SNI, the ``Host`` header and the certificate check all
use ``mta-sts.<domain>``. RFC 8461 section 3.3 rules kept here:

- the certificate MUST be valid for ``mta-sts.<domain>``, chain to a trusted root (WebPKI:
  the system store plus an optional extra CA file) and be unexpired -> else
  ``sts-webpki-invalid``;
- HTTP 3xx redirects MUST NOT be followed, HTTP caching MUST NOT be used, and only ``200``
  is a policy;
- the media type must be ``text/plain`` (section 3.2 SHOULD; parameters ignored);
- the body is capped at 64 KiB (reading stops there) and the whole fetch, DNS included, is
  bounded in time (section 3.3 MAY: a size limit of 64 KiB and a timeout are suggested).

With a ``TargetGuard`` (tls-check through the API, where the caller chooses the domain and
so the policy host's address), the host is cleared by the egress rule instead of resolved
directly: a refused address is a fetch error naming the rule, and nothing is sent to it.

Every failure is a value (``StsError`` with ``sts-policy-fetch-error``,
``sts-webpki-invalid`` or ``sts-policy-invalid``), never an exception. Each fetch uses its
own connection: a pooled connection could carry a request for one domain over a TLS session
that was authenticated for another.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

from sealpost.dns.resolver import DnsError, Resolver
from sealpost.model.egress import Cleared, TargetGuard
from sealpost.model.tlsrpt import TlsFailure
from sealpost.net.client_tls import verifying
from sealpost.policy.mta_sts import MAX_POLICY_BYTES, StsError, StsPolicy, parse_policy

WELL_KNOWN_PATH = "/.well-known/mta-sts.txt"
USER_AGENT = "Sealpost MTA-STS"


def _fetch_error(detail: str) -> StsError:
    return StsError(TlsFailure.STS_POLICY_FETCH_ERROR, detail)


def _certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


@dataclass(frozen=True, slots=True)
class _Unreachable:
    """No HTTP exchange with one address (connect or TLS failure)."""

    error: StsError


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


class StsFetcher:
    """Fetches and parses one domain's policy; ``fetch`` never raises for network faults."""

    def __init__(
        self,
        resolver: Resolver,
        *,
        https_port: int = 443,
        ca_file: Path | None = None,
        timeout: float = 10,
        max_addresses: int = 4,
        guard: TargetGuard | None = None,
    ) -> None:
        self._resolver = resolver
        self._guard = guard
        self._port = https_port
        self._timeout = timeout
        self._max_addresses = max_addresses
        self._ssl = verifying(ca_file)  # WebPKI: system CAs + ca_file, name checked

    async def fetch(self, domain: str) -> StsPolicy | StsError:
        """The policy served for ``domain``, or why there is none."""
        domain = domain.strip().lower().removesuffix(".")
        host = f"mta-sts.{domain}"
        if not _valid_host(host):
            return _fetch_error(f"{domain!r} is not a domain name")
        try:
            async with asyncio.timeout(self._timeout):
                return await self._fetch(host)
        except TimeoutError:
            return _fetch_error(f"{host}: no policy within {self._timeout:g} s")

    async def _addresses(self, host: str) -> list[str] | StsError:
        if self._guard is not None:
            clearance = await self._guard.clear(host, port=self._port)
            if not isinstance(clearance, Cleared):
                return _fetch_error(clearance.message)
            return list(clearance.addresses)
        try:
            answer = await self._resolver.addresses(host)
        except DnsError as exc:
            return _fetch_error(f"DNS: {exc}")
        return [a for a in answer.records if _is_ip(a)]

    async def _fetch(self, host: str) -> StsPolicy | StsError:
        found = await self._addresses(host)
        if isinstance(found, StsError):
            return found
        addresses = found[: self._max_addresses]
        if not addresses:
            return _fetch_error(f"{host}: no usable address")
        errors: list[StsError] = []
        for address in addresses:
            result = await self._get(host, address)
            if not isinstance(result, _Unreachable):
                return result
            errors.append(result.error)
        # Every address failed to connect: a certificate failure is the one worth reporting.
        for error in errors:
            if error.failure is TlsFailure.STS_WEBPKI_INVALID:
                return error
        return errors[-1]

    async def _get(self, host: str, address: str) -> StsPolicy | StsError | _Unreachable:
        """The outcome from one address; ``_Unreachable`` means: try the next one."""
        url_host = f"[{address}]" if ":" in address else address
        url = f"https://{url_host}:{self._port}{WELL_KNOWN_PATH}"
        headers = {"Host": host, "Accept-Encoding": "identity", "User-Agent": USER_AGENT}
        try:
            async with (
                httpx.AsyncClient(
                    verify=self._ssl,
                    trust_env=False,
                    follow_redirects=False,
                    timeout=httpx.Timeout(self._timeout),
                ) as client,
                client.stream(
                    "GET", url, headers=headers, extensions={"sni_hostname": host}
                ) as response,
            ):
                return await self._read(host, response)
        except (httpx.ConnectError, httpx.ConnectTimeout, OSError) as exc:
            cert_error = _certificate_error(exc)
            if cert_error is not None:
                detail = f"{host} at {address}: {cert_error.verify_message or cert_error}"
                return _Unreachable(StsError(TlsFailure.STS_WEBPKI_INVALID, detail))
            return _Unreachable(_fetch_error(f"{host} at {address}: {exc!r}"))
        except httpx.HTTPError as exc:
            return _fetch_error(f"{host} at {address}: {exc!r}")

    async def _read(self, host: str, response: httpx.Response) -> StsPolicy | StsError:
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("location", "")
            return _fetch_error(f"{host}: redirect {status} to {location!r} not followed")
        if status != 200:
            return _fetch_error(f"{host}: HTTP status {status}")
        types = response.headers.get_list("content-type")
        if len(types) != 1 or _media_type(types[0]) != "text/plain":
            return _fetch_error(f"{host}: Content-Type {types!r} is not text/plain")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            return _fetch_error(f"{host}: Content-Encoding {encoding!r} was not asked for")
        length = response.headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > MAX_POLICY_BYTES:
            return _fetch_error(f"{host}: policy of {int(length)} bytes exceeds 64 KiB")
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > MAX_POLICY_BYTES:
                return _fetch_error(f"{host}: policy exceeds 64 KiB")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return StsError(TlsFailure.STS_POLICY_INVALID, f"{host}: policy is not UTF-8")
        return parse_policy(text)


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _valid_host(host: str) -> bool:
    if len(host) > 253 or not host.isascii():
        return False
    labels = host.split(".")
    return all(
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(c.isalnum() or c == "-" or c == "_" for c in label)
        for label in labels
    )
