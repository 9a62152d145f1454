"""``/api/v1/tls-reports`` (Sealpost extension): TLS-RPT reports (RFC 8460) received over HTTPS,
and every report received (by mail too) read back.

- ``POST /tls-reports`` (grant ``tls_reports/modify``): the body is one report, raw JSON
  (``application/tlsrpt+json`` or ``application/json``) or gzip (``application/tlsrpt+gzip``,
  RFC 8460 section 5.4; a body starting with the gzip magic is read as gzip whatever its
  label). 200 with our id and ``created`` (false: the same organization and report-id was
  stored before, nothing changed). 400 for a body that is not gzip or JSON, 413 past
  ``[tls_reports] max_report_bytes`` decompressed (or ``[api] max_request_bytes`` as sent),
  422 naming the field of RFC 8460 section 4.4 that is missing or wrong.
- ``GET /tls-reports`` (grant ``tls_reports/view``): summaries, oldest first; filters
  ``domain`` (a policy domain), ``from`` / ``to`` (the report's date range overlaps them);
  paging by ``cursor`` and ``per_page`` (1-1000) with ``links.next``, as the events API.
- ``GET /tls-reports/{id}``: one report, with the whole report as ``report``.

A key limited to sender domains (``keys create --domain``) is a tenant: it may post reports
only about its domains (422 naming the policy-domain otherwise) and sees only reports naming
one of them (others are 404). A key with no domains sees everything.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request

from sealpost.api.auth import needs, require_key
from sealpost.api.context import ApiContext
from sealpost.api.errors import ApiError, invalid, missing, not_found
from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.grants import Grant
from sealpost.model.received_report import ReceivedReport, ReportQuery, ReportSource
from sealpost.tlsrpt.intake import store_report
from sealpost.tlsrpt.payload import Problem, Refusal
from sealpost.tlsrpt.received import parse_report
from sealpost.tlsrpt.views import parse_utc, summary_view

router = APIRouter(dependencies=[Depends(require_key)], tags=["tls-reports"])
PATH = "/tls-reports"
CONTENT_TYPES = ("application/tlsrpt+json", "application/tlsrpt+gzip", "application/gzip")


def _scope(key: ApiKeyRecord) -> tuple[str, ...] | None:
    return tuple(d.lower().rstrip(".") for d in key.sender_domains) or None


def _refusal(refusal: Refusal) -> ApiError:
    if refusal.problem is Problem.TOO_LARGE:
        return ApiError(413, "report too large", refusal.detail, "1300")
    if refusal.problem is Problem.MISSING:
        return missing(refusal.field or "body")
    if refusal.problem is Problem.INVALID:
        return invalid(refusal.field or "body", refusal.detail)
    return ApiError(400, "invalid report", refusal.detail, "1300")


def summary(report: ReceivedReport) -> dict[str, Any]:
    """A report as the listing shows it (the ``--json`` of ``sealpost tlsrpt received``)."""
    return summary_view(report)


def _time(name: str, value: str | None) -> float | None:
    if not value:
        return None
    parsed = parse_utc(value)
    if parsed is None:
        raise invalid(name, "expected a UTC time like 2026-01-01T00:00:00Z or a day 2026-01-01")
    return parsed


@router.post(
    PATH,
    dependencies=[needs(Grant.TLS_REPORTS_MODIFY)],
    summary="Receive a TLS-RPT report (Sealpost extension, RFC 8460)",
)
async def receive(
    request: Request, key: Annotated[ApiKeyRecord, Depends(require_key)]
) -> dict[str, Any]:
    ctx: ApiContext = request.app.state.ctx
    parsed = parse_report(await request.body(), ctx.config.tls_reports.max_report_bytes)
    if isinstance(parsed, Refusal):
        raise _refusal(parsed)
    scope = _scope(key)
    if scope is not None:
        for domain in parsed.policy_domains:
            if domain not in scope:
                raise invalid(
                    "policies[].policy.policy-domain",
                    f"{domain} is not one of this API key's domains ({', '.join(scope)})",
                )
    kept = await store_report(ctx.store, parsed, ctx.clock(), ReportSource.API)
    return {"results": {**summary(kept.report), "created": kept.created}}


@router.get(
    PATH,
    dependencies=[needs(Grant.TLS_REPORTS_VIEW)],
    summary="List the TLS-RPT reports received (Sealpost extension)",
)
async def listing(
    request: Request,
    key: Annotated[ApiKeyRecord, Depends(require_key)],
    domain: Annotated[str | None, Query(max_length=253)] = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    cursor: Annotated[str, Query(max_length=40)] = "initial",
    per_page: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    ctx: ApiContext = request.app.state.ctx
    since = _time("from", from_)
    until = _time("to", to)
    if since is not None and until is not None and until < since:
        raise invalid("to", "must not be before from")
    after = None if cursor == "initial" else cursor
    if after is not None and not (after.isascii() and after.isalnum()):
        raise ApiError(400, "invalid cursor", "cursor: use the value from links.next", "1200")
    query = ReportQuery(
        domain=domain.strip().lower().rstrip(".") if domain else None,
        scope=_scope(key),
        since=since,
        until=until,
        after=after,
        limit=per_page + 1,
    )
    found = await ctx.store.list_received_reports(query)
    page = found[:per_page]
    links: dict[str, str] = {}
    if len(found) > per_page:
        params = {k: v for k, v in request.query_params.items() if k != "cursor"}
        params["cursor"] = page[-1].id
        links["next"] = f"/api/v1{PATH}?{urlencode(params)}"
    return {"results": [summary(r) for r in page], "links": links}


@router.get(
    PATH + "/{report_id}",
    dependencies=[needs(Grant.TLS_REPORTS_VIEW)],
    summary="One TLS-RPT report received, in full (Sealpost extension)",
)
async def one(
    request: Request, report_id: str, key: Annotated[ApiKeyRecord, Depends(require_key)]
) -> dict[str, Any]:
    ctx: ApiContext = request.app.state.ctx
    report = await ctx.store.get_received_report(report_id)
    scope = _scope(key)
    if report is None or (scope is not None and not set(scope) & set(report.policy_domains)):
        raise not_found("tls-report")
    return {"results": {**summary(report), "report": json.loads(report.report_json)}}
