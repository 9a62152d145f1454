"""The console's browser-facing defences: response headers, the CSRF and Origin checks and
the session cookie's attributes.

- Content-Security-Policy: scripts, styles and images only from the console itself (no
  inline script or style; ``img-src data:`` for the SVG charts), no framing, forms post only
  here. With ``nosniff``, ``Referrer-Policy: same-origin`` (``no-referrer`` would make
  Chromium send ``Origin: null`` on the console's own forms), ``X-Frame-Options: DENY``,
  ``Cross-Origin-Opener-Policy`` and ``Cache-Control: no-store`` on pages (they show mail
  data), static files may be cached.
- CSRF: every request but GET and HEAD must carry the session's token, as the form field
  ``csrf`` or the header ``X-CSRF-Token`` (htmx, set by ``static/console.js``), compared in
  constant time; and a request whose ``Origin`` (or, without one, ``Referer``) names another
  site is refused before that. The cookie's ``SameSite=Strict`` is a third layer, not the
  only one. The log-in form, which has no session yet, uses a double-submit token: a random
  value in a ``__Host-`` cookie and in the form.
- Cookies: ``__Host-`` prefix (``Secure``, ``Path=/``, no ``Domain``), ``HttpOnly``,
  ``SameSite=Strict``; no expiry, the idle timeout is the server's (``sessions``).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "__Host-sealpost-console"
LOGIN_COOKIE = "__Host-sealpost-login"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]


class SecurityHeaders:
    """Adds the headers above to every console response; ``no-store`` except static files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/console/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if static or k.lower() != b"cache-control"
                ]
                headers += _HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def same_origin(request: Request) -> bool:
    """False when the request says it comes from another origin (``Origin``, else
    ``Referer``); a request naming neither is judged by its CSRF token alone."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed or claimed == "null":
        return claimed is None
    parts = urlsplit(claimed)
    host = request.headers.get("host", "")
    return parts.scheme == "https" and parts.netloc.lower() == host.lower()


def tokens_match(expected: str, presented: str | None) -> bool:
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode("utf-8", "replace"))


def set_cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/", secure=True, httponly=True, samesite="strict")


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")
