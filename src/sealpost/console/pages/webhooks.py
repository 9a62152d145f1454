"""Webhooks (``/console/webhooks``): each webhook's target, events and state, its last
successful and failed batch, and its recent batches (the last day, newest first), failures
marked, as ``GET /api/v1/webhooks/{id}/batch-status`` shows them.

Grant: ``webhooks/view``, as the API's webhook reads. Secrets are never shown (the target,
name and event list only)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sealpost.console import render
from sealpost.console.guard import context, page
from sealpost.model.grants import Grant
from sealpost.model.webhook_delivery import BatchStatus, DeliveryState
from sealpost.webhooks import definition
from sealpost.webhooks.definition import Webhook
from sealpost.webhooks.state import load_state

BATCHES_SHOWN = 20
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class HookRow:
    hook: Webhook
    state: DeliveryState | None
    batches: tuple[BatchStatus, ...]  # newest first
    failures: int  # of the last day's batches


@page(Grant.WEBHOOKS_VIEW)
async def listing(request: Request) -> Response:
    ctx = context(request)
    store = ctx.api.store
    now = ctx.api.clock()
    docs = await store.list_documents(definition.KIND)
    hooks = sorted((Webhook.from_payload(d.payload) for d in docs), key=lambda h: h.created_at)
    rows = []
    for hook in hooks:
        state = await load_state(store, hook.id)
        recent = [s for s in reversed(state.history) if now - s.ts < DAY] if state else []
        failures = sum(1 for s in recent if s.failure_code is not None)
        rows.append(HookRow(hook, state, tuple(recent[:BATCHES_SHOWN]), failures))
    return render.page(request, "webhooks.html", {"rows": rows})


ROUTES = [Route("/console/webhooks", listing, methods=["GET"])]
