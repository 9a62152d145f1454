"""Writing header fields: RFC 2047 encoded words, RFC 2231 parameters, folding.

RFC 5322 section 2.1.1: a line MUST be at most 998 characters (78 recommended), so long
values are folded at whitespace (section 2.2.3: folding inserts CRLF before existing
whitespace, and unfolding removes it again, so the value is unchanged). Non-ASCII text in
unstructured fields and display names becomes RFC 2047 encoded words ("B" encoding, at
most 75 characters each, section 2); attachment file names that are not plain ASCII use
RFC 2231 (section 4, with continuations, section 3). Callers pass values already checked
by ``refusal``; this module never sees a line break inside a value.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import quote

from sealpost.compose.refusal import Refused

CRLF = "\r\n"
SOFT_LIMIT = 78
HARD_LIMIT = 998
_WORD_BYTES = 39  # 52 base64 characters: "=?utf-8?B?...?=" stays at 64 characters
_LONGEST_WORD = 900
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+")
_SAFE_PARAM = re.compile(r"[A-Za-z0-9 ._()+\-]{1,60}")
_ATTR_CHARS = "!#$&+-.^_`|~"  # RFC 2231 attribute-char besides ALPHA / DIGIT


def encoded_words(text: str) -> str:
    """``text`` as RFC 2047 "B" encoded words separated by spaces (never split inside a
    UTF-8 sequence)."""
    words: list[str] = []
    chunk = ""
    for ch in text:
        if len((chunk + ch).encode("utf-8")) > _WORD_BYTES:
            words.append(chunk)
            chunk = ""
        chunk += ch
    if chunk or not words:
        words.append(chunk)
    return " ".join(
        "=?utf-8?B?" + base64.b64encode(w.encode("utf-8")).decode("ascii") + "?=" for w in words
    )


def unstructured(value: str) -> str:
    """An unstructured value (Subject, custom headers): ASCII as is, otherwise (or when a
    single word could not be folded under the line limit) encoded words."""
    if value.isascii() and all(len(w) <= _LONGEST_WORD for w in value.split(" ")):
        return value
    return encoded_words(value)


def phrase(name: str) -> str:
    """A display name (RFC 5322 section 3.2.5): atoms as is, else a quoted string, else
    (non-ASCII) encoded words (RFC 2047 section 5 (3))."""
    name = name.strip()
    if not name.isascii():
        return encoded_words(name)
    if _ATOM_PHRASE.fullmatch(name) and name == " ".join(name.split()):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fold(name: str, value: str) -> str:
    """``Name: value`` folded at spaces so lines stay within 78 characters where possible
    and within 998 always; CRLF-terminated."""
    line = f"{name}: {value}"
    out: list[str] = []
    start = 0
    minimum = len(name) + 2
    while len(line) - start > SOFT_LIMIT:
        cut = _fold_point(line, start, start + minimum)
        if cut is None:
            break
        out.append(line[start:cut])
        start = cut
        minimum = 1
    out.append(line[start:])
    if any(len(part) > HARD_LIMIT for part in out):
        raise Refused(name, "header value too long to fold under 998 characters")
    return CRLF.join(out) + CRLF


_TEXT = re.compile(r"[^ \t]")


def _fold_point(line: str, start: int, minimum: int) -> int | None:
    """Index of a space to fold before: the last one within the soft limit of ``start``,
    else the first one after it; never leaving a line of only whitespace."""
    best = None
    seen_text = _TEXT.search(line, start, minimum) is not None
    limit = start + SOFT_LIMIT
    for i in range(minimum, len(line)):
        ch = line[i]
        if ch not in " \t":
            seen_text = True
            continue
        if not seen_text or _TEXT.search(line, i) is None:
            continue
        if i <= limit:
            best = i
        else:
            return best if best is not None else i
    return best


def parameter(pname: str, value: str) -> list[str]:
    """One MIME parameter: ``name="value"`` for plain names, else RFC 2231 encoded (with
    continuations of at most 50 characters)."""
    if _SAFE_PARAM.fullmatch(value):
        return [f'{pname}="{value}"']
    encoded = quote(value.encode("utf-8"), safe=_ATTR_CHARS)
    chunks: list[str] = []
    while encoded:
        cut = min(50, len(encoded))
        while "%" in encoded[max(cut - 2, 0) : cut]:  # never split a %XX triplet
            cut -= 1
        chunks.append(encoded[:cut])
        encoded = encoded[cut:]
    if len(chunks) == 1:
        return [f"{pname}*=utf-8''{chunks[0]}"]
    return [f"{pname}*0*=utf-8''{chunks[0]}"] + [
        f"{pname}*{n}*={chunk}" for n, chunk in enumerate(chunks[1:], start=1)
    ]


def ascii_fallback(value: str) -> str:
    """A plain-ASCII stand-in for a file name, for readers without RFC 2231."""
    safe = "".join(c if _SAFE_PARAM.fullmatch(c) else "_" for c in value)
    return safe[:60] or "attachment"


def with_parameters(name: str, main: str, params: list[str]) -> str:
    """``Name: main; p1; p2`` with each parameter on its own folded line; CRLF-terminated."""
    if not params:
        return f"{name}: {main}{CRLF}"
    return f"{name}: {main};{CRLF} " + f";{CRLF} ".join(params) + CRLF
