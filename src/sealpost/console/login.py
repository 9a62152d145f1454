"""``/console/login`` and ``/console/logout``.

One form: an optional user name and one password field labelled "API key". Without a user
name the secret is an API key (``api_keys.verify_key``); with one, that console user's
password (``users.verify_user``). Either must hold ``console/access``. Failures all get the
same answer. Attempts are counted per client IP (``[console] login_per_minute``, 429 with
``Retry-After`` beyond it). A successful log-in starts a new session (a fresh token: no
session fixation) and goes to ``next`` when that is a console path.
"""

from __future__ import annotations

import logging
import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sealpost.api_keys import verify_key
from sealpost.console import render, security, users
from sealpost.console.guard import context, form, page
from sealpost.model.grants import Grant

log = logging.getLogger("sealpost.console")
FAILED = "Log-in failed: check the API key (or the user name and password)."


def _next(value: str | None) -> str:
    if value and value.startswith("/console/") and "//" not in value and "\\" not in value:
        return value
    return "/console/"


def _form(request: Request, status: int = 200, error: str = "") -> Response:
    token = request.cookies.get(security.LOGIN_COOKIE) or secrets.token_urlsafe(32)
    values = {
        "login_csrf": token,
        "next": _next(request.query_params.get("next")),
        "error": error,
    }
    response = render.page(request, "login.html", values, status=status)
    security.set_cookie(response, security.LOGIN_COOKIE, token)
    return response


async def login_page(request: Request) -> Response:
    return _form(request)


async def login(request: Request) -> Response:
    ctx = context(request)
    client = request.client.host if request.client else "unknown"
    wait = ctx.logins.take(client, ctx.api.clock())
    if wait is not None:
        response = _form(request, 429, f"Too many log-in attempts; try again in {wait} s.")
        response.headers["retry-after"] = str(wait)
        return response
    fields = await form(request)
    cookie = request.cookies.get(security.LOGIN_COOKIE)
    if not security.same_origin(request) or not security.tokens_match(
        cookie or "", fields.get("csrf")
    ):
        return _form(request, 403, "The log-in form expired; please try again.")
    name = fields.get("user", "").strip().lower()
    secret = fields.get("secret", "")
    kind = subject = None
    if name:
        user = await users.verify_user(ctx.api.store, name, secret)
        if user is not None and user.allows(Grant.CONSOLE_ACCESS):
            kind, subject = "user", user.name
    else:
        key = await verify_key(ctx.api.store, secret.strip())
        if key is not None and key.allows(Grant.CONSOLE_ACCESS):
            kind, subject = "key", key.id
    if kind is None or subject is None:
        log.info("console log-in failed from %s", client)
        return _form(request, 401, FAILED)
    token, _record = await ctx.sessions.start(kind, subject)
    log.info("console log-in: %s %s from %s", kind, subject, client)
    response = RedirectResponse(_next(fields.get("next")), status_code=303)
    security.set_cookie(response, security.SESSION_COOKIE, token)
    security.clear_cookie(response, security.LOGIN_COOKIE)
    return response


@page()
async def logout(request: Request) -> Response:
    await context(request).sessions.end(request.state.session)
    response = RedirectResponse("/console/login", status_code=303)
    security.clear_cookie(response, security.SESSION_COOKIE)
    return response


ROUTES = [
    Route("/console/login", login_page, methods=["GET"]),
    Route("/console/login", login, methods=["POST"]),
    Route("/console/logout", logout, methods=["POST"]),
]
