"""Every console page and action goes through ``page``: a live session, a caller (API key or
console user) that still exists and still holds ``console/access``, the CSRF and Origin
checks on anything but GET and HEAD, then the grants the page needs, as the API endpoint
behind it needs them. A caller without them gets the 403 page and no data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sealpost.console import render, security, users
from sealpost.console.context import ConsoleContext
from sealpost.console.sessions import SessionRecord
from sealpost.model.grants import Grant

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is logged in: ``kind`` "key" (``name`` the key id) or "user"."""

    kind: str
    name: str
    grants: frozenset[Grant]

    @property
    def by(self) -> str:
        """How admin events name this caller."""
        return f"console:{self.kind}:{self.name}"

    def holds_any(self, grants: tuple[Grant, ...]) -> bool:
        return any(g in self.grants for g in grants)


def context(request: Request) -> ConsoleContext:
    return request.app.state.console  # type: ignore[no-any-return]


async def principal_of(ctx: ConsoleContext, session: SessionRecord) -> Principal | None:
    """The session's caller with its grants of now; None when gone or without the grant."""
    grants: frozenset[Grant] = frozenset()
    if session.kind == "key":
        key = await ctx.api.store.find_key(session.subject)
        if key is not None and key.active:
            grants = key.grants
    elif session.kind == "user":
        user = await users.find_user(ctx.api.store, session.subject)
        if user is not None:
            grants = user.grants
    if Grant.CONSOLE_ACCESS not in grants:
        return None
    return Principal(session.kind, session.subject, grants)


async def form(request: Request) -> dict[str, str]:
    """The urlencoded form body (first value of each field)."""
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def forbidden(request: Request, why: str) -> Response:
    return render.page(request, "forbidden.html", {"why": why}, status=403)


def page(*grants: Grant) -> Callable[[Handler], Handler]:
    """Decorate a handler: it runs only for a logged-in caller holding ANY of ``grants``
    (none given: ``console/access`` alone)."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: Request) -> Response:
            ctx = context(request)
            session = await ctx.sessions.resume(request.cookies.get(security.SESSION_COOKIE))
            principal = None if session is None else await principal_of(ctx, session)
            if session is None or principal is None:
                if request.method not in security.SAFE_METHODS:
                    return forbidden(request, "You are not logged in.")
                target = quote(request.url.path, safe="/")
                response = RedirectResponse(f"/console/login?next={target}", status_code=303)
                if session is not None:
                    await ctx.sessions.end(session)
                return response
            request.state.session = session
            request.state.principal = principal
            if request.method not in security.SAFE_METHODS:
                if not security.same_origin(request):
                    return forbidden(request, "This request came from another site.")
                presented = request.headers.get(security.CSRF_HEADER)
                if presented is None:
                    presented = (await form(request)).get("csrf")
                if not security.tokens_match(session.csrf, presented):
                    return forbidden(request, "The form's security token is missing or stale.")
            if grants and not principal.holds_any(grants):
                names = " or ".join(f"'{g}'" for g in grants)
                return forbidden(request, f"This page needs the grant {names}.")
            return await handler(request)

        return guarded

    return decorate
