"""The requests the webhooks API makes on a caller's behalf: the ping and ``validate``.

Each one first clears the webhook's hosts (target and OAuth2 token URL) through the server's
egress rule (``ctx.egress``, DESIGN.md section 9), once: a refused address is a 422 naming
the field and the rule, an unresolvable name a 400; the POST then goes to exactly the checked
addresses (``Sender`` pins them). A failure without an HTTP answer (refused, reset, timed
out, TLS) is worded one way only, so no answer tells whether a port is open; the server log
keeps the detail. Each call uses a sender of its own (same TLS and egress rules as the
worker's), so a ping never queues behind the worker's deliveries to slow receivers.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sealpost.api.context import ApiContext
from sealpost.api.errors import ApiError, invalid
from sealpost.model.webhook_delivery import FailureCode
from sealpost.webhooks import payload
from sealpost.webhooks.definition import Webhook, redact_target
from sealpost.webhooks.sender import PostResult, Sender
from sealpost.webhooks.targets import Route, TargetRefusal

log = logging.getLogger("sealpost.api")
NO_RESPONSE = "no HTTP response (connection refused or reset, timed out, or TLS failed)"


def _sender(ctx: ApiContext) -> Sender:
    """A sender of its own (same TLS and egress rules as the worker's), so a ping never
    queues behind the worker's deliveries to slow receivers."""
    if ctx.egress is None:
        raise ApiError(503, "service unavailable", "no egress guard configured", "1900")
    return Sender(
        guard=ctx.egress, ca_file=ctx.config.delivery.ca_file, clock=ctx.clock, max_concurrent=2
    )


async def _cleared(sender: Sender, hook: Webhook) -> Route:
    """The hook's hosts through the egress rule: 422 naming the field when refused."""
    cleared = await sender.clear(hook)
    if isinstance(cleared, TargetRefusal):
        if cleared.by_rule:
            raise invalid(cleared.field, cleared.message)
        raise ApiError(
            400,
            "webhook target validation failed",
            f"{cleared.field}: {cleared.message}",
            "1200",
        )
    return cleared


async def post(ctx: ApiContext, hook: Webhook, body: Any) -> tuple[PostResult, Route]:
    """Clear the hook's hosts once, then POST ``body`` to exactly those addresses."""
    sender = _sender(ctx)
    try:
        route = await _cleared(sender, hook)
        result = await sender.post(hook, payload.encode(body), uuid.uuid4().hex, route)
        if result.status is None:  # the caller gets one text; the operator the detail
            where = redact_target(hook.target)
            log.info("webhook test POST to %s failed: %s", where, result.detail)
        return result, route
    finally:
        await sender.close()


def failure_text(result: PostResult) -> str:
    """What the caller may see of a failed POST: the HTTP status, the token endpoint's
    answer, or one text for every failure without an HTTP response."""
    if result.status is not None:
        return result.detail
    if result.failure is FailureCode.AUTH:
        return result.detail
    return NO_RESPONSE


async def ping(ctx: ApiContext, hook: Webhook) -> None:
    """The ping batch to a new or changed target: 400 unless it answers 2xx."""
    result, _ = await post(ctx, hook, payload.PING)
    if not result.ok:
        raise ApiError(
            400,
            "webhook target validation failed",
            f"the test POST to target failed: {failure_text(result)}",
            "1200",
        )


async def clear(ctx: ApiContext, hook: Webhook) -> Route:
    """Check the hook's hosts without sending anything (a changed token URL)."""
    sender = _sender(ctx)
    try:
        return await _cleared(sender, hook)
    finally:
        await sender.close()
