"""``/api/v1/suppression-list``: SparkPost's Suppression List API (search, retrieve, create
or update one or many, delete), as python-sparkpost's ``sp.suppression_list`` calls it.

An entry is a recipient (lower-cased whole, as the list keys it) and a ``type``; the legacy
booleans ``transactional`` / ``non_transactional`` (python-sparkpost's ``create``) name one
entry per true flag. A bulk PUT takes up to ``MAX_BULK`` entries in one request (SparkPost:
10,000) and writes them in one transaction, or none of them when any is malformed (400
naming each bad field). The search pages by an opaque ``cursor`` over (recipient, type);
``links`` is SparkPost's array, naming the next page while there is one. Sending to a listed
recipient is refused by ``transmission_plan`` and ``submission`` (``policy_rejection``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response

from sealpost.api.auth import needs, require_key
from sealpost.api.errors import ApiError
from sealpost.api.query_values import utc_time
from sealpost.api.suppression_models import (
    MAX_BULK,
    TYPES,
    BulkIn,
    EntryIn,
    address_of,
    bad,
    cursor_of,
    entries_of,
    next_cursor,
    source_list,
    type_list,
    view,
)
from sealpost.model.grants import Grant
from sealpost.model.suppression import (
    Suppression,
    SuppressionQuery,
    SuppressionSource,
    SuppressionType,
)

router = APIRouter(dependencies=[Depends(require_key)], tags=["suppression-list"])
UPDATED = {"results": {"message": "Suppression List successfully updated"}}


def _not_found() -> ApiError:
    return ApiError(404, "Recipient could not be found", "Resource not found:recipient", "1600")


@router.get(
    "/suppression-list/summary",
    dependencies=[needs(Grant.SUPPRESSION_LISTS_VIEW)],
    summary="Count the suppression list by source",
)
async def summary(request: Request) -> dict[str, Any]:
    store = request.app.state.ctx.store
    counts: dict[str, int] = {}
    for source in SuppressionSource:
        name = source.value.lower().replace(" ", "_")
        counts[name] = await store.count_suppressions(SuppressionQuery(sources=(source,)))
    counts["total"] = await store.count_suppressions(SuppressionQuery())
    return {"results": counts}


@router.get(
    "/suppression-list/{recipient}",
    dependencies=[needs(Grant.SUPPRESSION_LISTS_VIEW)],
    summary="Retrieve a recipient's suppressions",
)
async def retrieve(request: Request, recipient: str, types: str | None = None) -> dict[str, Any]:
    address = address_of("recipient", recipient)
    found = await request.app.state.ctx.store.suppressions_of(address)
    wanted = set(type_list(types))
    found = [e for e in found if not wanted or e.type in wanted]
    if not found:
        raise _not_found()
    return {"results": [view(e) for e in found], "links": [], "total_count": len(found)}


@router.put(
    "/suppression-list/{recipient}",
    dependencies=[needs(Grant.SUPPRESSION_LISTS_MANAGE)],
    summary="Create or update a recipient's suppression",
)
async def put_one(request: Request, recipient: str, body: EntryIn) -> dict[str, Any]:
    ctx = request.app.state.ctx
    entries = entries_of("", address_of("recipient", recipient), body, ctx.clock())
    await ctx.store.put_suppressions(entries)
    return UPDATED


@router.put(
    "/suppression-list",
    dependencies=[needs(Grant.SUPPRESSION_LISTS_MANAGE)],
    summary="Create or update many suppressions",
)
async def put_many(request: Request, body: BulkIn) -> dict[str, Any]:
    ctx = request.app.state.ctx
    if body.recipients is None:
        raise bad(400, "required field is missing", "recipients is a required field", "1400")
    if len(body.recipients) > MAX_BULK:
        raise bad(400, "too many recipients", f"recipients: at most {MAX_BULK} per request")
    now = ctx.clock()
    entries: list[Suppression] = []
    wrong: list[tuple[str, str]] = []  # (the entry's address as given, what is wrong)
    for n, item in enumerate(body.recipients):
        field = f"recipients[{n}]."
        given = item.recipient if item.recipient is not None else item.email
        try:
            entries += entries_of(field, address_of(f"{field}recipient", given), item, now)
        except ApiError as exc:
            wrong.append((given or "", exc.description or exc.message))
    if wrong:
        shown = ", ".join(given or "(none)" for given, _ in wrong[:10])
        raise bad(
            400,
            f"PUT body contains {len(wrong)} invalid or malformed recipient(s): {shown}",
            "; ".join(why for _, why in wrong[:10]) + ("; ..." if len(wrong) > 10 else ""),
        )
    await ctx.store.put_suppressions(entries)
    return UPDATED


@router.delete(
    "/suppression-list/{recipient}",
    dependencies=[needs(Grant.SUPPRESSION_LISTS_MANAGE)],
    status_code=204,
    response_class=Response,
    summary="Delete a recipient's suppression",
)
async def delete(request: Request, recipient: str, type: str | None = None) -> Response:
    address = address_of("recipient", recipient)
    kind = _delete_type(type, await request.body())
    if not await request.app.state.ctx.store.delete_suppressions(address, kind):
        raise _not_found()
    return Response(status_code=204)


def _delete_type(query: str | None, raw: bytes) -> SuppressionType | None:
    """The type to delete: the body's ``type`` (SparkPost), else ``?type=``, else both."""
    value = query
    if raw.strip():
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "invalid JSON", "body: not a JSON object", "1300") from None
        if not isinstance(body, dict):
            raise bad(400, "invalid data format/type", "body: expected a JSON object")
        value = body.get("type", value)
    if value is None:
        return None
    try:
        return SuppressionType(value)
    except ValueError:
        raise bad(400, f"Type must be one of: {TYPES}", f"type: one of {TYPES}") from None


@router.get(
    "/suppression-list",
    dependencies=[needs(Grant.SUPPRESSION_LISTS_VIEW)],
    summary="Search the suppression list",
)
async def search(
    request: Request,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    domain: str | None = None,
    types: str | None = None,
    sources: str | None = None,
    cursor: str = "initial",
    per_page: Annotated[int | None, Query(ge=1, le=10000)] = None,
    limit: Annotated[int | None, Query(ge=1, le=10000)] = None,  # python-sparkpost's name
    page: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    ctx = request.app.state.ctx
    if page is not None and page > 1:
        raise bad(400, "invalid data format/type", "page: page with cursor (links) instead")
    size = per_page or limit or 1000
    start = utc_time("from", from_, 0.0) if from_ else None
    end = utc_time("to", to, ctx.clock())
    if start is not None and end < start:
        raise bad(400, "invalid data format/type", "to: must not be before from")
    query = SuppressionQuery(
        updated_from=start,
        updated_to=end,
        types=tuple(type_list(types)),
        sources=tuple(source_list(sources)),
        domain=domain.strip().lower() if domain and domain.strip() else None,
        after=cursor_of(cursor),
        limit=size + 1,
    )
    found = await ctx.store.search_suppressions(query)
    shown = found[:size]
    links: list[dict[str, str]] = []
    if len(found) > size:
        params = {k: v for k, v in request.query_params.items() if k != "cursor"}
        params["cursor"] = next_cursor(shown[-1])
        links.append({"href": f"/api/v1/suppression-list?{urlencode(params)}", "rel": "next"})
    total = await ctx.store.count_suppressions(query)
    return {"results": [view(e) for e in shown], "links": links, "total_count": total}
