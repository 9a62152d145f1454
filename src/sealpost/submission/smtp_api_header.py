"""SparkPost's SMTP API header, ``X-MSYS-API``, on authenticated SMTP injection.

An application that sends through SMTP instead of the REST API carries what a transmission
would carry in one header whose value is a JSON object: ``campaign_id``, ``metadata``,
``tags`` and ``options`` (SparkPost's "SMTP API" reference). This module reads that header
from the header section of a submitted message, checks it as the transmissions API checks
the same fields, and gives back the message without the header (it is an instruction to us,
never content for the recipients, and it is removed before the message is DKIM-signed) with
the fields as the event annotations the API would have given it.

Only authenticated injection reads it (the door decides); mail relayed to us from outside
keeps its headers untouched. Rules, each a refusal as a value naming the problem:
- the value must be one JSON object, and the header appear at most once;
- ``campaign_id``: a string of at most 64 bytes, as in the API;
- ``metadata``: an object; ``tags``: an array of strings without control characters (the
  whole value is at most ``MAX_HEADER`` bytes);
- ``options``: booleans for ``transactional``, ``open_tracking``, ``click_tracking``,
  ``skip_suppression``, ``inline_css``, ``sandbox``, a string ``ip_pool``.
  ``skip_suppression: true`` sends to suppressed recipients only when the authenticated key
  holds ``suppression_lists/manage`` (as the API does); for any other key it is ignored,
  as SparkPost ignored it where the account was not allowed it (the door decides, with the
  key's grants). ``sandbox: true`` is refused as the API refuses it; tracking, ``inline_css`` and
  ``ip_pool`` are accepted and have no effect (Sealpost has no tracking or IP pools);
- ``cc``, ``bcc`` and ``archive`` lists are refused when not empty: Sealpost does not
  expand them, and dropping recipients silently would lose mail. Put those addresses in the
  envelope instead. ``substitution_data`` is ignored, as SparkPost ignores it here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from sealpost.model.envelope import InboundMessage

HEADER = b"x-msys-api"
_PRESENT = re.compile(rb"(?im)^x-msys-api[ \t]*:")  # the cheap test most messages stop at
MAX_HEADER = 16 * 1024  # bytes of the unfolded value
MAX_CAMPAIGN = 64
_BOOLEAN_OPTIONS = (
    "transactional",
    "open_tracking",
    "click_tracking",
    "skip_suppression",
    "inline_css",
    "sandbox",
    "initial_open",
)


@dataclass(frozen=True, slots=True)
class BadSmtpApi:
    """A refusal: the header cannot be used. ``reason`` is printable ASCII (it goes into
    an SMTP reply)."""

    reason: str

    def __str__(self) -> str:
        return f"X-MSYS-API: {self.reason}"


@dataclass(frozen=True, slots=True)
class SmtpApi:
    """The header's fields, checked."""

    campaign_id: str = ""
    metadata: dict[str, Any] | None = None
    tags: tuple[str, ...] = ()
    transactional: bool = False
    skip_suppression: bool = False

    def annotations(self) -> dict[str, Any]:
        """The event fields the transmissions API gives a message with the same fields."""
        return {
            "campaign_id": self.campaign_id,
            "rcpt_meta": dict(self.metadata or {}),
            "rcpt_tags": list(self.tags),
            "transactional": "1" if self.transactional else "0",
        }


def apply_smtp_api(message: InboundMessage) -> InboundMessage | BadSmtpApi:
    """``message`` without its ``X-MSYS-API`` header and with the header's fields as
    annotations; unchanged when it has none; a refusal when the header is unusable."""
    read = read_smtp_api(message)
    return read if isinstance(read, BadSmtpApi) else read[0]


def read_smtp_api(message: InboundMessage) -> tuple[InboundMessage, SmtpApi | None] | BadSmtpApi:
    """As ``apply_smtp_api``, with the header's fields (``None``: no header), for what is
    not an annotation: ``skip_suppression``, which the door honours only for a key holding
    ``suppression_lists/manage``."""
    head_end = message.data.find(b"\r\n\r\n")
    head = message.data if head_end < 0 else message.data[: head_end + 2]
    if _PRESENT.search(head) is None:
        return message, None
    found = _find(head)
    if found is None:
        return message, None
    if isinstance(found, BadSmtpApi):
        return found
    start, end, raw = found
    fields = parse(raw)
    if isinstance(fields, BadSmtpApi):
        return fields
    data = message.data[:start] + message.data[end:]
    annotations = {**message.annotations, **fields.annotations()}
    return replace(message, data=data, annotations=annotations), fields


def _find(head: bytes) -> tuple[int, int, bytes] | BadSmtpApi | None:
    """Where the one ``X-MSYS-API`` field is in ``head`` (CRLF lines) and its unfolded
    value; a refusal when there are several."""
    found: tuple[int, int, bytes] | None = None
    position = 0
    lines = head.split(b"\r\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        start = position
        position += len(line) + 2
        index += 1
        name, colon, value = line.partition(b":")
        if not colon or name.strip().lower() != HEADER or line[:1] in (b" ", b"\t"):
            continue
        parts = [value]
        while index < len(lines) and lines[index][:1] in (b" ", b"\t"):
            parts.append(lines[index])
            position += len(lines[index]) + 2
            index += 1
        if found is not None:
            return BadSmtpApi("the header appears more than once")
        found = (start, min(position, len(head)), b"".join(parts))
    return found


def parse(raw: bytes) -> SmtpApi | BadSmtpApi:
    """The checked fields of one header value (unfolded, as bytes)."""
    if len(raw) > MAX_HEADER:
        return BadSmtpApi(f"the value is longer than {MAX_HEADER} bytes")
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return BadSmtpApi("the value is not valid JSON")
    if not isinstance(value, dict):
        return BadSmtpApi("the value must be a JSON object")
    for name in ("cc", "bcc", "archive"):
        if value.get(name):
            return BadSmtpApi(
                f"{name} is not supported by Sealpost; give those recipients in RCPT TO"
            )
    campaign = value.get("campaign_id", "")
    if campaign is None:
        campaign = ""
    if not isinstance(campaign, str) or len(campaign.encode("utf-8")) > MAX_CAMPAIGN:
        return BadSmtpApi(f"campaign_id must be a string of at most {MAX_CAMPAIGN} bytes")
    metadata = value.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return BadSmtpApi("metadata must be a JSON object")
    tags = value.get("tags")
    tags = [] if tags is None else tags
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return BadSmtpApi("tags must be an array of strings")
    if any(not c.isprintable() for tag in tags for c in tag):
        return BadSmtpApi("tags must not contain line breaks or control characters")
    options = value.get("options")
    options = {} if options is None else options
    if not isinstance(options, dict):
        return BadSmtpApi("options must be a JSON object")
    for name in _BOOLEAN_OPTIONS:
        if name in options and not isinstance(options[name], bool):
            return BadSmtpApi(f"options.{name} must be true or false")
    if "ip_pool" in options and not isinstance(options["ip_pool"], str):
        return BadSmtpApi("options.ip_pool must be a string")
    if options.get("sandbox"):
        return BadSmtpApi("options.sandbox is not supported by Sealpost; use a real domain")
    return SmtpApi(
        campaign_id=campaign,
        metadata=metadata,
        tags=tuple(tags),
        transactional=bool(options.get("transactional")),
        skip_suppression=bool(options.get("skip_suppression")),
    )
