"""One recipient's RFC 5322 message from SparkPost inline content (reference section 2.1).

Header section (RFC 5322 section 3.6): From, To (built by SparkPost's rules: ``name`` and
``header_to``; a ``header_to`` holding ``<`` or ``,`` is the whole header value), Cc (from
``content.headers.CC``), Reply-To, Subject (RFC 2047 when not ASCII), Date and Message-ID
(section 3.6.1 / 3.6.4, generated unless given), MIME-Version, then custom headers. The
body is text/plain + text/x-amp-html + text/html as multipart/alternative (RFC 2046 section
5.1.4, richest last), inline images in multipart/related with the html part (RFC 2387,
Content-ID = image name), attachments in multipart/mixed. Every header value, before and
after substitution, is refused if it holds a line break (checklist I1, I2). Custom headers
may not repeat a field RFC 5322 section 3.6 allows once (``Cc`` and ``cc``) nor carry a
``DKIM-Signature`` (Sealpost signs). A ``Budget`` bounds the message while it is built
(``compose.budget``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from sealpost.compose import mime
from sealpost.compose.addresses import Mailbox, address_list, check_address
from sealpost.compose.budget import Budget, base64_size, check_size
from sealpost.compose.header_encoding import (
    ascii_fallback,
    fold,
    parameter,
    unstructured,
    with_parameters,
)
from sealpost.compose.refusal import (
    SIGNATURE_FIELDS,
    SIGNATURE_REASON,
    SINGLE_FIELDS,
    Refused,
    check_header_name,
    check_header_text,
    field_label,
)
from sealpost.compose.substitution import render
from sealpost.model.ids import new_message_id

# Set from content.from / subject / ... (SparkPost), or by the MIME structure itself.
RESERVED_HEADERS = frozenset(
    {"content-type", "content-transfer-encoding", "to", "subject", "from", "reply-to"}
    | {"mime-version"}
)
DROPPED_HEADERS = frozenset({"x-msys-api"})  # SparkPost's SMTP options header: never relayed
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*")
_CONTENT_ID = re.compile(r"[\x21-\x7e]{1,200}")


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class InlineContent:
    """Inline content as given (templates not yet rendered)."""

    sender: Mailbox
    subject: str
    text: str | None = None
    html: str | None = None
    amp_html: str | None = None
    reply_to: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    inline_images: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class Addressee:
    """Who one message is for, as the To header should show it."""

    email: str
    name: str | None = None
    header_to: str | None = None
    field: str = "recipients[0]"  # where this recipient came from, for error messages


@dataclass(frozen=True, slots=True)
class Built:
    data: bytes
    message_id: str  # the Message-ID header value


def attachment(
    field_name: str, name: str | None, type_: str | None, data: str | None
) -> Attachment:
    """Validate one ``{name, type, data}`` entry (checklist I4: the name is only ever a
    MIME parameter, RFC 2231-encoded when needed)."""
    if not name:
        raise Refused(f"{field_name}.name", f"{field_name}.name is a required field", "1400")
    if not type_:
        raise Refused(f"{field_name}.type", f"{field_name}.type is a required field", "1400")
    if data is None:
        raise Refused(f"{field_name}.data", f"{field_name}.data is a required field", "1400")
    check_header_text(f"{field_name}.name", name)
    check_header_text(f"{field_name}.type", type_)
    if len(name) > 1024:
        raise Refused(f"{field_name}.name", "at most 1024 characters")
    if not _MEDIA_TYPE.fullmatch(type_.strip()):
        raise Refused(f"{field_name}.type", "expected a media type like application/pdf")
    try:
        raw = base64.b64decode("".join(data.split()).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Refused(f"{field_name}.data", "not valid base64") from None
    return Attachment(name, type_.strip().lower(), raw)


def validate(content: InlineContent) -> None:
    """Static checks of everything that becomes a header (before substitution)."""
    check_header_text("content.subject", content.subject)
    if content.text is None and content.html is None:
        raise Refused("content.text", "content.text or content.html is required", "1400")
    if content.amp_html is not None and content.text is None and content.html is None:
        raise Refused("content.amp_html", "amp_html needs text or html too", "1400")
    if content.reply_to is not None:
        address_list("content.reply_to", content.reply_to)
    given: set[str] = set()
    for name, value in content.headers:
        label = f"content.headers.{field_label(name)}"
        check_header_name(label, name)
        check_header_text(label, value)
        lower = name.lower()
        if lower in RESERVED_HEADERS:
            raise Refused(label, f"{name} is set by Sealpost; use the content fields")
        if lower in SIGNATURE_FIELDS:
            raise Refused(label, SIGNATURE_REASON)
        if lower in given and lower in SINGLE_FIELDS:
            raise Refused(label, f"more than one {SINGLE_FIELDS[lower]} header (RFC 5322 3.6)")
        given.add(lower)
        if name.lower() == "cc":
            address_list(label, value)
    seen: set[str] = set()
    for n, image in enumerate(content.inline_images):
        label = f"content.inline_images[{n}].name"
        if not _CONTENT_ID.fullmatch(image.name) or set("<>") & set(image.name):
            raise Refused(label, "an inline image name is printable ASCII without '<' or '>'")
        if image.name in seen:
            raise Refused(label, "inline image names must be unique")
        seen.add(image.name)


def to_header(rcpt: Addressee) -> str:
    """SparkPost's To rules; a header_to with '<' or ',' is the whole header value."""
    label = f"{rcpt.field}.address.header_to"
    if rcpt.name is not None:  # checked where it was parsed too; this is the last door
        check_header_text(f"{rcpt.field}.address.name", rcpt.name)
    if rcpt.header_to:
        if "<" in rcpt.header_to or "," in rcpt.header_to:
            return address_list(label, rcpt.header_to)
        shown = check_address(label, rcpt.header_to.strip())
        return Mailbox(shown, rcpt.name).header()
    return Mailbox(rcpt.email, rcpt.name).header()


def build(
    content: InlineContent,
    rcpt: Addressee,
    data: Mapping[str, Any],
    *,
    hostname: str,
    now: float,
    substitute: bool = True,
    budget: Budget | None = None,
) -> Built:
    """The message bytes for ``rcpt``, with ``data`` substituted unless ``substitute`` is
    false (SparkPost's ``perform_substitutions``); CRLF line endings, 7-bit body. With a
    ``budget`` the output is counted while it is produced and ``TooLarge`` stops the build
    as soon as the message would pass its cap (``compose.budget``)."""
    if not substitute:
        data = _Verbatim()
    if budget is not None:
        for label, files in (
            ("content.attachments", content.attachments),
            ("content.inline_images", content.inline_images),
        ):
            for item in files:
                budget.spend(label, base64_size(len(item.data)))
    subject = _render(content.subject, data, budget=budget, field="content.subject")
    subject = check_header_text("content.subject", subject)
    if content.sender.name is not None:
        check_header_text("content.from.name", content.sender.name)
    headers = [fold("From", content.sender.header()), fold("To", to_header(rcpt))]
    custom: list[str] = []
    given: dict[str, str] = {}
    for name, raw in content.headers:
        lower = name.lower()
        if lower in DROPPED_HEADERS:
            continue
        label = f"content.headers.{field_label(name)}"
        check_header_name(label, name)
        value = check_header_text(label, _render(raw, data, budget=budget, field=label))
        given[lower] = value
        if lower == "cc":
            headers.append(fold("Cc", address_list(label, value)))
        elif lower in ("date", "message-id"):
            continue
        else:
            custom.append(fold(name, unstructured(value)))
    if content.reply_to is not None:
        value = _render(content.reply_to, data, budget=budget, field="content.reply_to")
        headers.append(fold("Reply-To", address_list("content.reply_to", value)))
    message_id = given.get("message-id") or f"<{new_message_id(now)}@{hostname}>"
    headers += [
        fold("Subject", unstructured(subject)),
        fold("Date", given.get("date") or format_datetime(datetime.fromtimestamp(now, UTC))),
        fold("Message-ID", message_id),
        "MIME-Version: 1.0\r\n",
        *custom,
    ]
    part_headers, body = mime.serialize(_body(content, data, budget))
    head = "".join(headers) + "".join(part_headers)
    message = head.encode("utf-8") + b"\r\n" + body
    if budget is not None:
        check_size("content", message, budget)
    return Built(message, message_id)


class _Verbatim(dict):  # type: ignore[type-arg]
    """Marks "no substitution": ``render`` is skipped for it."""


def _render(
    template: str,
    data: Mapping[str, Any],
    *,
    escape_html: bool = False,
    budget: Budget | None = None,
    field: str = "content",
) -> str:
    if isinstance(data, _Verbatim):
        if budget is not None:
            budget.spend_text(field, template)
        return template
    return render(template, data, escape_html=escape_html, budget=budget, field=field)


def _body(
    content: InlineContent, data: Mapping[str, Any], budget: Budget | None = None
) -> mime.Leaf | mime.Multipart:
    alternatives: list[mime.Leaf | mime.Multipart] = []
    if content.text is not None:
        text = _render(content.text, data, budget=budget, field="content.text")
        alternatives.append(mime.text_leaf(text, "plain"))
    if content.amp_html is not None:
        amp = _render(
            content.amp_html, data, escape_html=True, budget=budget, field="content.amp_html"
        )
        alternatives.append(mime.text_leaf(amp, "x-amp-html"))
    html_part: mime.Leaf | mime.Multipart | None = None
    if content.html is not None:
        html = _render(content.html, data, escape_html=True, budget=budget, field="content.html")
        html_part = mime.text_leaf(html, "html")
    images = tuple(_image(image) for image in content.inline_images)
    if html_part is not None and images:
        html_part = mime.Multipart("related", (html_part, *images), ('type="text/html"',))
    if html_part is not None:
        alternatives.append(html_part)
    body: mime.Leaf | mime.Multipart = (
        alternatives[0]
        if len(alternatives) == 1
        else mime.Multipart("alternative", tuple(alternatives))
    )
    if images and content.html is None:
        body = mime.Multipart("related", (body, *images))
    if content.attachments:
        files = tuple(_file(a, "attachment") for a in content.attachments)
        body = mime.Multipart("mixed", (body, *files))
    return body


def _file(item: Attachment, disposition: str, extra: Sequence[str] = ()) -> mime.Leaf:
    headers = (
        with_parameters("Content-Type", item.type, [f'name="{ascii_fallback(item.name)}"']),
        with_parameters("Content-Disposition", disposition, parameter("filename", item.name)),
        *extra,
    )
    return mime.binary_leaf(headers, item.data)


def _image(item: Attachment) -> mime.Leaf:
    return _file(item, "inline", (f"Content-ID: <{item.name}>\r\n",))
