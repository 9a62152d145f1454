"""MIME bodies (RFC 2045, 2046): leaves, multiparts and their serialization.

Text is sent as 7bit when it is ASCII with lines of at most 998 characters (RFC 5322
section 2.1.1), otherwise as quoted-printable UTF-8 (RFC 2045 section 6.7), so bodies are
always 7-bit clean; binary parts are base64 wrapped at 76 characters (section 6.8). Every
line ends in CRLF. Boundaries are random and checked against the parts they enclose
(RFC 2046 section 5.1.1).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass, field

from sealpost.compose.header_encoding import CRLF, HARD_LIMIT, with_parameters

_NEWLINES = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Leaf:
    """One body part: its header lines (each CRLF-terminated) and encoded body."""

    headers: tuple[str, ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class Multipart:
    subtype: str  # alternative | related | mixed
    parts: tuple[Leaf | Multipart, ...]
    params: tuple[str, ...] = field(default_factory=tuple)  # e.g. 'type="text/html"'


def text_leaf(text: str, subtype: str) -> Leaf:
    """A text/<subtype> UTF-8 part with line endings normalised to CRLF."""
    lines = _NEWLINES.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    if text.isascii() and all(len(line) <= HARD_LIMIT for line in lines):
        body = "".join(line + CRLF for line in lines).encode("ascii")
        cte = "7bit"
    else:
        raw = "".join(line + "\n" for line in lines).encode("utf-8", "replace")
        body = binascii.b2a_qp(raw, istext=True).replace(b"\n", b"\r\n")
        cte = "quoted-printable"
    charset = "us-ascii" if cte == "7bit" else "utf-8"
    return Leaf(
        (
            with_parameters("Content-Type", f"text/{subtype}", [f"charset={charset}"]),
            f"Content-Transfer-Encoding: {cte}{CRLF}",
        ),
        body,
    )


def base64_body(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, CRLF-terminated."""
    encoded = base64.b64encode(data)
    return b"".join(encoded[i : i + 76] + b"\r\n" for i in range(0, len(encoded), 76))


def binary_leaf(headers: tuple[str, ...], data: bytes) -> Leaf:
    return Leaf((*headers, f"Content-Transfer-Encoding: base64{CRLF}"), base64_body(data))


def _boundary(parts: list[bytes]) -> str:
    while True:
        boundary = "=_sp_" + secrets.token_hex(12)
        marker = b"--" + boundary.encode("ascii")
        if not any(marker in part for part in parts):
            return boundary


def serialize(part: Leaf | Multipart) -> tuple[tuple[str, ...], bytes]:
    """The part's header lines and body bytes."""
    if isinstance(part, Leaf):
        return part.headers, part.body
    rendered = []
    for child in part.parts:
        headers, body = serialize(child)
        rendered.append("".join(headers).encode("utf-8") + b"\r\n" + body)
    boundary = _boundary(rendered).encode("ascii")
    # The CRLF before each "--boundary" belongs to the delimiter (RFC 2046 section 5.1.1),
    # so a part's own final line break survives the round trip.
    out = bytearray(b"--" + boundary + b"\r\n")
    for n, chunk in enumerate(rendered):
        if n:
            out += b"\r\n--" + boundary + b"\r\n"
        out += chunk
    out += b"\r\n--" + boundary + b"--\r\n"
    header = with_parameters(
        "Content-Type",
        f"multipart/{part.subtype}",
        [f'boundary="{boundary.decode()}"', *part.params],
    )
    return (header,), bytes(out)
