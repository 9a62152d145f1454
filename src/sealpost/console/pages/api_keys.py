"""API keys (``/console/api-keys``): list, create (the key is shown once, on the page that
answers the creation, and never again: the store keeps only its salted hash) and revoke.

Grant: ``api_keys/manage`` (Sealpost's; the CLI's ``sealpost keys`` runs as the operator and
needs none). A new key gets only grants its creator holds, so the page cannot be used to
climb to grants one does not have; likewise a caller revokes only keys whose grants it all
holds (a lesser caller cannot cut off a stronger key), and never the key of its own
session."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sealpost.api_keys import create_key, revoke_key
from sealpost.console import render
from sealpost.console.guard import context, form, page
from sealpost.model.grants import Grant, in_order, parse_grant

MAX_LABEL = 200


async def _page(request: Request, values: dict[str, object], status: int = 200) -> Response:
    ctx = context(request)
    keys = sorted(await ctx.api.store.list_keys(), key=lambda k: k.created_at, reverse=True)
    held = request.state.principal.grants
    offered = [(g.value, g.description) for g in in_order(held)]
    return render.page(
        request,
        "api_keys.html",
        {"keys": keys, "offered": offered, "new_key": None, "error": None, **values},
        status=status,
    )


@page(Grant.API_KEYS_MANAGE)
async def listing(request: Request) -> Response:
    return await _page(request, {"done": request.query_params.get("done", "")[:40]})


@page(Grant.API_KEYS_MANAGE)
async def create(request: Request) -> Response:
    ctx = context(request)
    body = (await request.body()).decode("utf-8", "replace")
    fields = parse_qs(body, keep_blank_values=True)
    label = (fields.get("label") or [""])[0].strip()[:MAX_LABEL]
    names = fields.get("grants") or []
    grants = {parse_grant(n) for n in names}
    held = request.state.principal.grants
    if not label:
        return await _page(request, {"error": "Give the key a label."}, 400)
    if None in grants or not grants:
        return await _page(request, {"error": "Choose at least one grant."}, 400)
    if not grants <= held:
        return await _page(request, {"error": "A key can only get grants you hold."}, 403)
    domains_text = (fields.get("sender_domains") or [""])[0]
    domains = tuple(d for d in domains_text.replace(",", " ").split() if d)
    key, record = await create_key(
        ctx.api.store, label, ctx.api.clock(), domains, {g for g in grants if g is not None}
    )
    return await _page(request, {"new_key": key, "new_record": record})


@page(Grant.API_KEYS_MANAGE)
async def revoke(request: Request) -> Response:
    ctx = context(request)
    key_id = (await form(request)).get("key_id", "")[:40]
    principal = request.state.principal
    if principal.kind == "key" and principal.name == key_id:
        why = "You cannot revoke the key you are logged in with."
        return await _page(request, {"error": why}, 400)
    record = await ctx.api.store.find_key(key_id)
    if record is not None and not record.grants <= principal.grants:
        why = "A key with grants you do not hold can only be revoked by a caller holding them."
        return await _page(request, {"error": why}, 403)
    if not await revoke_key(ctx.api.store, key_id, ctx.api.clock()):
        return await _page(request, {"error": f"No active key {key_id}."}, 404)
    return RedirectResponse("/console/api-keys?done=revoked", status_code=303)


ROUTES = [
    Route("/console/api-keys", listing, methods=["GET"]),
    Route("/console/api-keys/create", create, methods=["POST"]),
    Route("/console/api-keys/revoke", revoke, methods=["POST"]),
]
