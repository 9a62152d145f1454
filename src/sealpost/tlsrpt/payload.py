"""A TLS-RPT report body as bytes in, a JSON object out, with a bounded amount of work.

RFC 8460 section 5.3 sends reports gzip-compressed (``application/tlsrpt+gzip``) or as plain
JSON (``application/tlsrpt+json``). A body is gzip when it starts with the gzip magic
(RFC 1952 section 2.3.1), whatever it was labelled: senders label loosely
(``application/gzip``, ``application/octet-stream``). Decompression stops as soon as the
output passes ``limit`` bytes, so a gzip bomb (a few KB that inflate to gigabytes) costs at
most ``limit`` bytes of memory and the time to inflate them; every member of a multi-member
file counts towards the same limit.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 64 * 1024


class Problem(StrEnum):
    """Why a report was not taken."""

    TOO_LARGE = "too-large"  # the report, decompressed, passes the limit
    BAD_GZIP = "bad-gzip"  # gzip magic, but not a valid gzip stream
    BAD_JSON = "bad-json"  # not UTF-8 JSON, or not a JSON object
    MISSING = "missing"  # JSON, but a required field of RFC 8460 section 4.4 is absent
    INVALID = "invalid"  # JSON, but a field of RFC 8460 section 4.4 is wrong
    NO_REPORT = "no-report"  # a message that looks like a report but carries none


@dataclass(frozen=True, slots=True)
class Refusal:
    """A report refused, with the field at fault (a JSON path) when there is one."""

    problem: Problem
    detail: str
    field: str | None = None

    @property
    def text(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.problem.value}: {where}{self.detail}"


def is_gzip(body: bytes) -> bool:
    return body[:2] == GZIP_MAGIC


def gunzip(body: bytes, limit: int) -> bytes | Refusal:
    """``body`` decompressed, or a refusal when it is not gzip or inflates past ``limit``."""
    parts: list[bytes] = []
    size = 0
    rest = body
    while rest:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            while True:  # until the member ends, or the input does
                chunk = inflater.decompress(rest, limit + 1 - size)
                size += len(chunk)
                parts.append(chunk)
                if size > limit:
                    return _too_large(limit)
                rest = inflater.unconsumed_tail
                if inflater.eof or (not chunk and not rest):
                    break
        except zlib.error as exc:
            return Refusal(Problem.BAD_GZIP, f"not a valid gzip stream ({exc})")
        if not inflater.eof:
            return Refusal(Problem.BAD_GZIP, "the gzip stream is truncated")
        rest = inflater.unused_data
        if rest and not is_gzip(rest):
            break  # trailing bytes after the last member: ignored, as gzip(1) does
    return b"".join(parts)


def _too_large(limit: int) -> Refusal:
    return Refusal(
        Problem.TOO_LARGE,
        f"the report is larger than {limit} bytes decompressed ([tls_reports] max_report_bytes)",
    )


def decode(body: bytes, limit: int) -> dict[str, Any] | Refusal:
    """The JSON object of a report body (gzip or not), or why there is none."""
    if is_gzip(body):
        inflated = gunzip(body, limit)
        if isinstance(inflated, Refusal):
            return inflated
        body = inflated
    elif len(body) > limit:
        return _too_large(limit)
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return Refusal(Problem.BAD_JSON, "the report is not UTF-8 text (nor gzip)")
    except RecursionError:
        return Refusal(Problem.BAD_JSON, "the JSON is nested too deeply")
    except ValueError as exc:
        return Refusal(Problem.BAD_JSON, f"not valid JSON ({exc})")
    if not isinstance(document, dict):
        return Refusal(Problem.BAD_JSON, "the report must be a JSON object")
    return document
