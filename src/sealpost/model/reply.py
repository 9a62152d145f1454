"""SMTP replies as values: a code, an RFC 3463 enhanced status and text lines.

RFC 5321 section 4.2: a reply is a three-digit code, then text; multi-line replies use
``code-text`` on every line but the last, which uses ``code text``. RFC 2034 / RFC 3463:
when ENHANCEDSTATUSCODES is advertised, every reply but the greeting carries ``x.y.z``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply. ``enhanced`` is ``None`` for the greeting and EHLO replies."""

    code: int
    enhanced: str | None
    lines: tuple[str, ...]

    @classmethod
    def of(cls, code: int, enhanced: str | None, *lines: str) -> Reply:
        return cls(code, enhanced, lines or ("",))

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    @property
    def is_positive(self) -> bool:
        return 200 <= self.code < 400

    @property
    def is_transient(self) -> bool:
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        return self.code >= 500

    def to_bytes(self) -> bytes:
        """Wire form: every line ends in CRLF; the enhanced code prefixes each line."""
        out: list[str] = []
        last = len(self.lines) - 1
        for i, line in enumerate(self.lines):
            sep = " " if i == last else "-"
            body = f"{self.enhanced} {line}" if self.enhanced else line
            out.append(f"{self.code}{sep}{body}".rstrip(" ") + "\r\n")
        return "".join(out).encode("utf-8")

    def __str__(self) -> str:
        prefix = f"{self.code} {self.enhanced} " if self.enhanced else f"{self.code} "
        return prefix + self.text
