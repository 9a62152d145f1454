"""Rendering the console's Jinja2 templates (``templates/``, autoescaped) into responses."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from sealpost.console.nav import visible

TEMPLATES = files("sealpost.console") / "templates"
STATIC = files("sealpost.console") / "static"

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(ts: float | None) -> str:
    """A time as people read it, in UTC."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_env.filters["when"] = when


def page(
    request: Request, template: str, values: dict[str, Any], status: int = 200
) -> HTMLResponse:
    """``template`` rendered with the session's menu, CSRF token and who is logged in."""
    session = getattr(request.state, "session", None)
    principal = getattr(request.state, "principal", None)
    csrf = session.csrf if session is not None else values.get("login_csrf", "")

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="csrf" value="{}">').format(escape(csrf))

    context = {
        "request": request,
        "path": request.url.path,
        "csrf": csrf,
        "csrf_field": csrf_field,
        "principal": principal,
        "nav": visible(principal.grants) if principal is not None else [],
        **values,
    }
    body = _env.get_template(template).render(context)
    return HTMLResponse(body, status_code=status)


def partial(request: Request, template: str, values: dict[str, Any]) -> HTMLResponse:
    """A fragment for an htmx swap (no layout); same context as ``page``."""
    return page(request, template, values)
