"""A caller's complete message (``content.email_rfc822``): checked, normalised, kept intact.

SparkPost accepts lone LF or CR and normalises them to CRLF (reference section 2.1); RFC
5322 section 2.1.1 still limits lines to 998 characters and section 2.2 defines a header
line as ``name: value`` or a folded continuation, so a message whose header section does
not parse, has an overlong line, a NUL, a header holding any other line break
``str.splitlines`` knows (checklist I2), or a multipart without its boundary (RFC 2046
section 5.1.1) is refused rather than guessed at. RFC 5322 section 3.6 (the table of
field counts): From, Sender, Reply-To, To, Cc, Bcc, Subject, Date, Message-ID, In-Reply-To
and References occur at most once; a second one is refused naming the header, since a
reader may show either copy (a second From is the classic way to show one author and sign
another). A caller's ``DKIM-Signature`` is refused too: Sealpost signs, and only for the
domains the key may use, so a signature it did not make (a replayed third-party one, or the
caller's own, which our added Date/Message-ID may break) is not passed on; a refusal says
so, where silently stripping it would rewrite a message that is otherwise kept intact.
No To header is added (SparkPost builds none for rfc822 content); a missing Date or
Message-ID is added (RFC 5322 section 3.6: Date is required, Message-ID SHOULD be present).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import errors as email_errors
from email.header import Header, decode_header
from email.parser import BytesParser
from email.policy import compat32
from email.utils import format_datetime, getaddresses

from sealpost.compose.addresses import Mailbox, check_address
from sealpost.compose.refusal import (
    SIGNATURE_FIELDS,
    SIGNATURE_REASON,
    SINGLE_FIELDS,
    Refused,
    has_forbidden,
)
from sealpost.model.ids import new_message_id

FIELD = "content.email_rfc822"
_NEWLINES = re.compile(r"\r\n|\r|\n")
_HEADER_LINE = re.compile(r"[\x21-\x39\x3b-\x7e]+[ \t]*:")
# What the stdlib parser raises, instead of recording a defect, on some malformed headers
# (found by fuzz/rfc822.py: RFC 2231 continuations with and without a number).
_PARSER_ERRORS = (TypeError, ValueError, LookupError, IndexError, AttributeError)
_FATAL_DEFECTS = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
)


@dataclass(frozen=True, slots=True)
class Rfc822:
    data: bytes
    sender: Mailbox  # the From header's first address (the sending domain)


def normalise(text: str, *, hostname: str, now: float) -> Rfc822:
    """The message as CRLF bytes with Date/Message-ID ensured, or ``Refused``."""
    if "\x00" in text:
        raise Refused(FIELD, "a message may not contain NUL characters")
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise Refused(FIELD, "not valid Unicode (lone surrogate)") from None
    lines = _NEWLINES.split(raw.decode("utf-8"))
    if lines and lines[-1] == "":
        lines.pop()
    try:
        blank = lines.index("")
    except ValueError:
        blank = len(lines)
    head, body = lines[:blank], lines[blank + 1 :]
    _check_head(head)
    if any(len(line.encode("utf-8")) > 998 for line in body):
        raise Refused(FIELD, "a body line is longer than 998 characters; encode the part")
    names = _field_names(head)
    added = []
    if "date" not in names:
        added.append("Date: " + format_datetime(datetime.fromtimestamp(now, UTC)))
    if "message-id" not in names:
        added.append(f"Message-ID: <{new_message_id(now)}@{hostname}>")
    data = "".join(line + "\r\n" for line in [*added, *head, "", *body]).encode("utf-8")
    try:
        parsed = BytesParser(policy=compat32).parsebytes(data)
    except _PARSER_ERRORS:  # e.g. CPython's decode_params on "boundary*=a; boundary*3=b"
        raise Refused(FIELD, "unparseable MIME structure (a Content-Type parameter)") from None
    for part in parsed.walk():
        if any(isinstance(d, _FATAL_DEFECTS) for d in part.defects):
            raise Refused(FIELD, "unparseable MIME structure (multipart boundary missing)")
    senders = [a for _, a in getaddresses([_text(v) for v in parsed.get_all("From") or []]) if a]
    if not senders or "@" not in senders[0]:
        raise Refused(FIELD, "the message needs a From header with an address")
    return Rfc822(data, Mailbox(check_address(f"{FIELD} (From header)", senders[0])))


def _field_names(head: list[str]) -> set[str]:
    """The header names present (lower case), after the section 3.6 count and the
    DKIM-Signature rule; ``Refused`` naming the header otherwise."""
    seen: set[str] = set()
    for line in head:
        if line[:1] in (" ", "\t"):
            continue
        name = line.split(":", 1)[0].strip().lower()
        if name in SIGNATURE_FIELDS:
            label = SIGNATURE_FIELDS[name]
            raise Refused(f"{FIELD} ({label} header)", SIGNATURE_REASON)
        if name in seen and name in SINGLE_FIELDS:
            label = SINGLE_FIELDS[name]
            raise Refused(
                f"{FIELD} ({label} header)",
                f"more than one {label} header (RFC 5322 section 3.6 allows one)",
            )
        seen.add(name)
    return seen


def _text(value: object) -> str:
    """A header value as written: compat32 hands 8-bit (UTF-8) values over as a ``Header``
    whose ``str()`` replaces every non-ASCII octet with U+FFFD."""
    if isinstance(value, Header):
        return "".join(
            chunk.decode("utf-8") if isinstance(chunk, bytes) else chunk
            for chunk, _ in decode_header(value)
        )
    return str(value)


def _check_head(head: list[str]) -> None:
    if not head:
        raise Refused(FIELD, "the message has no header section")
    for n, line in enumerate(head):
        if len(line.encode("utf-8")) > 998:
            raise Refused(FIELD, f"header line {n + 1} is longer than 998 characters")
        if has_forbidden(line):
            raise Refused(FIELD, f"header line {n + 1} holds a line break or control character")
        if line[:1] in (" ", "\t"):
            if n == 0:
                raise Refused(FIELD, "the message starts with a continuation line")
            continue
        if not _HEADER_LINE.match(line):
            raise Refused(FIELD, f"header line {n + 1} is not 'Name: value'")
