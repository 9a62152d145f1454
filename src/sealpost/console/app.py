"""The console's ASGI app and its place in front of the API (``with_console``).

Requests for ``/console`` and below go to the console (Starlette routes, static files from
the package: nothing is fetched from elsewhere at run time); everything else goes to the
API unchanged. The console sits before the API's ``Normalize`` because its forms are
``application/x-www-form-urlencoded``, which the API refuses; it caps bodies itself
(``MAX_BODY``)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from sealpost.api.context import ApiContext
from sealpost.console import login, render
from sealpost.console.context import ConsoleContext
from sealpost.console.pages import (
    api_keys,
    destinations,
    messages,
    overview,
    sending_domains,
    suppressions,
    webhooks,
)
from sealpost.console.security import SecurityHeaders

# The overview answers /console/ (or sends a caller without metrics/view to its first page).
PAGE_MODULES = (overview, messages, destinations, sending_domains, webhooks, suppressions, api_keys)
MAX_BODY = 64 * 1024
PREFIX = "/console"


async def not_found(request: Request, _exc: Exception) -> Response:
    return render.page(request, "not_found.html", {}, status=404)


def create_console(ctx: ApiContext) -> ASGIApp:
    routes = [
        *login.ROUTES,
        *(route for module in PAGE_MODULES for route in module.ROUTES),
        Mount("/console/static", StaticFiles(directory=str(render.STATIC)), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.state.console = ConsoleContext(ctx)
    return SecurityHeaders(app)


def with_console(api: ASGIApp, ctx: ApiContext) -> ASGIApp:
    """``api`` with the console answering under ``/console``."""
    console = create_console(ctx)

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/")):
            if path == PREFIX:
                await RedirectResponse(PREFIX + "/", status_code=308)(scope, receive, send)
                return
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length", b"0")
            chunked = b"transfer-encoding" in headers
            if chunked or not length.isdigit() or int(length) > MAX_BODY:
                await PlainTextResponse("request too large", 413)(scope, receive, send)
                return
            await console(scope, receive, send)
            return
        await api(scope, receive, send)

    return route
