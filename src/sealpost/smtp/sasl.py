"""SASL exchanges for SMTP AUTH: the PLAIN and LOGIN mechanisms, credentials out.

RFC 4954 section 4: an optional initial response (``=`` stands for an empty one), then
``334`` challenges each answered by one base64 line; ``*`` cancels (501); a response that
is not valid base64 gets 501 5.5.2. RFC 4616: PLAIN carries
``[authzid] NUL authcid NUL passwd``; a non-empty authzid different from the authcid asks
to act as someone else, which we never allow (535 5.7.8). LOGIN
(draft-murchison-sasl-login) prompts ``Username:`` then ``Password:``, base64-encoded.
This module never judges credentials: it only hands them over.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import Enum

MECHANISMS = ("PLAIN", "LOGIN")
_USERNAME = base64.b64encode(b"Username:").decode()
_PASSWORD = base64.b64encode(b"Password:").decode()


class SaslFault(Enum):
    """Why an exchange ended without credentials."""

    UNKNOWN_MECHANISM = "unknown mechanism"
    CANCELLED = "cancelled by the client"
    BAD_BASE64 = "response is not valid base64"
    MALFORMED = "response does not follow the mechanism"
    AUTHZID_MISMATCH = "authorization identity differs from authentication identity"
    EMPTY_CREDENTIALS = "empty user name or password"


@dataclass(frozen=True, slots=True)
class Challenge:
    """Send ``334 <payload>`` and wait for one response line."""

    payload: str


@dataclass(frozen=True, slots=True)
class Credentials:
    mechanism: str
    authzid: str
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class SaslFailure:
    fault: SaslFault


Step = Challenge | Credentials | SaslFailure


class SaslExchange:
    """One AUTH exchange. ``begin`` gives the first step; ``respond`` takes each line the
    client sends after a Challenge (CRLF removed)."""

    __slots__ = ("_mechanism", "_username")

    def __init__(self, mechanism: str) -> None:
        self._mechanism = mechanism
        self._username: str | None = None

    @property
    def mechanism(self) -> str:
        return self._mechanism

    @classmethod
    def begin(cls, argument: str) -> tuple[SaslExchange | None, Step]:
        """``argument`` is what follows ``AUTH``: mechanism and optional initial response."""
        mechanism, _, initial = argument.strip(" ").partition(" ")
        mechanism = mechanism.upper()
        if mechanism not in MECHANISMS:
            return None, SaslFailure(SaslFault.UNKNOWN_MECHANISM)
        exchange = cls(mechanism)
        initial = initial.strip(" ")
        if not initial:
            return exchange, Challenge("" if mechanism == "PLAIN" else _USERNAME)
        return exchange, exchange.respond(initial)

    def respond(self, line: str) -> Step:
        if line == "*":
            return SaslFailure(SaslFault.CANCELLED)
        decoded = _decode(line)
        if decoded is None:
            return SaslFailure(SaslFault.BAD_BASE64)
        if self._mechanism == "PLAIN":
            return _plain(decoded)
        if self._username is None:
            self._username = decoded
            return Challenge(_PASSWORD)
        if not self._username or not decoded:
            return SaslFailure(SaslFault.EMPTY_CREDENTIALS)
        return Credentials("LOGIN", "", self._username, decoded)


def _decode(line: str) -> str | None:
    if line == "=":
        return ""
    if len(line) % 4:  # strict_mode still lets "YWJj=" through
        return None
    try:
        raw = binascii.a2b_base64(line.encode("ascii"), strict_mode=True)
        return raw.decode("utf-8")
    except (ValueError, UnicodeError):
        return None


def _plain(message: str) -> Step:
    parts = message.split("\0")
    if len(parts) != 3:
        return SaslFailure(SaslFault.MALFORMED)
    authzid, username, password = parts
    if not username or not password:
        return SaslFailure(SaslFault.EMPTY_CREDENTIALS)
    if authzid and authzid != username:
        return SaslFailure(SaslFault.AUTHZID_MISMATCH)
    return Credentials("PLAIN", authzid, username, password)
