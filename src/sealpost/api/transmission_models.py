"""Request and response shapes of ``/api/v1/transmissions`` (reference sections 2 and 3).

Every model ignores unknown fields (SparkPost: "unexpected ... fields are ignored") and
accepts ``null`` where clients send it. Recipients arrive as strings or objects whose
``address`` is a string or ``{email, name, header_to}`` (the python client's cc/bcc copies
carry ``header_to`` = the primary recipient). ``recipients`` may also be a stored list
reference (``{"list_id": ...}``), which Sealpost refuses (1603). A recipient's own
``return_path`` (SparkPost Enterprise VERP) is accepted and ignored. The helpers at the bottom
turn validated models into ``compose`` values; they raise ``compose.refusal.Refused``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sealpost.api.errors import ApiError
from sealpost.compose.addresses import BadAddress, Mailbox, mailbox, parse_mailbox
from sealpost.compose.inline import Addressee, InlineContent, attachment
from sealpost.compose.refusal import Refused, check_header_text

TlsLevel = Literal["may", "encrypt", "verify", "requiretls"]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class AddressObject(Model):
    email: str | None = None
    name: str | None = None
    header_to: str | None = None


class RecipientIn(Model):
    address: str | AddressObject | None = None
    return_path: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    substitution_data: dict[str, Any] | None = None


class StoredList(Model):
    list_id: str


class Sender(Model):
    email: str | None = None
    name: str | None = None


class FilePart(Model):
    name: str | None = None
    type: str | None = None
    data: str | None = None


class ContentIn(Model):
    from_: str | Sender | None = Field(None, alias="from")
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    amp_html: str | None = None
    reply_to: str | None = None
    headers: dict[str, str] | None = None
    attachments: list[FilePart] | None = None
    inline_images: list[FilePart] | None = None
    template_id: str | None = None
    use_draft_template: bool | None = None
    email_rfc822: str | None = None


class TlsOptionsIn(Model):
    """``options.tls`` as an object: ``level`` is what the string form says, and
    ``tls_required: false`` gives the messages ``TLS-Required: No`` (RFC 8689 section 3:
    the recipient domain's DANE and MTA-STS failures are ignored for them)."""

    level: TlsLevel | None = None
    tls_required: bool | None = None


class OptionsIn(Model):
    start_time: str | None = None
    open_tracking: bool | None = None
    click_tracking: bool | None = None
    initial_open: bool | None = None
    transactional: bool | None = None
    sandbox: bool | None = None
    skip_suppression: bool | None = None
    inline_css: bool | None = None
    perform_substitutions: bool | None = None
    ip_pool: str | None = None
    dkim_key: str | None = None
    tls: TlsLevel | TlsOptionsIn | None = Field(
        None,
        description="Sealpost extension: minimum outbound TLS level for these messages, or "
        '{"level": ..., "tls_required": false} (TLS-Required: No, RFC 8689 section 3).',
    )

    @property
    def tls_level(self) -> TlsLevel | None:
        return self.tls.level if isinstance(self.tls, TlsOptionsIn) else self.tls

    @property
    def tls_not_required(self) -> bool:
        """``options.tls.tls_required`` is ``false``."""
        return isinstance(self.tls, TlsOptionsIn) and self.tls.tls_required is False


class TransmissionIn(Model):
    recipients: list[str | RecipientIn] | StoredList | None = None
    content: ContentIn | None = None
    options: OptionsIn | None = None
    campaign_id: str | None = Field(None, max_length=64)
    description: str | None = Field(None, max_length=1024)
    metadata: dict[str, Any] | None = None
    substitution_data: dict[str, Any] | None = None
    return_path: str | None = None


class ErrorItem(BaseModel):
    message: str
    description: str | None = None
    code: str | None = None


class TransmissionResults(BaseModel):
    total_rejected_recipients: int
    total_accepted_recipients: int
    id: str
    rcpt_to_errors: list[ErrorItem] | None = None
    warnings: list[str] | None = None
    tls: TlsLevel | None = None


class TransmissionCreated(BaseModel):
    results: TransmissionResults
    errors: list[ErrorItem] | None = None


class TransmissionView(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    state: str
    description: str = ""
    campaign_id: str = ""
    content: dict[str, Any] = Field(default_factory=dict)
    num_rcpts: int = 0
    num_generated: int = 0
    num_failed_gen: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)
    substitution_data: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)


class TransmissionOne(BaseModel):
    transmission: TransmissionView


class TransmissionGot(BaseModel):
    results: TransmissionOne


class TransmissionList(BaseModel):
    results: list[TransmissionView]


# --- models -> compose values ------------------------------------------------------------


def refusal(exc: Refused) -> ApiError:
    """A compose refusal as SparkPost's error envelope (422, the field named)."""
    if exc.code == "1400":
        return ApiError(422, "required field is missing", exc.reason, "1400")
    return ApiError(422, "invalid data format/type", f"{exc.field}: {exc.reason}", exc.code)


@dataclass(frozen=True, slots=True)
class RecipientPlan:
    """One accepted recipient: who, how the To header shows it, and its event facts."""

    to: Addressee
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    substitution_data: dict[str, Any] = field(default_factory=dict)


def sender_of(value: str | Sender | None) -> Mailbox:
    if value is None:
        raise Refused("content.from", "content.from is a required field", "1400")
    if isinstance(value, str):
        return parse_mailbox("content.from", value)
    return mailbox("content.from", value.email, value.name)


def inline_of(content: ContentIn | dict[str, Any]) -> InlineContent:
    """Inline content (from the request or a stored template) as a compose value."""
    if isinstance(content, dict):
        content = ContentIn.model_validate(content)
    sender = sender_of(content.from_)
    if content.subject is None:
        raise Refused("content.subject", "content.subject is a required field", "1400")
    files = [
        attachment(f"content.attachments[{n}]", a.name, a.type, a.data)
        for n, a in enumerate(content.attachments or ())
    ]
    images = [
        attachment(f"content.inline_images[{n}]", a.name, a.type, a.data)
        for n, a in enumerate(content.inline_images or ())
    ]
    return InlineContent(
        sender=sender,
        subject=content.subject,
        text=content.text,
        html=content.html,
        amp_html=content.amp_html,
        reply_to=content.reply_to,
        headers=tuple((content.headers or {}).items()),
        attachments=tuple(files),
        inline_images=tuple(images),
    )


def recipient_plan(n: int, item: str | RecipientIn) -> RecipientPlan:
    """One recipient, or ``Refused`` (injection: the whole request fails) / ``BadAddress``
    (this recipient is rejected, SparkPost's partial errors)."""
    where = f"recipients[{n}]"
    if isinstance(item, str):
        item = RecipientIn(address=item)
    address = item.address
    if address is None:
        raise BadAddress(f"{where}.address", f"{where}.address is a required field", "1400")
    if isinstance(address, str):
        box = parse_mailbox(f"{where}.address", address)
        to = Addressee(box.email, box.name, None, where)
    else:
        box = mailbox(f"{where}.address", address.email, address.name)
        if address.header_to is not None:
            check_header_text(f"{where}.address.header_to", address.header_to)
        to = Addressee(box.email, box.name, address.header_to or None, where)
    for t, tag in enumerate(item.tags or ()):
        check_header_text(f"{where}.tags[{t}]", tag)
    return RecipientPlan(
        to, tuple(item.tags or ()), dict(item.metadata or {}), dict(item.substitution_data or {})
    )
