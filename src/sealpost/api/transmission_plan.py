"""Turning one ``POST /transmissions`` request into the messages to queue.

Reference section 2.1: options (``start_time`` at most 3 days ahead, ``sandbox`` refused,
tracking accepted and ignored with a warning, the ``tls`` extension: a level, or an object
whose ``tls_required: false`` puts ``TLS-Required: No`` at the top of every message, RFC
8689 section 3; no grant of its own, as any key may send that header in ``email_rfc822``),
content (inline, a stored template, or ``email_rfc822``; ``template_id`` with inline
subject/text/html is 1301), the sending-domain check (7001) and one message per recipient,
built by ``compose`` with ``substitution_data`` (recipient over transmission). Malformed
recipients are SparkPost's partial errors; anything that could inject a header or an
envelope parameter (checklist I1-I3) refuses the whole request. Each message is capped at
``[server] max_message_size`` and all of them together at ``[api] max_transmission_bytes``
while they are built (``compose.budget``: 422 / 1300, the field and the recipient named). A
key limited to sender domains (``keys create --domain``) gets 422 / 7001 naming the field
when the envelope sender (``return_path``) or any From or Sender address of a built message
is outside them (``sender_identity``, DESIGN section 9); the session carries the domains so
that submission checks again and signs only for them. Recipients on the suppression list
are rejected with a ``policy_rejection`` event each (``transmission_suppression``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from sealpost.api.context import ApiContext
from sealpost.api.errors import ApiError, invalid, missing
from sealpost.api.templates_v1 import stored_content
from sealpost.api.transmission_models import (
    ContentIn,
    OptionsIn,
    RecipientPlan,
    StoredList,
    TransmissionIn,
    inline_of,
    recipient_plan,
    refusal,
)
from sealpost.api.transmission_suppression import rcpt_error, suppressed_keys
from sealpost.compose import budget as size
from sealpost.compose import inline, rfc822
from sealpost.compose.addresses import BadAddress, Mailbox, check_address
from sealpost.compose.refusal import Refused
from sealpost.compose.substitution import merged
from sealpost.domains.records import DomainNameError, normalize_domain
from sealpost.events.records import policy_rejection_event
from sealpost.model import tls_required
from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.events import EventRecord
from sealpost.model.ids import new_message_id
from sealpost.model.suppression import recipient_key
from sealpost.model.tls_record import TlsRecord
from sealpost.submission.sender_identity import ForeignSender, Party, address_refusal, check_sender

MAX_AHEAD = 3 * 86400.0
IGNORED_OPTIONS = ("open_tracking", "click_tracking", "initial_open", "inline_css")
_TLS_NAMES = {0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}


def _rcpt_error(exc: Refused) -> dict[str, str]:
    body = refusal(exc).body()["errors"][0]
    return {k: str(v) for k, v in body.items()}


@dataclass
class Plan:
    messages: list[InboundMessage] = field(default_factory=list)
    rcpt_errors: list[dict[str, str]] = field(default_factory=list)
    not_before: float | None = None
    template_id: str = "inline"
    warnings: list[str] = field(default_factory=list)
    rejections: list[EventRecord] = field(default_factory=list)  # suppressed: policy_rejection


def _start_time(text: str | None, now: float) -> float | None:
    if not text or not text.strip():
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        stamp = when.timestamp()
    except (ValueError, OverflowError):
        raise invalid("options.start_time", "expected YYYY-MM-DDTHH:MM:SS+HH:MM") from None
    if stamp > now + MAX_AHEAD:
        raise invalid("options.start_time", "at most 3 days in the future")
    return stamp if stamp > now else None


def _session_tls(scope: dict[str, Any]) -> TlsRecord | None:
    """The HTTPS session's facts when the server exposes them (ASGI TLS extension)."""
    tls = (scope.get("extensions") or {}).get("tls")
    if not isinstance(tls, dict):
        return None
    version = tls.get("tls_version")
    return TlsRecord(version=_TLS_NAMES.get(version) if isinstance(version, int) else None)


def foreign_sender(
    refused: ForeignSender, *, rfc822_content: bool, return_path: bool = False
) -> ApiError:
    """A restricted key's message naming a sender outside its domains: 422 / 7001 (SparkPost's
    "Invalid domain"), naming the field the sender came from."""
    if refused.party is Party.ENVELOPE and return_path:
        where = "return_path"
    elif refused.party is Party.SENDER:
        where = f"{rfc822.FIELD} (Sender header)" if rfc822_content else "content.headers.Sender"
    else:
        where = f"{rfc822.FIELD} (From header)" if rfc822_content else "content.from"
    return ApiError(422, "Invalid domain", f"{where}: {refused.reason}", "7001")


async def _check_domains(ctx: ApiContext, sender: Mailbox) -> None:
    if ctx.config.api.allow_unverified_domains:
        return
    keys = ctx.signing_keys
    if keys is not None and keys.is_verified(sender.domain):
        return  # a verified sending domain, or one with a [[dkim.keys]] key in the config
    doc = await ctx.store.get_document("sending_domain", _a_label(sender.domain))
    status = (doc.payload.get("status") or {}) if doc is not None else {}
    if not (status.get("dkim_status") == "valid" or status.get("ownership_verified") is True):
        raise ApiError(400, "Invalid domain", "Unconfigured or unverified sending domain.", "7001")


def _a_label(domain: str) -> str:
    try:
        return normalize_domain(domain)
    except DomainNameError:
        return domain.lower()


async def _content(
    ctx: ApiContext, content: ContentIn, now: float
) -> tuple[inline.InlineContent | rfc822.Rfc822, str]:
    if content.email_rfc822 is not None:
        if content.template_id:
            raise ApiError(422, "invalid combination of fields", _COMBINATION, "1301")
        hostname = ctx.config.server.hostname
        return rfc822.normalise(content.email_rfc822, hostname=hostname, now=now), "inline"
    if content.template_id:
        if any(v is not None for v in (content.subject, content.text, content.html)):
            raise ApiError(422, "invalid combination of fields", _COMBINATION, "1301")
        stored = await stored_content(
            ctx.store, content.template_id, bool(content.use_draft_template)
        )
        built = inline_of(stored)
        inline.validate(built)
        return built, content.template_id
    built = inline_of(content)
    inline.validate(built)
    return built, "inline"


_COMBINATION = (
    "content.template_id cannot be combined with inline subject, text, html or email_rfc822"
)


async def plan_transmission(
    request: Request, body: TransmissionIn, record: ApiKeyRecord, tid: str, now: float
) -> Plan:
    ctx: ApiContext = request.app.state.ctx
    opts = body.options or OptionsIn()
    if opts.sandbox:
        raise ApiError(
            422,
            "sandbox is not supported by Sealpost",
            "options.sandbox: use a real domain",
            "1300",
        )
    if opts.tls_not_required and opts.tls_level == "requiretls":
        raise ApiError(  # RFC 8689 section 3: the header is ignored with REQUIRETLS
            422,
            "invalid combination of fields",
            "options.tls: tls_required false cannot be combined with the level requiretls",
            "1301",
        )
    if isinstance(body.recipients, StoredList):
        raise ApiError(
            422,
            "subresource not found",
            "recipients.list_id: stored recipient lists are not supported by Sealpost; "
            "send the recipients inline",
            "1603",
        )
    if not body.recipients:
        raise missing("recipients")
    if len(body.recipients) > ctx.config.api.max_recipients:
        raise invalid("recipients", f"at most {ctx.config.api.max_recipients} per transmission")
    plan = Plan(not_before=_start_time(opts.start_time, now))
    plan.warnings = [
        f"options.{name} is accepted but ignored: Sealpost does not rewrite messages"
        for name in IGNORED_OPTIONS
        if getattr(opts, name)
    ]
    content, plan.template_id = await _content(ctx, body.content or ContentIn(), now)
    sender = content.sender
    return_path = check_address("return_path", body.return_path) if body.return_path else None
    domains = frozenset(record.sender_domains) or None

    def check(refused: ForeignSender | None) -> None:
        if refused is not None:
            raise foreign_sender(
                refused,
                rfc822_content=isinstance(content, rfc822.Rfc822),
                return_path=return_path is not None,
            )

    mail_from = return_path or sender.email
    if isinstance(content, rfc822.Rfc822):
        check(check_sender(content.data, mail_from, domains))
    else:  # the headers are built per recipient below; the From and envelope are known now
        check(address_refusal(Party.ENVELOPE, mail_from, domains))
        check(address_refusal(Party.FROM, sender.email, domains))
    await _check_domains(ctx, sender)
    accepted: list[RecipientPlan] = []
    for n, item in enumerate(body.recipients):
        try:
            accepted.append(recipient_plan(n, item))
        except BadAddress as exc:
            plan.rcpt_errors.append(_rcpt_error(exc))
    if not accepted:
        raise ApiError(
            422,
            "At least one valid recipient is required",
            plan.rcpt_errors[0].get("description") if plan.rcpt_errors else None,
            "1400",
        )
    session = SessionInfo(
        listener="api",
        client_ip=request.client.host if request.client else "127.0.0.1",
        client_port=request.client.port if request.client else 0,
        auth_user=record.id,
        tls=_session_tls(request.scope),
        local_hostname=ctx.config.server.hostname,
        sender_domains=domains,
    )
    addresses = [r.to.email for r in accepted]
    suppressed = await suppressed_keys(ctx, record, opts, addresses, plan.warnings)
    substitute = opts.perform_substitutions is not False
    max_message = ctx.config.server.max_message_size
    max_total = left = ctx.config.api.max_transmission_bytes
    for rcpt in accepted:
        data = merged(body.substitution_data or {}, rcpt.substitution_data) if substitute else {}
        budget = size.for_message(
            rcpt.to.field,
            max_message=max_message,
            transmission_left=left,
            max_transmission=max_total,
        )
        if isinstance(content, rfc822.Rfc822):
            raw = size.check_size(rfc822.FIELD, content.data, budget)
        else:
            raw = inline.build(
                content,
                rcpt.to,
                data,
                hostname=ctx.config.server.hostname,
                now=now,
                substitute=substitute,
                budget=budget,
            ).data
            if domains is not None:  # a (substituted) content.headers.Sender, for one
                check(check_sender(raw, mail_from, domains))
        if opts.tls_not_required and not tls_required.says_no(raw):
            raw = tls_required.HEADER + raw  # RFC 8689 section 3
        message = InboundMessage(
            _envelope(mail_from, rcpt.to.email, raw, opts),
            session,
            raw,
            annotations={
                "transmission_id": tid,
                "campaign_id": body.campaign_id or "",
                "template_id": plan.template_id,
                "rcpt_meta": {**(body.metadata or {}), **rcpt.metadata},
                "rcpt_tags": list(rcpt.tags),
                "transactional": "1" if opts.transactional else "0",
            },
        )
        if recipient_key(rcpt.to.email) in suppressed:  # built for its event, not sent
            plan.rcpt_errors.append(rcpt_error(rcpt.to.email))
            event = policy_rejection_event(new_message_id(now), message, rcpt.to.email, now)
            plan.rejections.append(event)
            continue
        left -= len(raw)
        plan.messages.append(message)
    return plan


def _envelope(mail_from: str, rcpt: str, raw: bytes, opts: OptionsIn) -> Envelope:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return Envelope(
        mail_from=mail_from,
        recipients=(rcpt,),
        body="7BIT" if raw.isascii() else "8BITMIME",
        smtputf8=not (mail_from.isascii() and rcpt.isascii() and head.isascii()),
        requiretls=opts.tls_level == "requiretls",
        tls_minimum=opts.tls_level if opts.tls_level in ("encrypt", "verify") else None,
    )
