"""``/api/v1/templates``: stored content for transmissions (SparkPost's Templates API).

A template is a document of kind ``template`` holding a draft and (once published) a
published version of its content (``from``, ``subject``, ``text``, ``html``, ``amp_html``,
``reply_to``, ``headers``). Transmissions use the published version, or the draft with
``use_draft_template`` (reference section 2.1; no version: 422 code 2004 / 2005). Content
is checked with the same rules as inline content when it is stored (header injection is
refused at once, not at send time).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from sealpost.api.auth import needs, require_key
from sealpost.api.errors import ApiError, not_found
from sealpost.api.transmission_models import Model, Sender, inline_of, refusal
from sealpost.compose import inline
from sealpost.compose.refusal import Refused
from sealpost.model.document import Document
from sealpost.model.grants import Grant
from sealpost.store.contracts.documents import DocumentStore

router = APIRouter(dependencies=[Depends(require_key)], tags=["templates"])
KIND = "template"
_ID = re.compile(r"[a-z0-9_-]{1,64}")


class TemplateContent(Model):
    from_: str | Sender | None = Field(None, alias="from")
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    amp_html: str | None = None
    reply_to: str | None = None
    headers: dict[str, str] | None = None


class TemplateIn(Model):
    id: str | None = None
    name: str | None = Field(None, max_length=1024)
    description: str | None = Field(None, max_length=1024)
    published: bool | None = None
    content: TemplateContent | None = None
    options: dict[str, Any] | None = None


class TemplateId(BaseModel):
    id: str


class TemplateCreated(BaseModel):
    results: TemplateId


class TemplateSummary(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    published: bool
    description: str = ""
    has_draft: bool = False
    has_published: bool = False
    last_update_time: str = ""


class TemplateList(BaseModel):
    results: list[TemplateSummary]


class TemplateOne(BaseModel):
    results: dict[str, Any]


class Empty(BaseModel):
    results: dict[str, Any] = Field(default_factory=dict)


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")[:64]
    return slug or "template"


def _checked(content: TemplateContent | None) -> dict[str, Any]:
    if content is None:
        raise ApiError(422, "required field is missing", "content is a required field", "1400")
    data = content.model_dump(by_alias=True, exclude_none=True)
    try:
        inline.validate(inline_of(data))
    except Refused as exc:
        raise refusal(exc) from None
    return data


def _now(request: Request) -> tuple[float, str]:
    now = float(request.app.state.ctx.clock())
    return now, datetime.fromtimestamp(now, UTC).isoformat()


def _summary(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": payload["id"],
        "name": payload.get("name", payload["id"]),
        "description": payload.get("description", ""),
        "published": payload.get("published_content") is not None,
        "has_published": payload.get("published_content") is not None,
        "has_draft": payload.get("draft_content") is not None,
        "last_update_time": payload.get("last_update_time", ""),
    }


async def stored_content(store: DocumentStore, template_id: str, draft: bool) -> dict[str, Any]:
    """The content a transmission with ``template_id`` uses, or a SparkPost error."""
    doc = await store.get_document(KIND, template_id)
    if doc is None:
        raise ApiError(
            422, "subresource not found", f"template {template_id} does not exist", "1603"
        )
    content = doc.payload.get("draft_content" if draft else "published_content")
    if content is None:
        if draft:
            raise ApiError(422, "no draft version", f"template {template_id} has no draft", "2004")
        raise ApiError(
            422, "no published version", f"template {template_id} is not published", "2005"
        )
    return dict(content)


@router.post(
    "/templates",
    dependencies=[needs(Grant.TEMPLATES_MODIFY)],
    response_model=TemplateCreated,
    summary="Create a template",
)
async def create_template(request: Request, body: TemplateIn) -> dict[str, Any]:
    store = request.app.state.ctx.store
    content = _checked(body.content)
    if body.id is not None and not _ID.fullmatch(body.id):
        raise ApiError(422, "invalid data format/type", "id: a-z, 0-9, '_' or '-'", "1300")
    template_id = body.id or _slug(body.name or "template")
    root, n = template_id[:55], 1  # a generated id's base, before its "-n" suffix
    if body.id is None:  # the first free suffix, as far as this read can tell
        while await store.get_document(KIND, template_id) is not None:
            n += 1
            template_id = f"{root}-{n}"
    now, stamp = _now(request)
    # add_document is atomic: an id another worker or node takes at the same moment is
    # refused (409 for a given id; a generated one moves on to the next suffix).
    for _ in range(100):
        payload = {
            "id": template_id,
            "name": body.name or template_id,
            "description": body.description or "",
            "options": body.options or {},
            "draft_content": None if body.published else content,
            "published_content": content if body.published else None,
            "last_update_time": stamp,
        }
        if await store.add_document(Document(KIND, template_id, payload, now)):
            return {"results": {"id": template_id}}
        if body.id is not None:
            break
        n += 1
        template_id = f"{root}-{n}"
    raise ApiError(409, "resource conflict", f"template {template_id} exists", "1602")


@router.get(
    "/templates",
    dependencies=[needs(Grant.TEMPLATES_VIEW)],
    response_model=TemplateList,
    summary="List templates",
)
async def list_templates(request: Request) -> dict[str, Any]:
    docs = await request.app.state.ctx.store.list_documents(KIND)
    return {"results": [_summary(dict(d.payload)) for d in docs]}


async def _load(request: Request, template_id: str) -> dict[str, Any]:
    doc = await request.app.state.ctx.store.get_document(KIND, template_id)
    if doc is None:
        raise not_found(f"template {template_id}")
    return dict(doc.payload)


@router.get(
    "/templates/{template_id}",
    dependencies=[needs(Grant.TEMPLATES_VIEW)],
    response_model=TemplateOne,
    summary="Get a template",
)
async def get_template(
    request: Request, template_id: str, draft: Annotated[bool | None, Query()] = None
) -> dict[str, Any]:
    payload = await _load(request, template_id)
    use_draft = draft if draft is not None else payload.get("published_content") is None
    content = payload.get("draft_content" if use_draft else "published_content")
    if content is None:
        raise not_found(f"template {template_id} ({'draft' if use_draft else 'published'})")
    return {
        "results": {
            **_summary(payload),
            "options": payload.get("options", {}),
            "published": not use_draft,
            "content": content,
        }
    }


@router.put(
    "/templates/{template_id}",
    dependencies=[needs(Grant.TEMPLATES_MODIFY)],
    response_model=Empty,
    summary="Update a template",
)
async def update_template(
    request: Request,
    template_id: str,
    body: TemplateIn,
    update_published: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    payload = await _load(request, template_id)
    publish = bool(update_published or body.published)
    if body.content is not None:
        payload["draft_content"] = _checked(body.content)
    if publish and payload.get("draft_content") is not None:
        payload["published_content"] = payload["draft_content"]
        payload["draft_content"] = None
    for key in ("name", "description", "options"):
        value = getattr(body, key)
        if value is not None:
            payload[key] = value
    now, payload["last_update_time"] = _now(request)
    await request.app.state.ctx.store.put_document(Document(KIND, template_id, payload, now))
    return {"results": {}}


@router.delete(
    "/templates/{template_id}",
    dependencies=[needs(Grant.TEMPLATES_MODIFY)],
    response_model=Empty,
    summary="Delete a template",
)
async def delete_template(request: Request, template_id: str) -> dict[str, Any]:
    await _load(request, template_id)
    await request.app.state.ctx.store.delete_document(KIND, template_id)
    return {"results": {}}
