"""Reading a server's replies, strictly: the client side of RFC 5321 section 4.2.

RFC 5321 section 4.2: ``Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code
[ SP textstring ] CRLF``; a code is ``%x32-35 %x30-35 %x30-39`` (section 4.2 ABNF); every
line of a multi-line reply carries the same code (section 4.2.1: "... MUST"); text is
``HT / SP-~`` (UTF-8 is tolerated, as SMTPUTF8 servers send it). Section 4.5.3.1.5: a reply
line is at most 512 octets with its CRLF. RFC 2034 / RFC 3463: a reply may start its text
with an enhanced status code ``class.subject.detail`` whose class equals the reply's first
digit; it is taken out of the text into ``Reply.enhanced``.

Anything else (a bare CR or LF, NUL or another control character, a missing or changing
code, an over-long line, too many lines) is a ``ReplyFault``: the client cannot know what
the server meant, so it stops instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sealpost.model.reply import Reply

MAX_REPLY_LINE = 512  # octets including CRLF (RFC 5321 section 4.5.3.1.5)
MAX_REPLY_LINES = 200  # a bound on memory; real EHLO replies have about 20 lines

_LINE = re.compile(rb"([2-5][0-5][0-9])(?:([ -])([\t\x20-\x7e\x80-\xff]*))?")
_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?: +|$)")


@dataclass(frozen=True, slots=True)
class ReplyFault:
    """Why the bytes from the server are not a valid reply."""

    detail: str


class ReplyReader:
    """Fed the bytes received, in any chunks; hands out complete replies one at a time."""

    __slots__ = ("_buf", "_code", "_max_line", "_max_lines", "_texts")

    def __init__(self, max_line: int = MAX_REPLY_LINE, max_lines: int = MAX_REPLY_LINES) -> None:
        self._max_line = max_line
        self._max_lines = max_lines
        self._buf = bytearray()
        self._code: bytes | None = None  # code of the multi-line reply in progress
        self._texts: list[str] = []

    @property
    def buffered(self) -> int:
        """Octets received and not yet part of a handed-out reply."""
        return len(self._buf) + sum(map(len, self._texts))

    def feed(self, data: bytes) -> None:
        self._buf += data

    def clear(self) -> None:
        """Forget everything received so far (RFC 3207 section 4.2: bytes received before
        the TLS handshake are never believed afterwards; checklist B1)."""
        self._buf.clear()
        self._code = None
        self._texts = []

    def next_reply(self) -> Reply | ReplyFault | None:
        """The next complete reply, a fault (final: stop reading), or None for more input."""
        buf = self._buf
        while True:
            lf = buf.find(b"\n")
            if lf < 0:
                if len(buf) >= self._max_line:
                    return ReplyFault(f"reply line longer than {self._max_line} octets")
                return None
            if lf + 1 > self._max_line:
                return ReplyFault(f"reply line longer than {self._max_line} octets")
            if lf == 0 or buf[lf - 1] != 0x0D:
                return ReplyFault("reply line not ended by CRLF")
            line = bytes(buf[: lf - 1])
            del buf[: lf + 1]
            match = _LINE.fullmatch(line)
            if match is None:
                return ReplyFault(f"malformed reply line {line[:60]!r}")
            code, sep, text = match.groups()
            if self._code is not None and code != self._code:
                return ReplyFault(f"reply code changed from {self._code!r} to {code!r}")
            self._texts.append((text or b"").decode("utf-8", "replace"))
            if len(self._texts) > self._max_lines:
                return ReplyFault(f"reply longer than {self._max_lines} lines")
            if sep == b"-":
                self._code = code
                continue
            texts, self._texts, self._code = self._texts, [], None
            return build_reply(int(code), texts)


def build_reply(code: int, texts: list[str]) -> Reply:
    """A Reply with the enhanced status code (when the first line has one of the reply's
    class) taken out of every line that starts with it."""
    match = _ENHANCED.match(texts[0])
    if match is None or int(match.group(1)) != code // 100:
        return Reply(code, None, tuple(texts))
    enhanced = ".".join(match.groups())
    prefix = re.compile(re.escape(match.group(0).rstrip(" ")) + r"(?: +|$)")
    lines = tuple(prefix.sub("", text, count=1) if prefix.match(text) else text for text in texts)
    return Reply(code, enhanced, lines)
