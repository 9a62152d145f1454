"""``GET /api/v1/tls-check?target=...`` (Sealpost extension): the tls-check report as JSON.

The same document as ``sealpost tls-check --json`` (schema ``sealpost.tls-check/1``,
docs/tls-check.md), inside the SparkPost ``{"results": ...}`` envelope. It uses the server's
own resolver (``[dns]``), ``[delivery] ca_file``, ``helo_name`` and ``smtp_port`` (unless the
target names a port) and ``[mta_sts] https_port``. Authentication as for every endpoint.

An API key is a tenant, not the operator (DESIGN.md section 9), so unlike the CLI this
endpoint is bounded (issue 10 item 3):

- every host (the target, the MX hosts of a domain, its MTA-STS policy host) is cleared by
  the server's egress rule before any connection and probed only at the checked address; a
  host target that is refused, or a domain whose every MX host is, is ``422`` naming
  ``target`` and the rule;
- only ports 25, 465 and 587, unless the address is in ``[api] allowed_private_targets``
  (rule ``target-port``);
- a host that did not greet with SMTP ``220`` reads exactly like a closed port
  (``tlscheck.exposure``): no banner, no TLS facts, one error text;
- ``[api] tls_check_per_minute`` checks per key in any 60 seconds (default 6), then ``429``
  with ``Retry-After``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from sealpost.api.auth import needs, require_key
from sealpost.api.context import ApiContext
from sealpost.api.errors import ApiError, invalid
from sealpost.config.model import Config
from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.egress import SMTP_PORTS, TargetGuard
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
    key: Annotated[ApiKeyRecord, Depends(require_key)],
    implicit: bool = False,
    sni: Annotated[str | None, Query(max_length=255)] = None,
    timeout: Annotated[float, Query(ge=0.5, le=10)] = 5.0,
) -> dict[str, Any]:
    try:
        parse_target(target)
    except ValueError as exc:
        raise invalid("target", str(exc)) from None
    ctx: ApiContext = request.app.state.ctx
    wait = ctx.tls_checks.take(key.id, ctx.clock())
    if wait is not None:
        limit = ctx.config.api.tls_check_per_minute
        raise ApiError(
            429,
            "Too many requests",
            f"tls-check: at most {limit} per minute per API key; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    if ctx.resolver is None or ctx.egress is None:
        raise ApiError(503, "service unavailable", "no resolver configured", "1900")
    options = caller_check_options(ctx.config, ctx.egress, timeout, implicit=implicit, sni=sni)
    report = await run_check(target, ctx.resolver, options)
    if report.refusal is not None:
        raise invalid("target", report.refusal)
    return {"results": report.to_dict()}


def caller_check_options(
    cfg: Config,
    guard: TargetGuard,
    timeout: float,
    *,
    implicit: bool = False,
    sni: str | None = None,
) -> CheckOptions:
    """A check a caller aims (this API, the console's "check now"): through the egress rule,
    SMTP ports only, every host without a ``220`` concealed (``tlscheck.exposure``); the
    delivery settings otherwise, so it sees what delivery would."""
    return CheckOptions(
        port=cfg.delivery.smtp_port,
        implicit=implicit,
        sni=sni,
        timeout=timeout,
        ca_file=cfg.delivery.ca_file,
        helo=cfg.delivery.helo_name or cfg.server.hostname,
        https_port=cfg.mta_sts.https_port,
        guard=guard,
        ports=SMTP_PORTS,
        conceal=True,
        dnssec=cfg.dns.dnssec,
    )
