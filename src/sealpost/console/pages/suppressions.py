"""Suppression list (``/console/suppressions``): search with server-side paging, add and
remove, as ``/api/v1/suppression-list`` does them.

Grants, as the API has them: reading needs ``suppression_lists/view``; adding and removing
need ``suppression_lists/manage``. A search is an exact recipient (with an ``@``), or a
domain (the part after the ``@``), or nothing (the whole list); pages follow the store's
(recipient, type) order by cursor, ``PER_PAGE`` entries at a time whatever the list's size.
Entries added here are ``Manually Added``, like the API's."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sealpost.api.errors import ApiError
from sealpost.api.suppression_models import MAX_DESCRIPTION, address_of
from sealpost.console import render
from sealpost.console.guard import context, form, page
from sealpost.model.grants import Grant
from sealpost.model.suppression import (
    Suppression,
    SuppressionQuery,
    SuppressionSource,
    SuppressionType,
    recipient_key,
)

PER_PAGE = 50
TYPES = {t.value: t for t in SuppressionType}


def _cursor(raw: str) -> tuple[str, str] | None:
    recipient, sep, kind = raw.rpartition(" ")
    return (recipient, kind) if sep and kind in TYPES and len(raw) <= 400 else None


@page(Grant.SUPPRESSION_LISTS_VIEW)
async def listing(request: Request) -> Response:
    store = context(request).api.store
    q = request.query_params.get("q", "").strip()[:320]
    after = _cursor(request.query_params.get("after", ""))
    if "@" in q:
        rows = await store.suppressions_of(recipient_key(q))
        total, more = len(rows), False
    else:
        domain = q.lower().lstrip("@").rstrip(".") or None
        query = SuppressionQuery(domain=domain, after=after, limit=PER_PAGE + 1)
        found = await store.search_suppressions(query)
        rows, more = found[:PER_PAGE], len(found) > PER_PAGE
        total = await store.count_suppressions(query)
    next_link = None
    if more:
        last = rows[-1]
        cursor = f"{last.recipient} {last.type.value}"
        next_link = "/console/suppressions?" + urlencode({"q": q, "after": cursor})
    values = {
        "q": q,
        "rows": rows,
        "total": total,
        "next_link": next_link,
        "paged": after is not None,
        "types": list(TYPES),
        "can_manage": Grant.SUPPRESSION_LISTS_MANAGE in request.state.principal.grants,
        "done": request.query_params.get("done", "")[:40],
        "error": request.query_params.get("error", "")[:300],
    }
    return render.page(request, "suppressions.html", values)


def _back(**values: str) -> Response:
    return RedirectResponse("/console/suppressions?" + urlencode(values), status_code=303)


@page(Grant.SUPPRESSION_LISTS_MANAGE)
async def add(request: Request) -> Response:
    ctx = context(request)
    fields = await form(request)
    try:
        address = address_of("recipient", fields.get("recipient"))
    except ApiError as exc:
        return _back(error=exc.description or exc.message)
    kinds = list(TYPES.values()) if fields.get("type") == "both" else []
    if not kinds:
        kind = TYPES.get(fields.get("type", ""))
        if kind is None:
            return _back(error="Choose a type.")
        kinds = [kind]
    description = fields.get("description", "")[:MAX_DESCRIPTION]
    now = ctx.api.clock()
    entries = [
        Suppression(address, k, SuppressionSource.MANUALLY_ADDED, description, now, now)
        for k in kinds
    ]
    await ctx.api.store.put_suppressions(entries)
    return _back(q=address, done="added")


@page(Grant.SUPPRESSION_LISTS_MANAGE)
async def remove(request: Request) -> Response:
    ctx = context(request)
    fields = await form(request)
    try:
        address = address_of("recipient", fields.get("recipient"))
    except ApiError as exc:
        return _back(error=exc.description or exc.message)
    kind = TYPES.get(fields.get("type", ""))
    removed = await ctx.api.store.delete_suppressions(address, kind)
    if not removed:
        return _back(q=address, error=f"{address} is not on the list.")
    return _back(q=address, done="removed")


ROUTES = [
    Route("/console/suppressions", listing, methods=["GET"]),
    Route("/console/suppressions/add", add, methods=["POST"]),
    Route("/console/suppressions/remove", remove, methods=["POST"]),
]
