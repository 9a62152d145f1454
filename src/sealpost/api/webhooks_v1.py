"""``/api/v1/webhooks``: SparkPost's webhook management API (reference section 5.4).

Create, list, get, update (partial), delete, ``validate`` (POST a sample, show the answer)
and ``batch-status``. Creating a webhook, or changing its target, first POSTs the ping batch
``[{"msys": {}}]``: a non-2xx answer is a 400 and nothing is saved. Targets are https://
(http:// only when ``api.allow_unverified_domains`` is on, i.e. in development). Secrets
(basic password, OAuth2 client_secret, auth_token) are stored for sending and always shown
masked; an update that sends the mask back keeps the stored secret. Delivery itself is
``sealpost.webhooks.worker``; it is woken after every change.

Egress (DESIGN.md section 9, ``api.webhook_calls``): before any request, the target and the
OAuth2 token URL are cleared by the server's ``TargetGuard`` (one DNS lookup each); a refused
address is a 422 naming the field and the rule (``target: ... resolves to 127.0.0.1, a
loopback address (RFC 1122) (rule: private-target)``), and the ping then goes to exactly the
checked address.
Failures without an HTTP answer (refused, reset, timed out, TLS) all read the same, so the
API never tells whether a port is open. ``validate`` shows the target's status, headers and
body as SparkPost does, but only for a public address: for one admitted through
``[api] allowed_private_targets`` it shows the status alone.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from sealpost.api.auth import needs, require_key
from sealpost.api.context import ApiContext
from sealpost.api.errors import ApiError, invalid, not_found
from sealpost.api.webhook_calls import clear, failure_text, ping, post
from sealpost.model.document import Document
from sealpost.model.grants import Grant
from sealpost.webhooks import definition, payload
from sealpost.webhooks.definition import (
    AuthType,
    BasicCredentials,
    DefinitionError,
    OAuthRequest,
    Webhook,
)
from sealpost.webhooks.state import (
    delete_state,
    load_state,
    retry_now,
    status_view,
    times_view,
)

router = APIRouter(dependencies=[Depends(require_key)], tags=["webhooks"])
Text = Annotated[str, Field(max_length=1024)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CredentialsIn(_Lenient):
    username: Text | None = None
    password: Text | None = None


class OAuthBodyIn(_Lenient):
    client_id: Text
    client_secret: Text
    grant_type: Text = "client_credentials"


class OAuthDetailsIn(_Lenient):
    url: Annotated[str, Field(max_length=definition.MAX_TARGET)]
    body: OAuthBodyIn


class WebhookUpdate(_Lenient):
    name: Text | None = None
    target: Annotated[str, Field(max_length=definition.MAX_TARGET)] | None = None
    events: Annotated[list[Text], Field(max_length=100)] | None = None
    active: bool | None = None
    custom_headers: dict[str, str] | None = None
    auth_type: Literal["none", "basic", "oauth2"] | None = None
    auth_credentials: CredentialsIn | None = None
    auth_request_details: OAuthDetailsIn | None = None
    auth_token: Text | None = None


class WebhookIn(WebhookUpdate):
    name: Text
    target: Annotated[str, Field(max_length=definition.MAX_TARGET)]


class Link(BaseModel):
    href: str
    rel: str
    method: list[str]


class Created(BaseModel):
    id: str
    links: list[Link]


class CreatedEnvelope(BaseModel):
    results: Created


class WebhookOut(BaseModel):
    id: str
    name: str
    target: str
    events: list[str]
    active: bool
    custom_headers: dict[str, str]
    auth_type: str
    auth_credentials: dict[str, str] | None = None
    auth_request_details: dict[str, Any] | None = None
    auth_token: str | None = None
    last_successful: str | None = None
    last_failure: str | None = None
    links: list[Link] = []


class WebhookEnvelope(BaseModel):
    results: WebhookOut


class WebhookListEnvelope(BaseModel):
    results: list[WebhookOut]


class TargetResponse(BaseModel):
    status: int
    headers: dict[str, str]
    body: str


class Validation(BaseModel):
    msg: str
    response: TargetResponse


class ValidationEnvelope(BaseModel):
    results: Validation


class ValidateIn(_Lenient):
    message: Any = None


class BatchStatusOut(BaseModel):
    batch_id: str
    ts: str
    attempts: int
    response_code: str
    failure_code: str | None = None
    latency: int


class BatchStatusEnvelope(BaseModel):
    results: list[BatchStatusOut]


# -- helpers ---------------------------------------------------------------------------------


def _ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def _links(webhook_id: str) -> list[Link]:
    base = f"/api/v1/webhooks/{webhook_id}"
    return [
        Link(href=base, rel="urn.msys.webhooks.webhook", method=["GET", "PUT", "DELETE"]),
        Link(href=f"{base}/validate", rel="urn.msys.webhooks.validate", method=["POST"]),
        Link(href=f"{base}/batch-status", rel="urn.msys.webhooks.batches", method=["GET"]),
    ]


def _build(
    webhook_id: str, body: WebhookUpdate, base: Webhook | None, *, now: float, allow_http: bool
) -> Webhook:
    """Apply the given fields over ``base`` (or defaults) and validate the result."""
    fields = body.model_fields_set
    old = base or Webhook(id=webhook_id, name="", target="", created_at=now)
    auth_type = AuthType(body.auth_type) if body.auth_type else old.auth_type
    basic = old.basic
    if "auth_credentials" in fields and body.auth_credentials is not None:
        creds = body.auth_credentials
        basic = BasicCredentials(creds.username or "", creds.password or "")
    oauth = old.oauth
    if "auth_request_details" in fields and body.auth_request_details is not None:
        details = body.auth_request_details
        oauth = OAuthRequest(details.url, details.body.model_dump())
    hook = Webhook(
        id=webhook_id,
        name=body.name if body.name is not None else old.name,
        target=body.target if body.target is not None else old.target,
        events=tuple(body.events) if body.events is not None else old.events,
        active=body.active if body.active is not None else old.active,
        custom_headers=(
            body.custom_headers if body.custom_headers is not None else old.custom_headers
        ),
        auth_type=auth_type,
        basic=basic if auth_type is AuthType.BASIC else None,
        oauth=oauth if auth_type is AuthType.OAUTH2 else None,
        auth_token=(body.auth_token or None) if "auth_token" in fields else old.auth_token,
        created_at=old.created_at,
    )
    if base is not None:
        hook = hook.keep_secrets_of(base)
    try:
        definition.check(hook, allow_http=allow_http, known_events=payload.EVENT_TYPES)
    except DefinitionError as exc:
        raise invalid(exc.field, exc.why) from None
    return hook


def _wake(ctx: ApiContext) -> None:
    if ctx.webhooks is not None:
        ctx.webhooks.wake()


async def _load(ctx: ApiContext, webhook_id: str) -> Webhook:
    doc = await ctx.store.get_document(definition.KIND, webhook_id)
    if doc is None:
        raise not_found(f"webhook {webhook_id}"[:200])
    return Webhook.from_payload(doc.payload)


async def _save(ctx: ApiContext, hook: Webhook) -> None:
    await ctx.store.put_document(Document(definition.KIND, hook.id, hook.to_payload(), ctx.clock()))


async def _view(ctx: ApiContext, hook: Webhook) -> WebhookOut:
    state = await load_state(ctx.store, hook.id)
    times = times_view(state) if state is not None else {}
    return WebhookOut(**hook.public_view(), **times, links=_links(hook.id))


# -- endpoints -------------------------------------------------------------------------------


@router.post(
    "/webhooks",
    dependencies=[needs(Grant.WEBHOOKS_MODIFY)],
    summary="Create a webhook (after a test POST to its target)",
)
async def create(request: Request, body: WebhookIn) -> CreatedEnvelope:
    ctx = _ctx(request)
    allow_http = ctx.config.api.allow_unverified_domains
    hook = _build(str(uuid.uuid4()), body, None, now=ctx.clock(), allow_http=allow_http)
    await ping(ctx, hook)
    await _save(ctx, hook)
    _wake(ctx)
    return CreatedEnvelope(results=Created(id=hook.id, links=_links(hook.id)))


@router.get(
    "/webhooks", dependencies=[needs(Grant.WEBHOOKS_VIEW)], summary="List webhooks (secrets masked)"
)
async def list_webhooks(request: Request) -> WebhookListEnvelope:
    ctx = _ctx(request)
    docs = await ctx.store.list_documents(definition.KIND)
    hooks = sorted((Webhook.from_payload(d.payload) for d in docs), key=lambda h: h.created_at)
    return WebhookListEnvelope(results=[await _view(ctx, h) for h in hooks])


@router.get(
    "/webhooks/{webhook_id}",
    dependencies=[needs(Grant.WEBHOOKS_VIEW)],
    summary="Get a webhook (secrets masked)",
)
async def get_webhook(request: Request, webhook_id: str) -> WebhookEnvelope:
    ctx = _ctx(request)
    return WebhookEnvelope(results=await _view(ctx, await _load(ctx, webhook_id)))


@router.put(
    "/webhooks/{webhook_id}",
    dependencies=[needs(Grant.WEBHOOKS_MODIFY)],
    summary="Update a webhook (given fields only)",
)
async def update(request: Request, webhook_id: str, body: WebhookUpdate) -> CreatedEnvelope:
    ctx = _ctx(request)
    old = await _load(ctx, webhook_id)
    allow_http = ctx.config.api.allow_unverified_domains
    hook = _build(webhook_id, body, old, now=ctx.clock(), allow_http=allow_http)
    if hook.target != old.target:
        await ping(ctx, hook)
    elif hook.oauth is not None and (old.oauth is None or hook.oauth.url != old.oauth.url):
        await clear(ctx, hook)
    await _save(ctx, hook)
    if hook != old:  # a fixed target or credentials: retry a waiting batch now
        await retry_now(ctx.store, webhook_id, ctx.clock())
    _wake(ctx)
    return CreatedEnvelope(results=Created(id=hook.id, links=_links(hook.id)))


@router.delete(
    "/webhooks/{webhook_id}",
    dependencies=[needs(Grant.WEBHOOKS_MODIFY)],
    status_code=204,
    response_class=Response,
    summary="Delete a webhook and its delivery state",
)
async def delete(request: Request, webhook_id: str) -> Response:
    ctx = _ctx(request)
    if not await ctx.store.delete_document(definition.KIND, webhook_id):
        raise not_found(f"webhook {webhook_id}"[:200])
    await delete_state(ctx.store, webhook_id)
    _wake(ctx)
    return Response(status_code=204)


@router.post(
    "/webhooks/{webhook_id}/validate",
    dependencies=[needs(Grant.WEBHOOKS_MODIFY)],
    summary="POST a sample batch to the target",
)
async def validate(
    request: Request, webhook_id: str, body: ValidateIn | None = None
) -> ValidationEnvelope:
    ctx = _ctx(request)
    hook = await _load(ctx, webhook_id)
    message = body.message if body is not None and body.message is not None else payload.PING
    result, route = await post(ctx, hook, message)
    if result.status is None:
        raise ApiError(
            400,
            "webhook target validation failed",
            f"the test POST to target failed: {failure_text(result)}",
            "1200",
        )
    verdict = "succeeded" if result.ok else "failed"
    shown = not route.private  # an internal service's answer is never relayed to a caller
    response = TargetResponse(
        status=result.status,
        headers=result.headers if shown else {},
        body=result.body if shown else "",
    )
    return ValidationEnvelope(
        results=Validation(msg=f"Test POST to endpoint {verdict}", response=response)
    )


@router.get(
    "/webhooks/{webhook_id}/batch-status",
    dependencies=[needs(Grant.WEBHOOKS_VIEW)],
    summary="Recent batches and their outcome, newest first",
    response_model_exclude_none=True,
)
async def batch_status(
    request: Request,
    webhook_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> BatchStatusEnvelope:
    ctx = _ctx(request)
    await _load(ctx, webhook_id)
    state = await load_state(ctx.store, webhook_id)
    history = list(reversed(state.history)) if state is not None else []
    now = ctx.clock()
    recent = [s for s in history if now - s.ts < 86400.0][:limit]
    return BatchStatusEnvelope(results=[BatchStatusOut(**status_view(s)) for s in recent])
