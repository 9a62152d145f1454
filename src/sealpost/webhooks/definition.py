"""What a webhook is: target, event filter, headers and authentication (reference 5.4).

Stored as the document ``("webhook", id)``; secrets (the basic password, the OAuth2
``client_secret``, the deprecated ``auth_token``) are kept so they can be sent, and shown
only masked (``public_view``). Validation refuses anything that could break a request line
or inject a header (checklist I1/I2): control characters and every line break
``str.splitlines`` knows, in header names and values, credentials and the target URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

KIND = "webhook"
MASK = "********"
MAX_TARGET = 2048
MAX_HEADERS = 50
MAX_HEADER_VALUE = 2000

# RFC 9110 section 5.6.2: a header field name is a token.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
# Printable ASCII and tab: httpx sends header values as ASCII, and nothing here may fold.
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")
# Headers the sender owns; custom_headers may not replace them.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "te",
        "upgrade",
        "x-messagesystems-batch-id",
        "x-messagesystems-webhook-token",
    }
)


class AuthType(StrEnum):
    NONE = "none"
    BASIC = "basic"
    OAUTH2 = "oauth2"


class DefinitionError(ValueError):
    """A webhook field is unacceptable; ``field`` names it as the API shows it."""

    def __init__(self, field_name: str, why: str) -> None:
        super().__init__(f"{field_name}: {why}")
        self.field = field_name
        self.why = why


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class OAuthRequest:
    """Where and with what to fetch a bearer token (client credentials grant)."""

    url: str
    body: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    name: str
    target: str
    events: tuple[str, ...] = ()  # () means every event type
    active: bool = True
    custom_headers: Mapping[str, str] = field(default_factory=dict)
    auth_type: AuthType = AuthType.NONE
    basic: BasicCredentials | None = None
    oauth: OAuthRequest | None = None
    auth_token: str | None = None
    created_at: float = 0.0

    def to_payload(self) -> dict[str, Any]:
        """The stored form (secrets included: only the worker reads it)."""
        return {
            "id": self.id,
            "name": self.name,
            "target": self.target,
            "events": list(self.events),
            "active": self.active,
            "custom_headers": dict(self.custom_headers),
            "auth_type": self.auth_type.value,
            "auth_credentials": (
                {"username": self.basic.username, "password": self.basic.password}
                if self.basic
                else None
            ),
            "auth_request_details": (
                {"url": self.oauth.url, "body": dict(self.oauth.body)} if self.oauth else None
            ),
            "auth_token": self.auth_token,
            "created_at": self.created_at,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Webhook:
        creds = payload.get("auth_credentials") or None
        details = payload.get("auth_request_details") or None
        return cls(
            id=str(payload["id"]),
            name=str(payload.get("name", "")),
            target=str(payload["target"]),
            events=tuple(payload.get("events") or ()),
            active=bool(payload.get("active", True)),
            custom_headers=dict(payload.get("custom_headers") or {}),
            auth_type=AuthType(payload.get("auth_type") or "none"),
            basic=BasicCredentials(creds["username"], creds["password"]) if creds else None,
            oauth=OAuthRequest(details["url"], dict(details.get("body") or {}))
            if details
            else None,
            auth_token=payload.get("auth_token") or None,
            created_at=float(payload.get("created_at", 0.0)),
        )

    def public_view(self) -> dict[str, Any]:
        """What GET shows: every secret replaced by ``MASK``."""
        view: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "target": self.target,
            "events": list(self.events),
            "active": self.active,
            "custom_headers": dict(self.custom_headers),
            "auth_type": self.auth_type.value,
        }
        if self.basic is not None:
            view["auth_credentials"] = {"username": self.basic.username, "password": MASK}
        if self.oauth is not None:
            body = {k: (MASK if k == "client_secret" else v) for k, v in self.oauth.body.items()}
            view["auth_request_details"] = {"url": self.oauth.url, "body": body}
        if self.auth_token:
            view["auth_token"] = MASK
        return view

    def keep_secrets_of(self, old: Webhook) -> Webhook:
        """Where an update sent back ``MASK`` for a secret, keep the stored one."""
        basic, oauth, token = self.basic, self.oauth, self.auth_token
        if basic is not None and basic.password == MASK and old.basic is not None:
            basic = replace(basic, password=old.basic.password)
        if oauth is not None and oauth.body.get("client_secret") == MASK and old.oauth:
            secret = old.oauth.body.get("client_secret", "")
            oauth = replace(oauth, body={**oauth.body, "client_secret": secret})
        if token == MASK:
            token = old.auth_token
        return replace(self, basic=basic, oauth=oauth, auth_token=token)


def _plain(field_name: str, value: str, *, limit: int = 1024) -> None:
    if len(value) > limit:
        raise DefinitionError(field_name, f"longer than {limit} characters")
    if any(ch < " " or "\x7f" <= ch <= "\x9f" or ch in "\u2028\u2029" for ch in value):
        raise DefinitionError(field_name, "contains a control character or line break")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise DefinitionError(field_name, "is not valid Unicode text") from None


def check_url(field_name: str, url: str, *, allow_http: bool) -> None:
    """An absolute https:// URL (http:// only in development), no credentials inside."""
    _plain(field_name, url, limit=MAX_TARGET)
    if any(ch.isspace() or ord(ch) > 0x7E for ch in url):
        raise DefinitionError(field_name, "must be a URL without spaces or non-ASCII characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DefinitionError(field_name, f"not a valid URL ({exc})") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme.lower() not in schemes:
        need = "https:// (or http:// in development)" if allow_http else "https://"
        raise DefinitionError(field_name, f"must start with {need}")
    if not parts.hostname:
        raise DefinitionError(field_name, "has no host name")
    if parts.username is not None or parts.password is not None:
        raise DefinitionError(field_name, "must not carry credentials; use auth_type basic")
    if port == 0:
        raise DefinitionError(field_name, "port 0 is not a port")


def check_headers(headers: Mapping[str, str], auth_type: AuthType) -> None:
    if len(headers) > MAX_HEADERS:
        raise DefinitionError("custom_headers", f"at most {MAX_HEADERS} headers")
    for name, value in headers.items():
        if not _TOKEN.match(name):
            raise DefinitionError("custom_headers", f"{name!r} is not a header name")
        lower = name.lower()
        if lower in RESERVED_HEADERS or (lower == "authorization" and auth_type != AuthType.NONE):
            raise DefinitionError(f"custom_headers.{name}", "is set by the server")
        if len(value) > MAX_HEADER_VALUE or not _HEADER_VALUE.match(value):
            raise DefinitionError(
                f"custom_headers.{name}",
                f"must be printable ASCII, at most {MAX_HEADER_VALUE} characters",
            )


def check_auth(hook: Webhook, *, allow_http: bool) -> None:
    if hook.auth_type is AuthType.BASIC:
        if hook.basic is None:
            raise DefinitionError("auth_credentials", "is required for auth_type basic")
        if not hook.basic.username or ":" in hook.basic.username:
            raise DefinitionError("auth_credentials.username", "must be non-empty without ':'")
        _plain("auth_credentials.username", hook.basic.username)
        _plain("auth_credentials.password", hook.basic.password)
    if hook.auth_type is AuthType.OAUTH2:
        if hook.oauth is None:
            raise DefinitionError("auth_request_details", "is required for auth_type oauth2")
        check_url("auth_request_details.url", hook.oauth.url, allow_http=allow_http)
        for key in ("client_id", "client_secret"):
            if not hook.oauth.body.get(key):
                raise DefinitionError(f"auth_request_details.body.{key}", "is required")
        for key, value in hook.oauth.body.items():
            _plain(f"auth_request_details.body.{key}", value)
    token = hook.auth_token
    if token is not None and (not _HEADER_VALUE.match(token) or len(token) > MAX_HEADER_VALUE):
        raise DefinitionError("auth_token", "must be printable ASCII")


def check(hook: Webhook, *, allow_http: bool, known_events: frozenset[str]) -> None:
    """Raise ``DefinitionError`` naming the first unacceptable field."""
    if not hook.name.strip():
        raise DefinitionError("name", "must not be empty")
    _plain("name", hook.name)
    check_url("target", hook.target, allow_http=allow_http)
    unknown = [e for e in hook.events if e not in known_events]
    if unknown:
        raise DefinitionError("events", f"unknown event type {unknown[0]!r}")
    check_headers(hook.custom_headers, hook.auth_type)
    check_auth(hook, allow_http=allow_http)


def redact_target(url: str) -> str:
    """The target for a log line: scheme, host and path, never query or credentials."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{host}{port}{parts.path}"
