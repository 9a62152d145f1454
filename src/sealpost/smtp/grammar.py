"""The grammar of SMTP command lines: verbs, EHLO names, paths and ESMTP parameters.

RFC 5321 section 4.1.1 gives the commands, section 4.1.2 the ABNF implemented here
(Reverse-path, Forward-path, Mailbox, Dot-string, Quoted-string, Domain, address-literal,
esmtp-param). Section 4.1.1.3 and appendix C: a source route (``<@a,@b:user@d>``) MUST be
accepted and SHOULD be ignored, so it is parsed and dropped. Section 4.5.1: ``<Postmaster>``
without a domain MUST be accepted as a recipient. RFC 6531 section 3.3: UTF-8 is allowed in
local parts, domains and parameter values only when the transaction declared SMTPUTF8.

Tolerated like Postfix: lower-case verbs, spaces after ``FROM:``/``TO:``, several spaces
between parameters, trailing spaces. Anything else after the path is an error.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

_U = "\u0080-\U0010ffff"  # RFC 6531 UTF8-non-ascii, vetted afterwards by _bad_unicode
_ALNUM = f"A-Za-z0-9{_U}"
_ATOM = rf"[{_ALNUM}!#$%&'*+\-/=?^_`{{|}}~]+"
_DOT_STRING = rf"{_ATOM}(?:\.{_ATOM})*"
_QUOTED = rf'"(?:[\x20\x21\x23-\x5b\x5d-\x7e{_U}]|\\[\x20-\x7e])*"'
_LABEL = rf"[{_ALNUM}]+(?:-+[{_ALNUM}]+)*"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
_LITERAL = r"\[[\x21-\x5a\x5e-\x7e]+\]"  # dcontent, RFC 5321 section 4.1.3
_ROUTE = rf"@{_DOMAIN}(?:,@{_DOMAIN})*:"
_PATH = re.compile(
    rf"<(?:{_ROUTE})?(?P<local>{_DOT_STRING}|{_QUOTED})@(?P<domain>{_DOMAIN}|{_LITERAL})>"
)
_POSTMASTER = re.compile(r"<postmaster>", re.IGNORECASE)
_HELO_NAME = re.compile(
    r"[A-Za-z0-9_]+(?:-+[A-Za-z0-9_]+)*(?:\.[A-Za-z0-9_]+(?:-+[A-Za-z0-9_]+)*)*\.?"
)
_PARAM = re.compile(rf"(?P<key>[A-Za-z0-9][A-Za-z0-9-]*)(?:=(?P<value>[\x21-\x3c\x3e-\x7e{_U}]+))?")
_VERB = re.compile(r"[A-Za-z]+")


class Fault(Enum):
    """Why a command line did not parse."""

    MISSING_ARGUMENT = "missing argument"
    BAD_KEYWORD = "expected FROM: or TO:"
    BAD_PATH = "malformed address"
    BAD_DOMAIN = "malformed domain name"
    BAD_PARAMETER = "malformed parameter"
    NEEDS_SMTPUTF8 = "UTF-8 address without SMTPUTF8"
    NON_ASCII = "non-ASCII text without SMTPUTF8"


@dataclass(frozen=True, slots=True)
class ParseError:
    fault: Fault
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Command:
    """A command line split into its verb (upper case) and argument (may be empty)."""

    verb: str
    argument: str


@dataclass(frozen=True, slots=True)
class Mailbox:
    """``local_part@domain`` in wire form: a quoted local part keeps its quotes and an
    address literal its brackets. ``domain == ""`` only for the special ``<Postmaster>``."""

    local_part: str
    domain: str

    @property
    def quoted(self) -> bool:
        return self.local_part.startswith('"')

    @property
    def literal(self) -> bool:
        return self.domain.startswith("[")

    @property
    def local_text(self) -> str:
        """The local part with quoting removed."""
        if not self.quoted:
            return self.local_part
        return re.sub(r"\\(.)", r"\1", self.local_part[1:-1])

    @property
    def normalized(self) -> str:
        """The form kept in envelopes: the domain in lower case, the local part as sent."""
        return f"{self.local_part}@{self.domain.lower()}"

    def __str__(self) -> str:
        return f"{self.local_part}@{self.domain}"


@dataclass(frozen=True, slots=True)
class Param:
    keyword: str  # upper case
    value: str | None


@dataclass(frozen=True, slots=True)
class MailCommand:
    sender: Mailbox | None  # None: the null reverse-path <>
    params: tuple[Param, ...]


@dataclass(frozen=True, slots=True)
class RcptCommand:
    recipient: Mailbox
    params: tuple[Param, ...]


def format_path(mailbox: Mailbox | None) -> str:
    """The path as it goes on the wire: ``<local@domain>`` or ``<>``."""
    return "<>" if mailbox is None else f"<{mailbox}>"


def split_command(line: str) -> Command:
    """Split a command line (CRLF removed) into verb and argument.

    A verb that is not purely alphabetic comes back as-is (upper case); the caller treats
    it as unknown.
    """
    text = line.rstrip(" ")
    verb, _, argument = text.partition(" ")
    if not _VERB.fullmatch(verb):
        return Command(verb.upper(), argument)
    return Command(verb.upper(), argument.lstrip(" "))


def parse_helo(argument: str) -> str | ParseError:
    """EHLO/HELO argument: a domain or an address literal (RFC 5321 section 4.1.1.1)."""
    if not argument:
        return ParseError(Fault.MISSING_ARGUMENT)
    if argument.startswith("["):
        return argument if _literal_ok(argument) else ParseError(Fault.BAD_DOMAIN, argument)
    if len(argument) > 255 or not _HELO_NAME.fullmatch(argument):
        return ParseError(Fault.BAD_DOMAIN, argument)
    return argument


def parse_mail(argument: str) -> MailCommand | ParseError:
    """``FROM:<reverse-path> [params]`` (RFC 5321 section 4.1.1.2, RFC 6531 section 3.4)."""
    rest = _after_keyword(argument, "FROM:")
    if rest is None:
        return ParseError(Fault.BAD_KEYWORD, "FROM:")
    sender: Mailbox | None = None
    if rest.startswith("<>"):
        tail = rest[2:]
    else:
        parsed = _path(rest)
        if isinstance(parsed, ParseError):
            return parsed
        sender, tail = parsed
    params = parse_params(tail)
    if isinstance(params, ParseError):
        return params
    utf8 = any(p.keyword == "SMTPUTF8" for p in params)
    if sender is not None and not str(sender).isascii() and not utf8:
        return ParseError(Fault.NEEDS_SMTPUTF8, str(sender))
    if not utf8 and not tail.isascii():
        return ParseError(Fault.NON_ASCII)
    return MailCommand(sender, params)


def parse_rcpt(argument: str, *, smtputf8: bool) -> RcptCommand | ParseError:
    """``TO:<forward-path> [params]`` (RFC 5321 section 4.1.1.3); ``smtputf8`` is the
    transaction's SMTPUTF8 declaration."""
    rest = _after_keyword(argument, "TO:")
    if rest is None:
        return ParseError(Fault.BAD_KEYWORD, "TO:")
    special = _POSTMASTER.match(rest)
    if special:
        recipient, tail = Mailbox("Postmaster", ""), rest[special.end() :]
    else:
        parsed = _path(rest)
        if isinstance(parsed, ParseError):
            return parsed
        recipient, tail = parsed
    if not smtputf8 and not str(recipient).isascii():
        return ParseError(Fault.NEEDS_SMTPUTF8, str(recipient))
    if not smtputf8 and not tail.isascii():
        return ParseError(Fault.NON_ASCII)
    params = parse_params(tail)
    if isinstance(params, ParseError):
        return params
    return RcptCommand(recipient, params)


def parse_params(tail: str) -> tuple[Param, ...] | ParseError:
    """``*(SP esmtp-keyword ["=" esmtp-value])`` after a path (RFC 5321 section 4.1.2)."""
    if not tail:
        return ()
    if not tail.startswith(" "):
        return ParseError(Fault.BAD_PATH, "text after the path")
    out: list[Param] = []
    for word in filter(None, tail.split(" ")):
        m = _PARAM.fullmatch(word)
        if m is None or (m["value"] is not None and _bad_unicode(m["value"])):
            return ParseError(Fault.BAD_PARAMETER, word)
        out.append(Param(m["key"].upper(), m["value"]))
    return tuple(out)


def _after_keyword(argument: str, keyword: str) -> str | None:
    if argument[: len(keyword)].upper() != keyword:
        return None
    return argument[len(keyword) :].lstrip(" ")


def _path(text: str) -> tuple[Mailbox, str] | ParseError:
    m = _PATH.match(text)
    if m is None:
        return ParseError(Fault.BAD_PATH, text[:80])
    local, domain = m["local"], m["domain"]
    if _bad_unicode(local) or _bad_unicode(domain):
        return ParseError(Fault.BAD_PATH, "control or space characters")
    if domain.startswith("["):
        if not _literal_ok(domain):
            return ParseError(Fault.BAD_DOMAIN, domain)
    elif len(domain) > 255 or any(len(label) > 63 for label in domain.split(".")):
        return ParseError(Fault.BAD_DOMAIN, domain)
    return Mailbox(local, domain), text[m.end() :]


def _literal_ok(literal: str) -> bool:
    """``[IPv4]`` or ``[IPv6:...]`` (RFC 5321 section 4.1.3); general literals are refused."""
    inner = literal[1:-1] if literal.endswith("]") else ""
    if not inner or "%" in inner:
        return False
    try:
        if inner[:5].upper() == "IPV6:":
            ipaddress.IPv6Address(inner[5:])
        else:
            ipaddress.IPv4Address(inner)
    except ValueError:
        return False
    return True


def _bad_unicode(text: str) -> bool:
    """Non-ASCII control, format, separator or space characters (U+0085, U+2028, U+00A0...)."""
    if text.isascii():
        return False
    return any(not c.isascii() and unicodedata.category(c)[0] in "CZ" for c in text)
