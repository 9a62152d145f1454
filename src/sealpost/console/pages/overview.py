"""Overview (``/console/``): mail accepted, delivered, deferred and bounced per hour and per
day, the TLS coverage of the attempts (verified, unverified, plaintext, refused by policy)
over time and by policy source, the queue's depth and oldest message, and the top deferral
reasons (``console.overview_data``), drawn as server-side SVG (``console.charts``).

Grant: ``metrics/view``, as ``GET /api/v1/metrics/deliverability`` (the same counts of the
event stream). A caller without it is sent to the first page of the menu it may see."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sealpost.console import render
from sealpost.console.charts import coloured, lines, stacked_bars
from sealpost.console.guard import context, page
from sealpost.console.nav import visible
from sealpost.console.overview_data import COVERAGE, VOLUME, Overview, Timeline, overview
from sealpost.model.grants import Grant


def volume_chart(chart_id: str, title: str, timeline: Timeline) -> str:
    names = list(VOLUME)
    return lines(
        chart_id, title, timeline.labels, coloured(names, [timeline.series[n] for n in names])
    )


def coverage_chart(chart_id: str, title: str, timeline: Timeline) -> str:
    names = list(COVERAGE)
    series = coloured([COVERAGE[n] for n in names], [timeline.series[n] for n in names])
    return stacked_bars(chart_id, title, timeline.labels, series)


def charts(view: Overview) -> dict[str, str]:
    return {
        "volume_hourly": volume_chart("volume-hourly", "Mail per hour, last 48 hours", view.hourly),
        "volume_daily": volume_chart("volume-daily", "Mail per day, last 30 days", view.daily),
        "tls_hourly": coverage_chart(
            "tls-hourly", "TLS coverage per hour, last 48 hours", view.tls_hourly
        ),
        "tls_daily": coverage_chart(
            "tls-daily", "TLS coverage per day, last 30 days", view.tls_daily
        ),
    }


def duration(seconds: float) -> str:
    """``3 d 4 h``, ``2 h 5 min``, ``40 s``: the two largest units."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    units = (("d", 86400), ("h", 3600), ("min", 60))
    parts = []
    for name, size in units:
        if whole >= size or parts:
            parts.append(f"{whole // size} {name}")
            whole %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


@page()
async def index(request: Request) -> Response:
    principal = request.state.principal
    if Grant.METRICS_VIEW not in principal.grants:
        entries = visible(principal.grants)
        if not entries:
            return render.page(request, "forbidden.html", {"why": "No page is open to you."}, 403)
        return RedirectResponse(entries[0].path, status_code=303)
    ctx = context(request)
    view = await overview(ctx.api.store, ctx.api.clock())
    values = {
        "view": view,
        "charts": charts(view),
        "volume_names": list(VOLUME),
        "coverage": COVERAGE,
        "oldest_age": duration(view.oldest_age),
    }
    return render.page(request, "overview.html", values)


ROUTES = [Route("/console/", index, methods=["GET"])]
