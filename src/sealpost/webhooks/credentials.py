"""Webhook authentication: basic, the deprecated token header, OAuth2 bearer tokens.

``basic`` sends ``Authorization: Basic base64(user:password)`` (RFC 7617); ``auth_token``
goes in ``X-MessageSystems-Webhook-Token``; ``oauth2`` POSTs the client-credentials body
(RFC 6749 section 4.4.2, form-encoded) to ``auth_request_details.url`` and sends
``Authorization: Bearer <access_token>`` (RFC 6750 section 2.1), caching the token until
``expires_in`` runs out (reference 5.4). Tokens live in memory only and, like every secret
here, never appear in a log line or an error text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass

import httpx

from sealpost.webhooks.definition import AuthType, OAuthRequest, Webhook, redact_target

MAX_TOKEN_RESPONSE = 64 * 1024
DEFAULT_EXPIRES_IN = 3600.0
EARLY_REFRESH = 30.0  # refetch this long before the token expires
_TOKEN_VALUE = re.compile(r"^[\x21-\x7e]{1,4096}$")  # RFC 6750 b64token, loosely


class TokenError(Exception):
    """No usable token; the message is safe to log (no secrets)."""


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    expires_at: float


def static_headers(hook: Webhook) -> dict[str, str]:
    """Custom headers plus the authentication that needs no round trip."""
    headers = dict(hook.custom_headers)
    if hook.auth_type is AuthType.BASIC and hook.basic is not None:
        pair = f"{hook.basic.username}:{hook.basic.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    if hook.auth_token:
        headers["X-MessageSystems-Webhook-Token"] = hook.auth_token
    return headers


class TokenCache:
    """Tokens per webhook and per token request (a changed secret means a new token)."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}

    @staticmethod
    def _key(hook: Webhook) -> str:
        assert hook.oauth is not None
        material = json.dumps([hook.id, hook.oauth.url, sorted(hook.oauth.body.items())])
        return f"{hook.id}:{hashlib.sha256(material.encode()).hexdigest()}"

    def get(self, hook: Webhook, now: float) -> str | None:
        token = self._tokens.get(self._key(hook))
        if token is None or now >= token.expires_at - EARLY_REFRESH:
            return None
        return token.value

    def put(self, hook: Webhook, token: Token) -> None:
        self._tokens[self._key(hook)] = token

    def forget(self, hook: Webhook) -> None:
        self._tokens.pop(self._key(hook), None)

    def forget_webhook(self, webhook_id: str) -> None:
        """Drop every token of a deleted webhook."""
        prefix = f"{webhook_id}:"
        self._tokens = {k: v for k, v in self._tokens.items() if not k.startswith(prefix)}


async def fetch_token(client: httpx.AsyncClient, request: OAuthRequest, now: float) -> Token:
    """POST the client-credentials body; the token and its lifetime, or ``TokenError``."""
    where = redact_target(request.url)
    try:
        async with client.stream(
            "POST",
            request.url,
            data=dict(request.body),
            headers={"Accept": "application/json"},
        ) as response:
            raw = b""
            async for chunk in response.aiter_bytes():
                raw += chunk
                if len(raw) > MAX_TOKEN_RESPONSE:
                    raise TokenError(f"token endpoint {where}: response too large")
            status = response.status_code
    except httpx.HTTPError:  # one text for refused, reset, timed out and TLS: no port oracle
        raise TokenError(f"token endpoint {where}: no HTTP response") from None
    if not 200 <= status < 300:
        raise TokenError(f"token endpoint {where}: HTTP {status}")
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise TokenError(f"token endpoint {where}: response is not JSON") from None
    value = parsed.get("access_token") if isinstance(parsed, dict) else None
    if not isinstance(value, str) or not _TOKEN_VALUE.match(value):
        raise TokenError(f"token endpoint {where}: no usable access_token")
    lifetime = parsed.get("expires_in", DEFAULT_EXPIRES_IN)
    try:
        seconds = float(lifetime)
    except (TypeError, ValueError):
        seconds = DEFAULT_EXPIRES_IN
    if not seconds > 0:  # negative, zero or NaN: use it for this request only
        seconds = EARLY_REFRESH
    return Token(value, now + min(seconds, 365 * 86400.0))
