"""``/api/v1/sending-domains``: SparkPost's sending domains with DKIM (reference section 6).

``POST`` creates a domain and its DKIM key (generated, 2048 or 1024 bits, or brought in
``dkim``) and answers with the public key to publish; ``GET`` lists (filters
``ownership_verified``, ``dkim_status``, ...) or reads one; ``PUT`` changes one (a new key
must already be published: 400, code 1404 otherwise); ``DELETE`` removes it and its key file
(204); ``POST /{domain}/verify`` with ``dkim_verify`` checks the key record through the
resolver. The private key is never in a response. After every change the DKIM signer
(``ctx.signing_keys``, a ``domains.signers.SigningKeys``) is refreshed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from sealpost.api.auth import needs, require_key
from sealpost.api.errors import ApiError, invalid, not_found
from sealpost.domains.records import DkimStatus, SendingDomain
from sealpost.domains.registry import DkimInput, DomainError, Problem, SendingDomains
from sealpost.model.grants import Grant

router = APIRouter(dependencies=[Depends(require_key)], tags=["sending-domains"])

MAX_KEY_TEXT = 16384
MAX_NAME_TEXT = 1024


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DkimBody(_In):
    private: str | None = Field(None, max_length=MAX_KEY_TEXT, description="PEM or base64 key.")
    public: str | None = Field(None, max_length=MAX_KEY_TEXT, description="base64 public key.")
    selector: str | None = Field(None, max_length=MAX_NAME_TEXT)
    signing_domain: str | None = Field(None, max_length=MAX_NAME_TEXT)
    headers: str | None = Field(None, max_length=MAX_NAME_TEXT, description="Ignored.")

    def input(self) -> DkimInput:
        return DkimInput(self.private, self.public, self.selector, self.signing_domain)


class CreateBody(_In):
    domain: str = Field(max_length=MAX_NAME_TEXT)
    tracking_domain: str | None = Field(None, max_length=MAX_NAME_TEXT, description="Ignored.")
    dkim: DkimBody | None = None
    generate_dkim: bool = True
    dkim_key_length: int = 2048
    shared_with_subaccounts: bool = False


class UpdateBody(_In):
    tracking_domain: str | None = Field(None, max_length=MAX_NAME_TEXT)
    dkim: DkimBody | None = None
    is_default_bounce_domain: bool | None = None
    shared_with_subaccounts: bool | None = None


class VerifyBody(_In):
    dkim_verify: bool = False
    cname_verify: bool = False
    mx_verify: bool = False
    postmaster_at_verify: bool = False
    abuse_at_verify: bool = False
    verification_mailbox_verify: bool = False


class DkimOut(BaseModel):
    signing_domain: str
    public: str
    selector: str
    headers: str


class StatusOut(BaseModel):
    ownership_verified: bool
    dkim_status: str
    cname_status: str
    mx_status: str
    spf_status: str
    abuse_at_status: str
    postmaster_at_status: str
    verification_mailbox_status: str
    compliance_status: str


class DomainOut(BaseModel):
    domain: str | None = None
    tracking_domain: str | None = None
    status: StatusOut
    dkim: DkimOut | None = None
    shared_with_subaccounts: bool
    is_default_bounce_domain: bool
    creation_time: str


class CreateResult(BaseModel):
    message: str
    domain: str
    dkim: DkimOut | None = None


class CreateResponse(BaseModel):
    results: CreateResult


class ListResponse(BaseModel):
    results: list[DomainOut]


class GetResponse(BaseModel):
    results: DomainOut


class UpdateResult(BaseModel):
    message: str
    domain: str


class UpdateResponse(BaseModel):
    results: UpdateResult


class DnsOut(BaseModel):
    dkim_record: str | None = None
    dkim_error: str | None = None
    cname_record: str | None = None
    cname_error: str | None = None


class VerifyResult(StatusOut):
    dns: DnsOut


class VerifyResponse(BaseModel):
    results: VerifyResult


def _registry(request: Request) -> SendingDomains:
    return request.app.state.ctx.sending_domains


async def _refresh_signer(request: Request) -> None:
    keys = request.app.state.ctx.signing_keys
    if keys is not None:
        await keys.refresh()


def _api_error(exc: DomainError) -> ApiError:
    if exc.problem is Problem.NOT_FOUND:
        return not_found(f"sending domain {exc.detail}")
    if exc.problem is Problem.DUPLICATE:
        return ApiError(
            409, "resource conflict", f"Sending domain {exc.detail} already registered", "1602"
        )
    if exc.problem is Problem.KEY_CONFLICT:
        return ApiError(409, "resource conflict", exc.detail, "1602")
    if exc.problem is Problem.DKIM_UNVERIFIED:
        return ApiError(400, exc.detail, "the new DKIM key must be published first", "1404")
    return invalid(exc.field, exc.detail)


def _dkim_out(record: SendingDomain) -> DkimOut | None:
    return DkimOut(**record.key.public_view()) if record.key is not None else None


@router.post(
    "/sending-domains",
    dependencies=[needs(Grant.SENDING_DOMAINS_MODIFY)],
    summary="Create a sending domain",
)
async def create(request: Request, body: CreateBody) -> CreateResponse:
    try:
        record = await _registry(request).create(
            body.domain,
            dkim=body.dkim.input() if body.dkim is not None else None,
            generate_dkim=body.generate_dkim,
            key_bits=body.dkim_key_length,
            tracking_domain=body.tracking_domain,
            shared_with_subaccounts=body.shared_with_subaccounts,
        )
    except DomainError as exc:
        raise _api_error(exc) from None
    await _refresh_signer(request)
    return CreateResponse(
        results=CreateResult(
            message="Successfully Created domain.", domain=record.domain, dkim=_dkim_out(record)
        )
    )


@router.get(
    "/sending-domains",
    dependencies=[needs(Grant.SENDING_DOMAINS_VIEW)],
    summary="List sending domains",
    response_model=ListResponse,
    response_model_exclude_none=True,
)
async def list_domains(
    request: Request,
    ownership_verified: bool | None = None,
    dkim_status: DkimStatus | None = None,
    cname_status: Annotated[DkimStatus | None, Query()] = None,
    mx_status: Annotated[DkimStatus | None, Query()] = None,
) -> Any:
    records = await _registry(request).search(
        ownership_verified=ownership_verified, dkim_status=dkim_status
    )
    unchecked = (cname_status, mx_status)
    if any(s is not None and s is not DkimStatus.UNVERIFIED for s in unchecked):
        records = []  # Sealpost runs no CNAME or MX check: every domain is unverified there
    return {"results": [r.public_view() for r in records]}


@router.get(
    "/sending-domains/{domain}",
    dependencies=[needs(Grant.SENDING_DOMAINS_VIEW)],
    summary="Read a sending domain",
    response_model=GetResponse,
    response_model_exclude_none=True,
)
async def read(request: Request, domain: str) -> Any:
    try:
        record = await _registry(request).get(domain)
    except DomainError as exc:
        raise _api_error(exc) from None
    return {"results": record.public_view(with_domain=False)}


@router.put(
    "/sending-domains/{domain}",
    dependencies=[needs(Grant.SENDING_DOMAINS_MODIFY)],
    summary="Update a sending domain",
)
async def update(request: Request, domain: str, body: UpdateBody) -> UpdateResponse:
    try:
        record = await _registry(request).update(
            domain,
            dkim=body.dkim.input() if body.dkim is not None else None,
            tracking_domain=body.tracking_domain,
            shared_with_subaccounts=body.shared_with_subaccounts,
            is_default_bounce_domain=body.is_default_bounce_domain,
        )
    except DomainError as exc:
        raise _api_error(exc) from None
    await _refresh_signer(request)
    return UpdateResponse(
        results=UpdateResult(message="Successfully Updated Domain.", domain=record.domain)
    )


@router.delete(
    "/sending-domains/{domain}",
    dependencies=[needs(Grant.SENDING_DOMAINS_MODIFY)],
    summary="Delete a sending domain and its DKIM key",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Deleted"}},
)
async def delete(request: Request, domain: str) -> Response:
    try:
        await _registry(request).delete(domain)
    except DomainError as exc:
        raise _api_error(exc) from None
    await _refresh_signer(request)
    return Response(status_code=204)


@router.post(
    "/sending-domains/{domain}/verify",
    dependencies=[needs(Grant.SENDING_DOMAINS_MODIFY)],
    summary="Verify a sending domain's DNS",
)
async def verify(request: Request, domain: str, body: VerifyBody | None = None) -> VerifyResponse:
    wanted = body or VerifyBody()
    try:
        record = await _registry(request).verify(domain, dkim=wanted.dkim_verify)
    except DomainError as exc:
        raise _api_error(exc) from None
    await _refresh_signer(request)
    dns = record.dns
    return VerifyResponse(
        results=VerifyResult(
            **record.status_view(),
            dns=DnsOut(
                dkim_record=dns.dkim_record if dns else None,
                dkim_error=dns.dkim_error if dns else None,
            ),
        )
    )
