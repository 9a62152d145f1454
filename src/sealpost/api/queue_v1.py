"""``/api/v1/queue`` (Sealpost extension; reads need ``queue/view``, changes
``queue/manage``): the operator's queue
administration over HTTP, as ``sealpost queue`` does it on the command line
(``model.queue_admin``, ``store.contracts.queue_admin``).

- ``GET /queue``: the queue by recipient domain, state and age (Postfix ``qshape``) and the
  number of messages per state.
- ``POST /queue``: ``{"action": "hold"|"release"|"retry"|"cancel"|"bounce", "selection":
  {...}, "dry_run": false}`` acts on every selected message; ``dry_run`` only counts. An
  empty selection must say ``"all": true``, so a forgotten filter never cancels the queue.
- ``GET|POST /queue/suspensions``, ``DELETE /queue/suspensions/{domain}``: standing
  suspensions of destination domains (every node obeys them).

Every change leaves ``admin`` events naming the key (``by``). Bad input is ``422`` naming
the field; nothing is changed then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from sealpost.api.auth import needs, require_key
from sealpost.api.context import ApiContext
from sealpost.api.errors import invalid, missing, not_found
from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.grants import Grant
from sealpost.model.queue_admin import (
    AGE_LABELS,
    AdminAction,
    Selection,
    SelectionError,
    Suspension,
    normalize_domain,
    parse_age,
)

router = APIRouter(dependencies=[Depends(require_key)], tags=["queue"])
Manager = Annotated[ApiKeyRecord, needs(Grant.QUEUE_MANAGE)]
_FILTERS = ("domain", "sender", "campaign", "older_than", "younger_than", "state", "message_id")


def selection_of(raw: Any, everything: bool) -> Selection:
    """The request's ``selection`` object as a checked ``Selection``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise invalid("selection", "must be an object")
    values: dict[str, Any] = {}
    for name in _FILTERS:
        value = raw.get(name)
        if value is None:
            continue
        if name in ("older_than", "younger_than"):
            ok = isinstance(value, str | int | float) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise invalid(f"selection.{name}", "wrong type")
        values[name] = value
    try:
        selection = Selection.of(**values)
    except SelectionError as exc:
        raise invalid(f"selection.{exc.field}", str(exc)) from None
    if not selection.as_dict() and not everything:
        raise invalid("selection", 'empty: name a filter, or say "all": true')
    return selection


@router.get("/queue", dependencies=[needs(Grant.QUEUE_VIEW)], summary="Queue shape")
async def queue_summary(request: Request) -> dict[str, Any]:
    ctx: ApiContext = request.app.state.ctx
    now = ctx.clock()
    rows = await ctx.store.queue_summary(now)
    domains: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        counts = domains.setdefault((row.domain, row.state), [0] * len(AGE_LABELS))
        counts[row.bucket] += row.recipients
    return {
        "results": {
            "messages": await ctx.store.count(),
            "age_buckets": list(AGE_LABELS),
            "domains": [
                {"domain": d, "state": s, "recipients": sum(c), "by_age": c}
                for (d, s), c in sorted(domains.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
            ],
        }
    }


@router.post("/queue", summary="Act on a selection of queued messages")
async def queue_action(
    request: Request, key: Manager, body: Annotated[Any, Body()] = None
) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise invalid("body", "must be a JSON object")
    if body.get("action") is None:
        raise missing("action")
    try:
        action = AdminAction(body["action"])
    except (ValueError, TypeError):
        choices = ", ".join(a.value for a in AdminAction)
        raise invalid("action", f"must be one of {choices}") from None
    for flag in ("dry_run", "all"):
        if not isinstance(body.get(flag, False), bool):
            raise invalid(flag, "must be true or false")
    selection = selection_of(body.get("selection"), bool(body.get("all", False)))
    ctx: ApiContext = request.app.state.ctx
    now = ctx.clock()
    dry_run = bool(body.get("dry_run", False))
    if dry_run:
        count = await ctx.store.count_selected(action, selection, now)
    else:
        count = await ctx.store.apply_selection(action, selection, now, by=key.id)
    return {
        "results": {
            "action": action.value,
            "selection": selection.as_dict(),
            "count": count,
            "dry_run": dry_run,
        }
    }


@router.get(
    "/queue/suspensions", dependencies=[needs(Grant.QUEUE_VIEW)], summary="Domain suspensions"
)
async def list_suspensions(request: Request) -> dict[str, Any]:
    ctx: ApiContext = request.app.state.ctx
    return {"results": [s.as_dict() for s in await ctx.store.suspensions(ctx.clock())]}


@router.post("/queue/suspensions", summary="Suspend delivery to a domain")
async def suspend(
    request: Request, key: Manager, body: Annotated[Any, Body()] = None
) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise invalid("body", "must be a JSON object")
    if not body.get("domain"):
        raise missing("domain")
    if not isinstance(body["domain"], str):
        raise invalid("domain", "must be a string")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 500:
        raise invalid("reason", "must be a string of at most 500 characters")
    duration = body.get("for")
    try:
        domain = normalize_domain(body["domain"])
        seconds = None if duration is None else parse_age(duration, "for")
    except SelectionError as exc:
        raise invalid(exc.field, str(exc)) from None
    if seconds is not None and seconds <= 0:
        raise invalid("for", "must be positive (or absent: until resumed)")
    ctx: ApiContext = request.app.state.ctx
    now = ctx.clock()
    until = None if seconds is None else now + seconds
    suspension = Suspension(domain, now, until, reason, key.id)
    parked = await ctx.store.suspend_domain(suspension, now)
    return {"results": {**suspension.as_dict(), "parked": parked}}


@router.delete("/queue/suspensions/{domain}", summary="Resume delivery to a domain")
async def resume(request: Request, domain: str, key: Manager) -> dict[str, Any]:
    try:
        name = normalize_domain(domain)
    except SelectionError as exc:
        raise invalid("domain", str(exc)) from None
    ctx: ApiContext = request.app.state.ctx
    if not await ctx.store.resume_domain(name, ctx.clock(), by=key.id):
        raise not_found(f"queue suspension {name}")
    return {"results": {"domain": name, "resumed": True}}
