"""One webhook POST over HTTPS with certificate verification, bounded in time and memory.

TLS: the system trust store plus ``delivery.ca_file``, host names checked, TLS 1.2 or newer;
no redirects are followed. Each POST (token fetch included) is bounded by ``timeout``
(SparkPost: 10 s, reference 5.4) as a whole, not per read, so a receiver dripping bytes
cannot hold a worker; at most ``max_concurrent`` POSTs run at once. Success is any 2xx.
With OAuth2, a 400 or 401 from the receiver is taken as an expired token: the token is
fetched again and the POST repeated once (reference 5.4).

Egress (DESIGN.md section 9): before each POST the webhook's hosts (target and token
endpoint) are cleared by the ``TargetGuard`` (``webhooks.targets``), or a ``Route`` the API
already cleared is used; connections then go only to those checked addresses
(``net.pinned_http``: no second DNS lookup). A refused host is never contacted: the result
is the failure ``target_refused``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sealpost.model.egress import TargetGuard
from sealpost.model.webhook_delivery import FailureCode
from sealpost.net.client_tls import verifying
from sealpost.net.pinned_http import PinnedTransport, pinned
from sealpost.webhooks.credentials import TokenCache, TokenError, fetch_token, static_headers
from sealpost.webhooks.definition import AuthType, Webhook, redact_target
from sealpost.webhooks.targets import Route, TargetRefusal, clear_hook

USER_AGENT = "Sealpost-Webhooks/1"
MAX_RESPONSE_KEPT = 4096


class _RedactUrls(logging.Filter):
    """httpx logs every request URL at INFO; a target's query string may hold a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                redact_target(str(a)) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _RedactUrls) for f in _httpx_log.filters):
    _httpx_log.addFilter(_RedactUrls())


@dataclass(frozen=True, slots=True)
class PostResult:
    """What one POST came to. ``detail`` is safe to log and to show (no secrets)."""

    status: int | None
    latency_ms: int
    failure: FailureCode | None = None
    detail: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is None


def _is_tls_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return "SSL" in str(exc) or "CERTIFICATE" in str(exc).upper()


class Sender:
    """POSTs webhook bodies. Create it in the event loop that uses it; ``close`` at the end.

    ``guard`` is required unless a test hands in its own ``transport`` (httpx's
    ``MockTransport``, which opens no connection)."""

    def __init__(
        self,
        *,
        guard: TargetGuard | None = None,
        ca_file: Path | None = None,
        timeout: float = 10.0,
        max_concurrent: int = 10,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if guard is None and transport is None:
            raise TypeError("a Sender that opens connections needs the egress guard")
        self.timeout = timeout
        self.clock = clock
        self.guard = guard
        self.tokens = TokenCache()
        self._limit = asyncio.Semaphore(max_concurrent)
        limits = httpx.Limits(
            max_connections=max_concurrent, max_keepalive_connections=max_concurrent
        )
        self._client = httpx.AsyncClient(
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": USER_AGENT},
            transport=transport or PinnedTransport(verify=verifying(ca_file), limits=limits),
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def clear(self, hook: Webhook) -> Route | TargetRefusal:
        """The webhook's hosts through the egress rule (no guard: a test transport)."""
        if self.guard is None:
            return Route()
        return await clear_hook(self.guard, hook)

    async def post(
        self, hook: Webhook, body: bytes, batch_id: str, route: Route | None = None
    ) -> PostResult:
        """POST ``body``; ``route`` is a clearance made just before (else one is made)."""
        async with self._limit:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.timeout):
                    cleared = route if route is not None else await self.clear(hook)
                    if isinstance(cleared, TargetRefusal):
                        code = FailureCode.REFUSED if cleared.by_rule else FailureCode.CONNECTION
                        return PostResult(None, _ms(started), code, cleared.message)
                    with pinned(cleared.hosts):
                        return await self._post(hook, body, batch_id, started)
            except TimeoutError:
                return PostResult(None, _ms(started), FailureCode.TIMEOUT, "timed out")

    async def _post(self, hook: Webhook, body: bytes, batch_id: str, started: float) -> PostResult:
        headers = {
            **static_headers(hook),
            "Content-Type": "application/json",
            "X-MessageSystems-Batch-ID": batch_id,
        }
        if hook.auth_type is not AuthType.OAUTH2:
            return await self._send(hook.target, body, headers, started)
        fresh = False
        token = self.tokens.get(hook, self.clock())
        for _ in range(2):
            if token is None:
                assert hook.oauth is not None
                try:
                    got = await fetch_token(self._client, hook.oauth, self.clock())
                except TokenError as exc:
                    return PostResult(None, _ms(started), FailureCode.AUTH, str(exc))
                self.tokens.put(hook, got)
                token, fresh = got.value, True
            headers["Authorization"] = f"Bearer {token}"
            result = await self._send(hook.target, body, headers, started)
            if result.status not in (400, 401) or fresh:
                return result
            self.tokens.forget(hook)
            token = None
        return result

    async def _send(
        self, url: str, body: bytes, headers: dict[str, str], started: float
    ) -> PostResult:
        try:
            async with self._client.stream("POST", url, content=body, headers=headers) as resp:
                kept = b""
                async for chunk in resp.aiter_bytes():
                    kept += chunk
                    if len(kept) >= MAX_RESPONSE_KEPT:
                        break
                status = resp.status_code
                response_headers = {k.lower(): v for k, v in resp.headers.items()}
        except httpx.TimeoutException:
            return PostResult(None, _ms(started), FailureCode.TIMEOUT, "timed out")
        except httpx.HTTPError as exc:
            code = FailureCode.TLS if _is_tls_error(exc) else FailureCode.CONNECTION
            return PostResult(None, _ms(started), code, f"{type(exc).__name__}: {exc}"[:300])
        except (ssl.SSLError, OSError) as exc:
            code = FailureCode.TLS if isinstance(exc, ssl.SSLError) else FailureCode.CONNECTION
            return PostResult(None, _ms(started), code, f"{type(exc).__name__}: {exc}"[:300])
        text = kept[:MAX_RESPONSE_KEPT].decode("utf-8", "replace")
        failure = None if 200 <= status < 300 else FailureCode.HTTP_STATUS
        return PostResult(status, _ms(started), failure, f"HTTP {status}", response_headers, text)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
