"""Command-line framing: unprocessed input, cut into lines, with a bounded line length.

RFC 5321 section 2.3.8: lines end in CRLF (a bare CR or LF is the caller's to refuse; the
cut is made at LF). Section 4.5.3.1.4: a command line is at most 512 octets with its CRLF;
a longer line is reported once as ``TOO_LONG`` and the rest of it, up to its LF, is thrown
away without being kept, so a 10 MB line with no LF costs no memory (checklist G1).
"""

from __future__ import annotations

from enum import Enum


class Framing(Enum):
    TOO_LONG = "line too long"


class InputBuffer:
    """Bytes received but not yet processed; ``next_line`` hands out complete lines."""

    __slots__ = ("_buf", "_discarding", "_limit", "_pos")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buf = b""
        self._pos = 0
        self._discarding = False  # inside an over-long line, waiting for its LF

    def __len__(self) -> int:
        return len(self._buf) - self._pos

    def append(self, data: bytes) -> None:
        if self._pos >= len(self._buf):
            self._buf, self._pos = bytes(data), 0
        else:
            self._buf, self._pos = self._buf[self._pos :] + data, 0

    def clear(self) -> None:
        self._buf, self._pos, self._discarding = b"", 0, False

    def take_all(self) -> bytes:
        """Everything pending (for the DATA reader); the buffer is left empty."""
        rest = self._buf if self._pos == 0 else self._buf[self._pos :]
        self.clear()
        return rest

    def next_line(self) -> bytes | Framing | None:
        """The next complete line with its line ending, ``TOO_LONG`` (once per over-long
        line), or None when more input is needed."""
        buf, pos = self._buf, self._pos
        lf = buf.find(b"\n", pos)
        if self._discarding:
            if lf < 0:
                self.clear()
                self._discarding = True
                return None
            self._discarding = False
            pos = self._pos = lf + 1
            lf = buf.find(b"\n", pos)
        if lf < 0:
            if len(buf) - pos >= self._limit:
                self.clear()
                self._discarding = True
                return Framing.TOO_LONG
            return None
        self._pos = lf + 1
        if self._pos == len(buf):
            self._buf, self._pos = b"", 0
        if lf + 1 - pos > self._limit:
            return Framing.TOO_LONG
        return buf[pos : lf + 1]
