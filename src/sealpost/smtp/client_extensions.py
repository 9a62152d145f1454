"""What a server offers: the service extensions of its EHLO reply, as a value.

RFC 5321 section 4.1.1.1: ``ehlo-ok-rsp`` is the domain on the first line, then one
``ehlo-line = ehlo-keyword *( SP ehlo-param )`` per line; keywords are case-insensitive
and made of letters, digits and "-". Lines that do not parse are ignored (they cannot name
an extension we would use). The old ``AUTH=PLAIN LOGIN`` form is read like ``AUTH``.
Extensions used by the client: PIPELINING (RFC 2920), STARTTLS (RFC 3207), 8BITMIME
(RFC 6152), SMTPUTF8 (RFC 6531), REQUIRETLS (RFC 8689), AUTH (RFC 4954), SIZE (RFC 1870).
A reply to HELO offers nothing (``Extensions.none()``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sealpost.model.reply import Reply

_LINE = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](.*))?")


@dataclass(frozen=True, slots=True)
class Extensions:
    """Extension keywords (upper case) with their parameters, and the server's name."""

    server_name: str = ""
    params: dict[str, tuple[str, ...]] = field(default_factory=dict)
    esmtp: bool = True  # False: the session was opened with HELO

    @classmethod
    def none(cls, server_name: str = "") -> Extensions:
        return cls(server_name, {}, esmtp=False)

    @classmethod
    def parse(cls, reply: Reply) -> Extensions:
        """The extensions of a ``250`` reply to EHLO."""
        first = reply.lines[0].split(" ", 1)[0] if reply.lines else ""
        params: dict[str, tuple[str, ...]] = {}
        for line in reply.lines[1:]:
            match = _LINE.fullmatch(line.strip())
            if match is None:
                continue
            keyword = match.group(1).upper()
            values = tuple((match.group(2) or "").split())
            params[keyword] = params.get(keyword, ()) + values
        return cls(first, params)

    def has(self, keyword: str) -> bool:
        return keyword.upper() in self.params

    @property
    def pipelining(self) -> bool:
        return "PIPELINING" in self.params

    @property
    def starttls(self) -> bool:
        return "STARTTLS" in self.params

    @property
    def eight_bit_mime(self) -> bool:
        return "8BITMIME" in self.params

    @property
    def smtputf8(self) -> bool:
        return "SMTPUTF8" in self.params

    @property
    def requiretls(self) -> bool:
        return "REQUIRETLS" in self.params

    @property
    def auth_mechanisms(self) -> frozenset[str]:
        return frozenset(m.upper() for m in self.params.get("AUTH", ()))

    @property
    def size_limit(self) -> int | None:
        """SIZE's declared maximum: None when SIZE is not offered, 0 for "no fixed limit"."""
        if "SIZE" not in self.params:
            return None
        values = self.params["SIZE"]
        return int(values[0]) if values and values[0].isdigit() else 0
