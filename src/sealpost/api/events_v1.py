"""``GET /api/v1/events/message``: SparkPost's events search (reference section 5.5).

Filters are comma-separated lists (``delimiter`` overrides the comma); ``from`` and ``to``
are UTC times (default: the last 24 hours; ``to`` exclusive); paging is by an opaque
``cursor`` (an event id here) with ``per_page`` 1-10000, and ``links.next`` names the next
page. Every delivery, delay and bounce event carries ``outbound_tls`` and the ``tls`` object.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request

from sealpost.api.auth import needs, require_key
from sealpost.api.errors import ApiError, invalid
from sealpost.events.records import public_view
from sealpost.model.events import EventQuery
from sealpost.model.grants import Grant

router = APIRouter(dependencies=[Depends(require_key)], tags=["events"])
DAY = 86400.0


def utc_time(name: str, value: str | None, default: float) -> float:
    if not value:
        return default
    text = value.strip().replace("Z", "+00:00")
    for candidate in (text, text + ":00+00:00", text + "+00:00"):
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise invalid(name, "expected a UTC time like 2026-01-01T00:00:00Z")


def _list(value: str | None, delimiter: str) -> list[str]:
    return [v.strip() for v in (value or "").split(delimiter) if v.strip()]


@router.get(
    "/events/message",
    dependencies=[needs(Grant.MESSAGE_EVENTS_VIEW)],
    summary="Search message events",
)
async def search(
    request: Request,
    events: str | None = None,
    recipients: str | None = None,
    messages: str | None = None,
    message_ids: str | None = None,
    transmissions: str | None = None,
    transmission_ids: str | None = None,
    campaigns: str | None = None,
    campaign_ids: str | None = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    cursor: str = "initial",
    per_page: Annotated[int, Query(ge=1, le=10000)] = 1000,
    delimiter: Annotated[str, Query(min_length=1, max_length=1)] = ",",
) -> dict[str, Any]:
    now = request.app.state.ctx.clock()
    start = utc_time("from", from_, now - DAY)
    end = utc_time("to", to, now)
    if end < start:
        raise invalid("to", "must not be before from")
    after: int | None = None
    if cursor != "initial":
        # ASCII digits only (str.isdigit() also takes "\u00b2"), within SQLite's INTEGER.
        if not (cursor.isascii() and cursor.isdigit() and int(cursor) < 2**63):
            raise ApiError(400, "invalid cursor", "cursor: use the value from links.next", "1200")
        after = int(cursor)
    query = EventQuery(
        types=_list(events, delimiter),
        recipients=_list(recipients, delimiter),
        message_ids=_list(messages, delimiter) + _list(message_ids, delimiter),
        transmission_ids=_list(transmissions, delimiter) + _list(transmission_ids, delimiter),
        campaign_ids=_list(campaigns, delimiter) + _list(campaign_ids, delimiter),
        from_time=start,
        to_time=end - 1e-6,  # "to" is exclusive
        after=after,
        limit=per_page + 1,
    )
    store = request.app.state.ctx.store
    found = await store.search_events(query)
    page = found[:per_page]
    total = await store.count_events(query)
    links: dict[str, str] = {}
    if len(found) > per_page:
        params = {k: v for k, v in request.query_params.items() if k != "cursor"}
        params["cursor"] = str(page[-1].event_id)
        links["next"] = f"/api/v1/events/message?{urlencode(params)}"
    return {"results": [public_view(e) for e in page], "total_count": total, "links": links}
