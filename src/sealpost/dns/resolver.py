"""The Resolver contract and its answer values.

``secure`` is True only when a configured validating resolver set the AD bit (RFC 4035
section 3.2.3); DANE (RFC 7672) may only use secure answers. Errors are values of one
exception type whose ``kind`` tells a missing name (NXDOMAIN: permanent) from a missing
record type (NODATA: e.g. implicit MX) from a failure to get an answer (SERVFAIL, timeout:
transient).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


class DnsErrorKind(StrEnum):
    NXDOMAIN = "nxdomain"  # the name does not exist
    NODATA = "nodata"  # the name exists, without records of this type
    SERVFAIL = "servfail"
    TIMEOUT = "timeout"

    @property
    def transient(self) -> bool:
        return self in (DnsErrorKind.SERVFAIL, DnsErrorKind.TIMEOUT)


class DnsError(Exception):
    def __init__(self, kind: DnsErrorKind, name: str, detail: str = "") -> None:
        super().__init__(f"{name}: {kind.value}{' (' + detail + ')' if detail else ''}")
        self.kind = kind
        self.name = name
        self.response: Any = None  # the resolver's raw NODATA response, when it has one


@dataclass(frozen=True, slots=True)
class MxRecord:
    preference: int
    host: str  # lower case, no trailing dot; "" for a null MX (RFC 7505 "MX 0 .")


@dataclass(frozen=True, slots=True)
class TlsaRecord:
    usage: int
    selector: int
    mtype: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    records: tuple[T, ...]
    secure: bool = False
    canonical: str = ""  # the CNAME-expanded name the records belong to, when it differs


class Resolver(Protocol):
    async def mx(self, domain: str) -> Answer[MxRecord]:
        """MX records of ``domain``; raises DnsError (NODATA when there are none)."""

    async def addresses(self, host: str) -> Answer[str]:
        """A and AAAA addresses of ``host`` (IPv4 first); DnsError when there are none."""

    async def txt(self, name: str) -> Answer[str]:
        """TXT records, each one's character-strings joined without separators."""

    async def tlsa(self, name: str) -> Answer[TlsaRecord]: ...

    async def alias(self, name: str) -> Answer[str]:
        """The CNAME target of ``name`` itself (one link, not followed), its ``secure`` the
        alias RRset's own; DnsError (NODATA) when ``name`` is no alias. DANE asks it when
        an MX host's addresses came back insecure through a CNAME (RFC 7672 section 2.2.2:
        a secure first link keeps the host DANE-eligible at its original name)."""
