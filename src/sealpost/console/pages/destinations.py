"""Destinations (``/console/destinations``): each recipient domain with attempts in the last
7 days, busiest first and a page at a time (``console.destinations_data``), and "check now"
(``POST /console/destinations/check``, an htmx form): the tls-check of a domain, in plain
words.

Grants, as the API has them: the list is counts of the event stream (``metrics/view``,
like ``GET /metrics/deliverability``; without it the page shows the check alone); the check
is ``GET /api/v1/tls-check`` (``tls_check/view``) with the same bounds: the server's egress
rule, SMTP ports only, hosts that did not greet reading like closed ports, and ``[api]
tls_check_per_minute`` per caller."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sealpost.api.tls_v1 import caller_check_options
from sealpost.console import render
from sealpost.console.destinations_data import check_view, destinations
from sealpost.console.guard import context, form, page
from sealpost.model.event_tally import OUTCOMES
from sealpost.model.grants import Grant
from sealpost.tlscheck import parse_target, run_check

PER_PAGE = 50
OUTCOME_WORDS = {
    "verified": "verified TLS",
    "unverified": "unverified TLS",
    "plaintext": "plaintext",
    "refused": "refused by policy",
    "other": "other failures",
}


@page(Grant.METRICS_VIEW, Grant.TLS_CHECK_VIEW)
async def listing(request: Request) -> Response:
    ctx = context(request)
    raw = request.query_params.get("page", "1")
    number = int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 1000 else 1
    found = None  # the list needs metrics/view; a tls_check/view caller sees the check only
    if Grant.METRICS_VIEW in request.state.principal.grants:
        found = await destinations(ctx.api.store, ctx.api.clock(), page=number, size=PER_PAGE)
    values = {
        "found": found,
        "outcomes": [(o, OUTCOME_WORDS[o]) for o in OUTCOMES],
        "can_check": Grant.TLS_CHECK_VIEW in request.state.principal.grants,
        "target": request.query_params.get("target", "")[:300],
    }
    return render.page(request, "destinations.html", values)


@page(Grant.TLS_CHECK_VIEW)
async def check(request: Request) -> Response:
    ctx = context(request)
    api = ctx.api
    target = (await form(request)).get("target", "").strip()[:300]
    values: dict[str, object] = {"target": target, "result": None, "error": None}
    try:
        parse_target(target)
    except ValueError as exc:
        values["error"] = f"Not a domain or host: {exc}."
        return render.partial(request, "destination_check.html", values)
    principal = request.state.principal
    # a key's budget is the API's (its id); a console user's is its own
    budget = principal.name if principal.kind == "key" else principal.by
    wait = api.tls_checks.take(budget, api.clock())
    if wait is not None:
        limit = api.config.api.tls_check_per_minute
        values["error"] = f"At most {limit} checks a minute; try again in {wait} s."
        return render.partial(request, "destination_check.html", values)
    if api.resolver is None or api.egress is None:
        values["error"] = "No DNS resolver is configured, so nothing can be checked."
        return render.partial(request, "destination_check.html", values)
    options = caller_check_options(api.config, api.egress, 5.0)
    report = await run_check(target, api.resolver, options)
    if report.refusal is not None:
        values["error"] = f"Not checked: {report.refusal}."
    else:
        values["result"] = check_view(report)
    return render.partial(request, "destination_check.html", values)


ROUTES = [
    Route("/console/destinations", listing, methods=["GET"]),
    Route("/console/destinations/check", check, methods=["POST"]),
]
