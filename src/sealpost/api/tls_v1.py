"""``GET /api/v1/tls-check?target=...`` (Sealpost extension): the tls-check report as JSON.

The same document as ``sealpost tls-check --json`` (schema ``sealpost.tls-check/1``,
docs/tls-check.md), inside the SparkPost ``{"results": ...}`` envelope. It uses the server's
own resolver (``[dns]``), ``[delivery] ca_file``, ``helo_name`` and ``smtp_port`` (unless the
target names a port) and ``[mta_sts] https_port``. Authentication as for every endpoint.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from sealpost.api.auth import needs, require_key
from sealpost.api.errors import ApiError, invalid
from sealpost.model.grants import Grant
from sealpost.tlscheck import CheckOptions, parse_target, run_check

router = APIRouter(dependencies=[Depends(require_key)], tags=["tls-check"])


@router.get(
    "/tls-check",
    dependencies=[needs(Grant.TLS_CHECK_VIEW)],
    summary="Check a destination's mail TLS (Sealpost extension)",
)
async def tls_check(
    request: Request,
    target: Annotated[str, Query(min_length=1, max_length=300)],
    implicit: bool = False,
    sni: Annotated[str | None, Query(max_length=255)] = None,
    timeout: Annotated[float, Query(ge=0.5, le=10)] = 5.0,
) -> dict[str, Any]:
    try:
        parse_target(target)
    except ValueError as exc:
        raise invalid("target", str(exc)) from None
    ctx = request.app.state.ctx
    if ctx.resolver is None:
        raise ApiError(503, "service unavailable", "no resolver configured", "1900")
    cfg = ctx.config
    options = CheckOptions(
        port=cfg.delivery.smtp_port,
        implicit=implicit,
        sni=sni,
        timeout=timeout,
        ca_file=cfg.delivery.ca_file,
        helo=cfg.delivery.helo_name or cfg.server.hostname,
        https_port=cfg.mta_sts.https_port,
    )
    report = await run_check(target, ctx.resolver, options)
    return {"results": report.to_dict()}
