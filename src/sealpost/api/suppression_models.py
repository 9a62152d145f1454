"""Request shapes and values of ``/api/v1/suppression-list`` (``suppression_list_v1``).

Entries arrive as SparkPost's objects: ``recipient`` (or ``email``, the name of its first
version), ``type``, or the legacy booleans ``transactional`` / ``non_transactional`` (one
entry per true flag), and ``description`` (at most 1024 characters). Anything malformed is
400 with SparkPost's message and a description naming the field (``recipients[3].type``).
Entries go out with both the ``type`` and its legacy boolean, times in SparkPost's form.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from sealpost.api.errors import ApiError
from sealpost.api.transmission_models import Model
from sealpost.compose.addresses import BadAddress, check_address
from sealpost.compose.refusal import Refused
from sealpost.model.suppression import (
    Suppression,
    SuppressionSource,
    SuppressionType,
    recipient_key,
)

MAX_BULK = 100_000  # entries in one bulk PUT (SparkPost: 10,000); the body cap still applies
MAX_DESCRIPTION = 1024
TYPES = "'transactional', 'non_transactional'"


class EntryIn(Model):
    recipient: str | None = None
    email: str | None = None  # the name SparkPost's first version (and its clients) used
    type: str | None = None
    transactional: bool | None = None
    non_transactional: bool | None = None
    description: str | None = None


class BulkIn(Model):
    recipients: list[EntryIn] | None = Field(None, description=f"at most {MAX_BULK} entries")


def bad(status: int, message: str, description: str, code: str = "1300") -> ApiError:
    return ApiError(status, message, description, code)


# The common case, an ASCII dot-atom address, checked at once (a bulk PUT has 100k of them);
# anything else goes through compose's full check, which accepts everything this does.
_PLAIN_ADDRESS = re.compile(
    r"(?!\.)(?!.*\.\.)[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}(?<!\.)@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?"
)


def address_of(field: str, value: str | None) -> str:
    if not value or not value.strip():
        raise bad(400, "required field is missing", f"{field} is a required field", "1400")
    value = value.strip()
    if len(value) <= 320 and _PLAIN_ADDRESS.fullmatch(value):
        return recipient_key(value)
    try:
        return recipient_key(check_address(field, value))
    except (BadAddress, Refused) as exc:
        raise bad(400, "invalid data format/type", f"{field}: {exc.reason}") from None


def _types(field: str, body: EntryIn) -> list[SuppressionType]:
    if body.type is not None:
        try:
            return [SuppressionType(body.type)]
        except ValueError:
            raise bad(
                400, f"Type must be one of: {TYPES}", f"{field}type: one of {TYPES}"
            ) from None
    kinds = [
        kind
        for kind, flag in (
            (SuppressionType.TRANSACTIONAL, body.transactional),
            (SuppressionType.NON_TRANSACTIONAL, body.non_transactional),
        )
        if flag
    ]
    if not kinds:
        raise bad(
            400,
            "Must supply a suppression type",
            f"{field}type is a required field (or {field}transactional / "
            f"{field}non_transactional: true)",
            "1400",
        )
    return kinds


def entries_of(field: str, address: str, body: EntryIn, now: float) -> list[Suppression]:
    description = body.description or ""
    if len(description) > MAX_DESCRIPTION:
        raise bad(400, "invalid data format/type", f"{field}description: at most 1024 characters")
    return [
        Suppression(address, kind, SuppressionSource.MANUALLY_ADDED, description, now, now)
        for kind in _types(field, body)
    ]


def iso_seconds(ts: float) -> str:
    """SparkPost's form for ``created`` and ``updated``: ``2017-10-01T12:00:00+00:00``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def view(entry: Suppression) -> dict[str, Any]:
    return {
        "recipient": entry.recipient,
        "type": entry.type.value,
        "source": entry.source.value,
        "description": entry.description,
        "created": iso_seconds(entry.created),
        "updated": iso_seconds(entry.updated),
        "transactional": entry.type is SuppressionType.TRANSACTIONAL,
        "non_transactional": entry.type is SuppressionType.NON_TRANSACTIONAL,
    }


def type_list(text: str | None) -> list[SuppressionType]:
    kinds = []
    for name in (text or "").split(","):
        if name.strip():
            try:
                kinds.append(SuppressionType(name.strip()))
            except ValueError:
                raise bad(400, "invalid data format/type", f"types: one of {TYPES}") from None
    return kinds


def source_list(text: str | None) -> list[SuppressionSource]:
    sources = []
    for name in (text or "").split(","):
        if name.strip():
            try:
                sources.append(SuppressionSource(name.strip()))
            except ValueError:
                names = ", ".join(f"'{s.value}'" for s in SuppressionSource)
                raise bad(400, "invalid data format/type", f"sources: one of {names}") from None
    return sources


def cursor_of(text: str) -> tuple[str, str] | None:
    if text == "initial":
        return None
    try:
        recipient, _, kind = base64.urlsafe_b64decode(text.encode("ascii")).decode().partition("\n")
        return recipient, SuppressionType(kind).value
    except (ValueError, UnicodeError, binascii.Error):
        raise ApiError(400, "invalid cursor", "cursor: use the value from links", "1200") from None


def next_cursor(entry: Suppression) -> str:
    return base64.urlsafe_b64encode(f"{entry.recipient}\n{entry.type.value}".encode()).decode()
