"""``/api/v1/transmissions``: create (POST), inspect (GET) and cancel (DELETE) sends.

Reference section 2: each recipient becomes one message built by ``compose`` (inline
content, a stored template, or ``email_rfc822``) and the whole transmission is queued by
``Submission.submit_batch`` in one transaction with its transmission document and, when an
``Idempotency-Key`` header is given, the idempotency record (checklist K10: the key and the
messages commit atomically; a repeat returns the first response, the same key with another
body is 422). Header and envelope injection is refused with 422 naming the field, before
anything is queued (checklist I1-I4). The From domain must be a verified sending domain
(400 / 7001) unless ``api.allow_unverified_domains``. The list (GET without an id) and the
campaign cancel read only the scheduled records; ``[retention] transmission_days`` ages the
others out.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse

from sealpost.api.auth import needs, require_key
from sealpost.api.context import ApiContext
from sealpost.api.errors import INSUFFICIENT_STORAGE, ApiError, invalid, missing, not_found
from sealpost.api.transmission_models import (
    ContentIn,
    OptionsIn,
    TransmissionCreated,
    TransmissionGot,
    TransmissionIn,
    TransmissionList,
    refusal,
)
from sealpost.api.transmission_plan import Plan, foreign_sender, plan_transmission
from sealpost.api.transmission_suppression import all_suppressed
from sealpost.compose.refusal import Refused
from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.document import Document
from sealpost.model.grants import Grant
from sealpost.model.idempotency import IdempotencyRecord
from sealpost.store.errors import DuplicateError
from sealpost.submission.sender_identity import ForeignSender

router = APIRouter(dependencies=[Depends(require_key)], tags=["transmissions"])
KIND = "transmission"


def _transmission_id(now: float) -> str:
    return f"{int(now * 1000)}{secrets.randbelow(10**6):06d}"


def _idempotency_key(header: str | None, record: ApiKeyRecord) -> str | None:
    if header is None:
        return None
    key = header.strip()
    if not key or len(key) > 255 or not all(33 <= ord(c) <= 126 for c in key):
        raise invalid("Idempotency-Key", "1 to 255 printable ASCII characters")
    return f"{record.id}:{key}"


def _replay(prior: IdempotencyRecord, fingerprint: str) -> JSONResponse:
    if prior.fingerprint != fingerprint:
        raise ApiError(
            422,
            "Idempotency-Key reused",
            "Idempotency-Key: this key was used with a different request",
            "1300",
        )
    return JSONResponse(dict(prior.response), headers={"Idempotent-Replayed": "true"})


@router.post(
    "/transmissions",
    response_model=TransmissionCreated,
    response_model_exclude_none=True,
    summary="Send a transmission",
)
async def create_transmission(
    request: Request,
    body: TransmissionIn,
    record: Annotated[ApiKeyRecord, needs(Grant.TRANSMISSIONS_MODIFY)],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    num_rcpt_errors: str | None = None,
) -> JSONResponse:
    ctx: ApiContext = request.app.state.ctx
    if ctx.storage_low is not None and ctx.storage_low():
        raise INSUFFICIENT_STORAGE
    store = ctx.store
    now = ctx.clock()
    key = _idempotency_key(idempotency_key, record)
    fingerprint = hashlib.sha256(await request.body()).hexdigest()
    if key is not None:
        prior = await store.get_idempotency(key)
        if prior is not None:
            return _replay(prior, fingerprint)
    tid = _transmission_id(now)
    try:
        plan = await plan_transmission(request, body, record, tid, now)
    except Refused as exc:
        raise refusal(exc) from None
    if not plan.messages:  # every valid recipient is suppressed: nothing to queue
        await store.add_events(plan.rejections)
        raise all_suppressed(plan.rcpt_errors, len(plan.rejections))
    opts = body.options or OptionsIn()
    response = _response(tid, plan, opts, num_rcpt_errors)
    payload = _document(tid, body, plan, opts, now)

    def documents(ids: list[str]) -> list[Document]:
        return [Document(KIND, tid, {**payload, "message_ids": ids}, now)]

    def idempotency(_: list[str]) -> IdempotencyRecord:
        assert key is not None
        return IdempotencyRecord(key, fingerprint, response, now)

    try:
        queued = await ctx.submission.submit_batch(
            plan.messages,
            not_before=plan.not_before,
            idempotency=idempotency if key is not None else None,
            documents=documents,
            events=plan.rejections,
        )
    except DuplicateError:
        prior = await store.get_idempotency(key) if key is not None else None
        if prior is None:
            raise ApiError(
                409, "conflict", "a request with this Idempotency-Key is in progress", "1200"
            ) from None
        return _replay(prior, fingerprint)
    if isinstance(queued, ForeignSender):  # the plan checked already; submission is the door
        raise foreign_sender(
            queued, rfc822_content=body.content is not None and bool(body.content.email_rfc822)
        )
    return JSONResponse(response)


async def _load(ctx: ApiContext, transmission_id: str) -> Document:
    doc = await ctx.store.get_document(KIND, transmission_id) if transmission_id.isdigit() else None
    if doc is None:
        raise not_found(f"transmission id {transmission_id}")
    return doc


@router.get(
    "/transmissions/{transmission_id}",
    dependencies=[needs(Grant.TRANSMISSIONS_VIEW)],
    response_model=TransmissionGot,
    summary="Retrieve a transmission",
)
async def get_transmission(request: Request, transmission_id: str) -> dict[str, Any]:
    ctx: ApiContext = request.app.state.ctx
    doc = await _load(ctx, transmission_id)
    return {"results": {"transmission": _view(dict(doc.payload), ctx.clock())}}


async def _cancel(ctx: ApiContext, doc: Document, now: float) -> None:
    payload = dict(doc.payload)
    if payload.get("state") == "Canceled":
        return
    if not payload.get("not_before") or now >= float(payload["not_before"]):
        raise ApiError(
            409,
            "transmission in invalid state",
            f"transmission {doc.id} has already started; it can no longer be cancelled",
            "2006",
        )
    for message_id in payload.get("message_ids", ()):
        await ctx.store.cancel(message_id)
    await ctx.store.put_document(Document(KIND, doc.id, {**payload, "state": "Canceled"}, now))


@router.delete(
    "/transmissions/{transmission_id}",
    dependencies=[needs(Grant.TRANSMISSIONS_MODIFY)],
    status_code=204,
    response_class=Response,
    summary="Cancel a scheduled transmission",
)
async def delete_transmission(request: Request, transmission_id: str) -> Response:
    ctx: ApiContext = request.app.state.ctx
    await _cancel(ctx, await _load(ctx, transmission_id), ctx.clock())
    return Response(status_code=204)


@router.get(
    "/transmissions",
    dependencies=[needs(Grant.TRANSMISSIONS_VIEW)],
    response_model=TransmissionList,
    summary="List scheduled transmissions",
)
async def list_transmissions(
    request: Request, campaign_id: str | None = None, template_id: str | None = None
) -> dict[str, Any]:
    """SparkPost lists the scheduled transmissions only (those not yet generated; the
    events API is where sent ones are found): read through the store's index on the start
    time, never every transmission record."""
    ctx: ApiContext = request.app.state.ctx
    now = ctx.clock()
    found = []
    for doc in await _scheduled(ctx, now):
        view = _view(dict(doc.payload), now)
        if campaign_id is not None and view.get("campaign_id") != campaign_id:
            continue
        if template_id is not None and view.get("content", {}).get("template_id") != template_id:
            continue
        found.append(view)
    return {"results": found}


async def _scheduled(ctx: ApiContext, now: float) -> list[Document]:
    """Transmissions waiting for their start time, not cancelled."""
    docs = await ctx.store.list_scheduled_documents(KIND, now)
    return [d for d in docs if d.payload.get("state") != "Canceled"]


@router.delete(
    "/transmissions",
    dependencies=[needs(Grant.TRANSMISSIONS_MODIFY)],
    status_code=204,
    response_class=Response,
    summary="Cancel every scheduled transmission of a campaign",
)
async def delete_campaign(request: Request, campaign_id: str | None = None) -> Response:
    ctx: ApiContext = request.app.state.ctx
    if not campaign_id:
        raise missing("campaign_id")
    now = ctx.clock()
    for doc in await _scheduled(ctx, now):
        if doc.payload.get("campaign_id") == campaign_id:
            await _cancel(ctx, doc, now)
    return Response(status_code=204)


def _response(tid: str, plan: Plan, opts: OptionsIn, num_rcpt_errors: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {
        "total_rejected_recipients": len(plan.rcpt_errors),
        "total_accepted_recipients": len(plan.messages),
        "id": tid,
        "tls": opts.tls_level or "may",
    }
    if plan.warnings:
        results["warnings"] = plan.warnings
    body: dict[str, Any] = {"results": results}
    if plan.rcpt_errors:
        cap = int(num_rcpt_errors) if (num_rcpt_errors or "").isdigit() else None
        results["rcpt_to_errors"] = plan.rcpt_errors[:cap]
        body["errors"] = [
            {"message": "transmission created, but with validation errors", "code": "2000"}
        ]
    return body


def _document(
    tid: str, body: TransmissionIn, plan: Plan, opts: OptionsIn, now: float
) -> dict[str, Any]:
    options = opts.model_dump(exclude_none=True)
    options["tls"] = opts.tls_level or "may"
    if opts.tls_not_required:
        options["tls_required"] = False
    content = body.content or ContentIn()
    return {
        "id": tid,
        "state": "submitted" if plan.not_before else "Success",
        "description": body.description or "",
        "campaign_id": body.campaign_id or "",
        "content": {
            "template_id": plan.template_id,
            "use_draft_template": bool(content.use_draft_template),
        },
        "num_rcpts": len(plan.messages),
        "num_rejected": len(plan.rcpt_errors),
        "metadata": body.metadata or {},
        "substitution_data": body.substitution_data or {},
        "options": options,
        "not_before": plan.not_before,
        "creation_time": datetime.fromtimestamp(now, UTC).isoformat(),
    }


def _view(payload: dict[str, Any], now: float) -> dict[str, Any]:
    view = {k: v for k, v in payload.items() if k not in ("message_ids", "not_before")}
    started = not payload.get("not_before") or now >= float(payload["not_before"])
    if payload.get("state") != "Canceled":
        view["state"] = "Success" if started else "submitted"
    view["num_generated"] = view.get("num_rcpts", 0) if view["state"] == "Success" else 0
    view["num_failed_gen"] = 0
    return view
