"""Validated value types of the configuration: enums, domain names, addresses, paths, URLs.

Each validator raises an ``issue`` whose reason is what a person reads after the key path
(``config/errors.py`` adds the path). ``parse_address`` is shared with the listeners.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from sealpost.config.errors import show_value

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")


class TlsMode(StrEnum):
    """How a listener uses TLS."""

    STARTTLS = "starttls"
    IMPLICIT = "implicit"
    NONE = "none"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def issue(reason: str, subpath: str = "") -> PydanticCustomError:
    """A validation error whose message is ``reason``; ``subpath`` extends the key path."""
    return PydanticCustomError("sealpost", "{reason}", {"reason": reason, "subpath": subpath})


def one_of(enum: type[StrEnum]) -> BeforeValidator:
    def check(value: Any) -> Any:
        if isinstance(value, enum):
            return value
        if isinstance(value, str) and value in enum._value2member_map_:
            return enum(value)
        choices = ", ".join(m.value for m in enum)
        raise issue(f"must be one of {choices} (got {show_value(value)})")

    return BeforeValidator(check)


def _domain(value: str) -> str:
    if len(value) > 253 or not _DOMAIN_RE.match(value):
        raise issue(f"must be a domain name (got {show_value(value)})")
    return value.rstrip(".").lower()


def sni_name(value: str) -> str:
    bare = value[2:] if value.startswith("*.") else value
    if len(bare) > 253 or not _DOMAIN_RE.match(bare):
        raise issue(f"must be a host name or *.domain wildcard (got {show_value(value)})")
    return value.rstrip(".").lower()


_NODE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$")


def node_id_text(value: str) -> str:
    """A node's name on its queue leases: 1-63 letters, digits, ``.``, ``_``, ``:``, ``-``."""
    if not _NODE_ID_RE.match(value):
        raise issue(
            "must be 1 to 63 letters, digits, '.', '_', ':' or '-', starting with a letter "
            f"or digit (got {show_value(value)})"
        )
    return value


def _resolve(path: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    path = path.expanduser()
    if base is not None and not path.is_absolute():
        return Path(base) / path
    return path


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> ``(host, port)``; ValueError saying why otherwise."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError("must be host:port or [ipv6]:port")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError("must be host:port or [ipv6]:port")
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    elif ":" in host:
        raise ValueError("an IPv6 address needs brackets: [::1]:25")
    elif not _DOMAIN_RE.match(host):
        raise ValueError(f"{host!r} is not an IP address or host name")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError("port must be 0-65535")
    return host, int(port_text)


def address_text(value: str) -> str:
    try:
        parse_address(value)
    except ValueError as exc:
        raise issue(f"{exc} (got {show_value(value)})") from None
    return value


def store_url(value: str, info: ValidationInfo) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in ("sqlite", "memory", "postgresql", "postgres"):
        raise issue(
            "must start with sqlite://, memory://, postgresql:// or postgres:// "
            f"(got {show_value(value)})"
        )
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise issue(
                "must be sqlite:///relative/path or sqlite:////absolute/path "
                f"(got {show_value(value)})"
            )
        path = _resolve(Path(rest[1:]), info)
        return f"sqlite:///{path}"
    return value


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def size_or_percent(value: Any) -> tuple[int, float]:
    """``512MB``, ``1GiB``, ``1048576`` (bytes) or ``5%`` -> (bytes, percent); one is 0.
    KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB powers of 1024."""
    if isinstance(value, bool):
        raise ValueError("expected a size or a percentage")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        return value, 0.0
    if not isinstance(value, str):
        raise ValueError("expected a size or a percentage")
    text = value.strip()
    if text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError:
            raise ValueError("expected a percentage like 5%") from None
        if not 0 <= percent < 100:
            raise ValueError("a percentage from 0 to below 100")
        return 0, percent
    match = _SIZE_RE.match(text)
    if match is None:
        raise ValueError("expected bytes, a size like 512MB or 1GiB, or a percentage like 5%")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "b").lower()]), 0.0


def _size_or_percent(value: Any) -> Any:
    try:
        size_or_percent(value)
    except ValueError as exc:
        raise issue(f"{exc} (got {show_value(value)})") from None
    return value


SizeOrPercent = Annotated[int | str, AfterValidator(_size_or_percent)]


Domain = Annotated[str, AfterValidator(_domain)]
ResolvedPath = Annotated[Path, Field(strict=False), AfterValidator(_resolve)]
Positive = Annotated[int, Field(gt=0)]
Seconds = Annotated[float, Field(gt=0)]


def redact_url(url: str) -> str:
    """``scheme://user:password@host/...`` with the password replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.partition("@")
    if sep and at and ":" in userinfo and "/" not in userinfo:
        user = userinfo.split(":", 1)[0]
        return f"{scheme}://{user}:***@{hostpart}"
    return url


TLS_LEVELS = ("none", "may", "encrypt", "verify", "dane", "dane-only")


def _tls_level(value: str) -> str:
    if value not in TLS_LEVELS:
        raise issue(f"must be one of {', '.join(TLS_LEVELS)} (got {show_value(value)})")
    return value


TlsLevelName = Annotated[str, AfterValidator(_tls_level)]


def split_route(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[ip]:port`` or ``[ip]`` -> (host, port or None)."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError("must be host, host:port or [ip]:port")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:
        raise ValueError("an IPv6 address needs brackets: [::1]:25")
    else:
        host, port_text = text, ""
    if not host or not (_DOMAIN_RE.match(host) or _is_ip(host)):
        raise ValueError(f"{host!r} is not a host name or IP address")
    if port_text and (not port_text.isdigit() or not 1 <= int(port_text) <= 65535):
        raise ValueError(f"port must be 1-65535 (got {port_text!r})")
    return host, int(port_text) if port_text else None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def cidr_text(value: str) -> str:
    """An IPv4 or IPv6 network in CIDR form (``127.0.0.0/8``, ``fd00::/8``); a bare address
    is its own /32 or /128. Host bits must be zero, so a typo cannot widen the range."""
    try:
        network = ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        raise issue(f"must be a network in CIDR form such as 127.0.0.0/8 ({exc})") from None
    return str(network)


def route_text(value: str) -> str:
    try:
        split_route(value)
    except ValueError as exc:
        raise issue(f"{exc} (got {show_value(value)})") from None
    return value
