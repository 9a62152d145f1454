"""``GET /api/v1/metrics/deliverability``: SparkPost's deliverability summary, counted from
the event stream (reference: SparkPost's Metrics API).

``from`` is required, ``to`` defaults to now (both UTC, ``to`` exclusive); ``metrics`` is a
comma-separated list of the counts below, every one of them known or the request is ``422``
naming the unknown one; ``campaigns`` limits the counts to those campaigns. The answer is one
row: ``{"results": [{"count_injected": 120, ...}]}``. The groupings by domain, campaign, ...
(``/metrics/deliverability/domain`` and the rest) are not served (``404``).

Each count is the number of matching events, so a message deferred twice counts twice in
``count_delayed`` (SparkPost counts it the same way).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from sealpost.api.auth import needs, require_key
from sealpost.api.errors import invalid, missing
from sealpost.api.query_values import split_list, utc_time
from sealpost.model.events import EventQuery
from sealpost.model.grants import Grant

router = APIRouter(dependencies=[Depends(require_key)], tags=["metrics"])

# Each SparkPost count and the event types it adds up.
COUNTS: dict[str, tuple[str, ...]] = {
    "count_injected": ("injection",),
    "count_delivered": ("delivery",),
    "count_delayed": ("delay",),
    "count_bounce": ("bounce", "out_of_band"),
    "count_inband_bounce": ("bounce",),
    "count_outofband_bounce": ("out_of_band",),
    "count_policy_rejection": ("policy_rejection",),
    "count_rejected": ("policy_rejection", "generation_rejection", "generation_failure"),
}


@router.get(
    "/metrics/deliverability",
    dependencies=[needs(Grant.METRICS_VIEW)],
    summary="Deliverability counts over a time range",
)
async def deliverability(
    request: Request,
    metrics: str | None = None,
    campaigns: str | None = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    delimiter: Annotated[str, Query(min_length=1, max_length=1)] = ",",
) -> dict[str, Any]:
    if not from_:
        raise missing("from")
    names = split_list(metrics, delimiter)
    if not names:
        raise missing("metrics")
    unknown = [name for name in names if name not in COUNTS]
    if unknown:
        raise invalid("metrics", f"unknown metric {unknown[0]!r}; one of {', '.join(COUNTS)}")
    now = request.app.state.ctx.clock()
    start = utc_time("from", from_, now)
    end = utc_time("to", to, now)
    if end < start:
        raise invalid("to", "must not be before from")
    store = request.app.state.ctx.store
    row: dict[str, int] = {}
    for name in dict.fromkeys(names):
        query = EventQuery(
            types=COUNTS[name],
            campaign_ids=split_list(campaigns, delimiter),
            from_time=start,
            to_time=end - 1e-6,  # "to" is exclusive
        )
        row[name] = await store.count_events(query)
    return {"results": [row]}
