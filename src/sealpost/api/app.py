"""The FastAPI application: routers, SparkPost conventions, body limits, OpenAPI.

SparkPost treats ``/transmissions`` and ``/transmissions/`` alike and ignores unknown query
parameters and fields (reference section 1), so paths are normalised before routing and
models ignore extra keys. OpenAPI is served at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from sealpost.api import (
    errors,
    events_v1,
    metrics_v1,
    queue_v1,
    sending_domains_v1,
    suppression_list_v1,
    templates_v1,
    tls_reports_v1,
    tls_v1,
    transmissions_v1,
    webhooks_v1,
)
from sealpost.api.context import ApiContext

log = logging.getLogger("sealpost.api")

ROUTERS = (
    transmissions_v1.router,
    templates_v1.router,
    events_v1.router,
    metrics_v1.router,
    webhooks_v1.router,
    sending_domains_v1.router,
    suppression_list_v1.router,
    tls_v1.router,
    tls_reports_v1.router,
    queue_v1.router,
)


class Normalize:
    """Strip a trailing slash; refuse bodies over the limit before they are read."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = {**scope, "path": path.rstrip("/"), "raw_path": path.rstrip("/").encode()}
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                await _too_large(send)
                return
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            has_body = length not in (None, b"0") or b"transfer-encoding" in headers
            accepted = _REPORTS if scope["path"] == _REPORTS_PATH else _JSON
            if scope["method"] in ("POST", "PUT") and has_body and kind not in accepted:
                await _unsupported(send)
                return
            # DELETE too: DELETE /suppression-list/{recipient} reads an optional body.
            if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
                body = await _read_capped(receive, self.max_body)
                if body is None:  # a chunked body grew past the limit while being read
                    await _too_large(send)
                    return
                receive = _replay(body, receive)
        await self.app(scope, receive, send)


async def _read_capped(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it passes ``limit`` (memory stays bounded)."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> dict:  # type: ignore[type-arg]
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then whatever comes next (a disconnect)

    return replay


_JSON = (b"application/json", b"")  # SparkPost: any other Content-Type is 415 / 1700
# POST /api/v1/tls-reports also takes RFC 8460 section 5.4's types (tls_reports_v1).
_REPORTS_PATH = "/api/v1/tls-reports"
_REPORTS = (*_JSON, *(t.encode() for t in tls_reports_v1.CONTENT_TYPES))


async def _too_large(send: Send) -> None:
    await _refuse(send, 413, b'{"errors":[{"message":"request body too large","code":"1300"}]}')


async def _unsupported(send: Send) -> None:
    body = (
        b'{"errors":[{"message":"Unsupported Content-Type","description":'
        b'"send the body as application/json (TLS-RPT reports: application/tlsrpt+json or '
        b'application/tlsrpt+gzip)","code":"1700"}]}'
    )
    await _refuse(send, 415, body)


async def _refuse(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="Sealpost API",
        version="1",
        description="SparkPost-compatible REST API of a Sealpost server.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router, prefix="/api/v1")
    return app


def asgi(ctx: ApiContext) -> ASGIApp:
    return Normalize(create_app(ctx), ctx.config.api.max_request_bytes)
