"""Messages: search (``/console/messages``), one message (``/console/messages/<id>``, the
``message_id`` of the events API) and its retry, hold, release and cancel buttons.

Grants, as the API has them: searching by recipient, sender, id or campaign reads the
``injection`` events (``message_events/view``, like ``GET /events/message``); listing by state
alone reads the queue (``queue/view``, like ``GET /queue``); a message's timeline is its
events (``message_events/view``), its envelope and headers are the queue's (``queue/view``);
the buttons act as ``POST /queue`` does (``queue/manage``) on a one-message selection,
leaving an ``admin`` event that names the console caller. Paging is by cursor, on the
server: the store is asked for one page (``PER_PAGE``) at a time, whatever the total; a
search lists the newest first, the queue by state the oldest first (as ``queue list``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sealpost.console import render
from sealpost.console.context import ConsoleContext
from sealpost.console.guard import context, forbidden, page
from sealpost.console.tls_view import attempt_view
from sealpost.model.events import EventQuery
from sealpost.model.grants import Grant
from sealpost.model.queue import MESSAGE_STATES
from sealpost.model.queue_admin import AdminAction, Selection

PER_PAGE = 50
DAY = 86400.0
WINDOWS = {"1": "last day", "7": "last 7 days", "30": "last 30 days", "365": "last year"}
FILTERS = ("recipient", "sender", "id", "campaign")
ACTIONS_BY_STATE = {
    "queued": (AdminAction.RETRY, AdminAction.HOLD, AdminAction.CANCEL),
    "held": (AdminAction.RELEASE, AdminAction.CANCEL),
}
BUTTON = {
    AdminAction.RETRY: "Retry now",
    AdminAction.HOLD: "Hold",
    AdminAction.RELEASE: "Release",
    AdminAction.CANCEL: "Cancel",
}


def _params(request: Request) -> dict[str, str]:
    q = request.query_params
    values = {name: q.get(name, "").strip()[:320] for name in (*FILTERS, "state")}
    values["days"] = q.get("days", "7") if q.get("days") in WINDOWS else "7"
    if values["state"] not in MESSAGE_STATES:
        values["state"] = ""
    return values


def _cursor(request: Request) -> str | None:
    cursor = request.query_params.get("cursor", "")
    return cursor if cursor and len(cursor) <= 200 else None


@page(Grant.MESSAGE_EVENTS_VIEW, Grant.QUEUE_VIEW)
async def search(request: Request) -> Response:
    ctx = context(request)
    principal = request.state.principal
    params = _params(request)
    cursor = _cursor(request)
    by_queue = bool(params["state"]) and not any(params[f] for f in FILTERS)
    if not any(params[f] for f in FILTERS) and not principal.holds_any(
        (Grant.MESSAGE_EVENTS_VIEW,)
    ):
        by_queue = True  # a queue/view caller lists the queue
    needed = Grant.QUEUE_VIEW if by_queue else Grant.MESSAGE_EVENTS_VIEW
    if needed not in principal.grants:
        return forbidden(request, f"This search needs the grant '{needed}'.")
    if by_queue:
        rows, next_cursor, total = await _queue_rows(ctx, params["state"] or None, cursor)
    else:
        rows, next_cursor, total = await _event_rows(request, params, cursor)
    next_link = None
    if next_cursor is not None:
        query = {k: v for k, v in params.items() if v}
        next_link = f"/console/messages?{urlencode({**query, 'cursor': next_cursor})}"
    values = {
        "params": params,
        "rows": rows,
        "total": total,
        "next_link": next_link,
        "first_link": "/console/messages?" + urlencode({k: v for k, v in params.items() if v}),
        "paged": cursor is not None,
        "states": MESSAGE_STATES,
        "windows": WINDOWS,
        "by_queue": by_queue,
    }
    return render.page(request, "messages.html", values)


async def _queue_rows(
    ctx: ConsoleContext, state: str | None, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None, int | None]:
    wanted = state if state in MESSAGE_STATES else None
    found = await ctx.api.store.list(state=wanted, limit=PER_PAGE + 1, after=cursor)  # type: ignore[arg-type]
    rows = [
        {
            "id": m.id,
            "when": m.created_at,
            "sender": m.mail_from or "<>",
            "recipient": f"{m.recipient_count} recipient(s)",
            "subject": "",
            "campaign": "",
            "state": m.state,
        }
        for m in found[:PER_PAGE]
    ]
    counts = await ctx.api.store.count()
    total = counts.get(state, 0) if state else sum(counts.values())
    return rows, (found[PER_PAGE - 1].id if len(found) > PER_PAGE else None), total


async def _event_rows(
    request: Request, params: dict[str, str], cursor: str | None
) -> tuple[list[dict[str, Any]], str | None, int | None]:
    ctx = context(request)
    now = ctx.api.clock()
    after = int(cursor) if cursor and cursor.isascii() and cursor.isdigit() else None
    query = EventQuery(
        types=("injection",),
        recipients=[params["recipient"]] if params["recipient"] else [],
        senders=[params["sender"]] if params["sender"] else [],
        message_ids=[params["id"]] if params["id"] else [],
        campaign_ids=[params["campaign"]] if params["campaign"] else [],
        from_time=now - int(params["days"]) * DAY,
        after=after,
        limit=PER_PAGE + 1,
        newest_first=True,
    )
    store = ctx.api.store
    found = await store.search_events(query)
    page_events = found[:PER_PAGE]
    total = await store.count_events(query)
    show_state = Grant.QUEUE_VIEW in request.state.principal.grants
    states: dict[str, str] = {}
    rows = []
    for event in page_events:
        f = event.fields
        if show_state and event.message_id not in states:
            stored = await store.get(event.message_id)
            states[event.message_id] = stored.state if stored is not None else "gone"
        state = states.get(event.message_id, "")
        if params["state"] and show_state and state != params["state"]:
            continue
        rows.append(
            {
                "id": event.message_id,
                "when": event.timestamp,
                "sender": f.get("msg_from") or "<>",
                "recipient": event.rcpt_to or f.get("rcpt_to", ""),
                "subject": f.get("subject", ""),
                "campaign": f.get("campaign_id", ""),
                "state": state,
            }
        )
    more = len(found) > PER_PAGE and page_events[-1].event_id is not None
    return rows, (str(page_events[-1].event_id) if more else None), total


@page(Grant.MESSAGE_EVENTS_VIEW, Grant.QUEUE_VIEW)
async def message(request: Request) -> Response:
    ctx = context(request)
    principal = request.state.principal
    message_id = request.path_params["message_id"]
    events = []
    if Grant.MESSAGE_EVENTS_VIEW in principal.grants:
        query = EventQuery(message_ids=[message_id], limit=1000)
        events = await ctx.api.store.search_events(query)
    stored = None
    if Grant.QUEUE_VIEW in principal.grants:
        stored = await ctx.api.store.get(message_id)
    if not events and stored is None:
        return render.page(request, "not_found.html", {"what": f"message {message_id}"}, 404)
    actions: tuple[AdminAction, ...] = ()
    if stored is not None and Grant.QUEUE_MANAGE in principal.grants:
        actions = ACTIONS_BY_STATE.get(stored.state, ())
    headers = ""
    if stored is not None:
        headers = stored.message.data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    first = events[0].fields if events else {}
    values = {
        "message_id": message_id,
        "stored": stored,
        "headers": headers,
        "first": first,
        "timeline": [attempt_view(e) for e in sorted(events, key=lambda e: e.timestamp)],
        "can_see_events": Grant.MESSAGE_EVENTS_VIEW in principal.grants,
        "can_see_queue": Grant.QUEUE_VIEW in principal.grants,
        "actions": [(a.value, BUTTON[a]) for a in actions],
        "done": request.query_params.get("done", ""),
        "count": request.query_params.get("count", ""),
    }
    return render.page(request, "message.html", values)


@page(Grant.QUEUE_MANAGE)
async def act(request: Request) -> Response:
    ctx = context(request)
    message_id = request.path_params["message_id"]
    try:
        action = AdminAction(request.path_params["action"])
    except ValueError:
        return render.page(request, "not_found.html", {"what": "that action"}, 404)
    if action not in BUTTON:
        return render.page(request, "not_found.html", {"what": "that action"}, 404)
    selection = Selection.of(message_id=message_id)
    count = await ctx.api.store.apply_selection(
        action, selection, ctx.api.clock(), by=request.state.principal.by
    )
    target = f"/console/messages/{quote(message_id, safe='')}?done={action.value}&count={count}"
    return RedirectResponse(target, status_code=303)


ROUTES = [
    Route("/console/messages", search, methods=["GET"]),
    Route("/console/messages/{message_id}", message, methods=["GET"]),
    Route("/console/messages/{message_id}/{action}", act, methods=["POST"]),
]
