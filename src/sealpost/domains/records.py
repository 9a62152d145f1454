"""Sending-domain records: the name rules, the stored document, and the public view.

A sending domain is stored as a ``Document`` of kind ``sending_domain`` whose id is the
domain's lower-case A-label form without a trailing dot (IDNA 2008 with UTS 46 mapping, so
``Bücher.Example.`` is ``xn--bcher-kva.example``). The payload is::

    {"domain", "creation_time", "status": {"ownership_verified", "dkim_status"},
     "dkim": {"selector", "public", "signing_domain", "headers"}, "key_file" (old records),
     "dns": {"dkim_record", "dkim_error"}, "tracking_domain", "shared_with_subaccounts",
     "is_default_bounce_domain"}

A domain is VERIFIED iff its DKIM status is ``valid`` or its ownership is verified. The
private key is not in the record: it is in the store's sealed DKIM keys (``dkim.sealing``),
by signing domain and selector. Records written by versions before that carry ``key_file``,
the key file they wrote; the key is imported into the store at start (``domains.key_import``)
and the file is no longer read once it is. The public view (reference section 6) never
carries ``key_file``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import idna

from sealpost.dkim.keys import DkimKeyError, check_domain

KIND = "sending_domain"
DEFAULT_HEADERS = "from:to:subject:date"
MAX_NAME = 253  # RFC 1035 section 2.3.4, without the trailing dot


class DkimStatus(StrEnum):
    """SparkPost's status values for every check of a domain."""

    UNVERIFIED = "unverified"
    PENDING = "pending"
    VALID = "valid"
    INVALID = "invalid"


class DomainNameError(ValueError):
    """Not a domain name a sending domain can have; the text says why."""


def normalize_domain(text: str) -> str:
    """``text`` as a lower-case A-label domain without a trailing dot, or DomainNameError.

    At least two labels, letters/digits/hyphens only after IDNA mapping, and not an IPv4
    address.
    """
    bare = text.strip()
    if bare.endswith("."):
        bare = bare[:-1]
    if not bare or len(bare) > MAX_NAME * 4:
        raise DomainNameError("not a domain name")
    try:
        ascii_name = idna.encode(bare, uts46=True).decode("ascii").lower()
    except (UnicodeError, ValueError) as exc:  # idna.IDNAError is a UnicodeError
        raise DomainNameError(f"not a domain name ({exc})") from None
    try:
        ascii_name = check_domain(ascii_name)
    except DkimKeyError:
        raise DomainNameError("not a domain name (letters, digits, '-' and '.')") from None
    if "." not in ascii_name:
        raise DomainNameError("a sending domain has at least two labels, e.g. example.com")
    if ascii_name.rsplit(".", 1)[1].isdigit():
        raise DomainNameError("an IP address is not a sending domain")
    return ascii_name


@dataclass(frozen=True, slots=True)
class DomainKey:
    """The DKIM key of a domain: where the public half is published; the private half is in
    the store under (signing_domain, selector), and in ``key_file`` too for old records."""

    selector: str
    public: str  # base64 SubjectPublicKeyInfo: the p= value of the TXT record
    signing_domain: str
    key_file: str | None = None
    headers: str = DEFAULT_HEADERS

    def public_view(self) -> dict[str, str]:
        return {
            "signing_domain": self.signing_domain,
            "public": self.public,
            "selector": self.selector,
            "headers": self.headers,
        }


@dataclass(frozen=True, slots=True)
class DnsReport:
    """What the last DKIM check found: the record it read, or why it failed."""

    dkim_record: str | None = None
    dkim_error: str | None = None


@dataclass(frozen=True, slots=True)
class SendingDomain:
    domain: str
    creation_time: str
    dkim_status: DkimStatus = DkimStatus.UNVERIFIED
    ownership_verified: bool = False
    key: DomainKey | None = None
    dns: DnsReport | None = None
    tracking_domain: str | None = None
    shared_with_subaccounts: bool = False
    is_default_bounce_domain: bool = False

    @property
    def verified(self) -> bool:
        return self.dkim_status is DkimStatus.VALID or self.ownership_verified

    def with_changes(self, **changes: Any) -> SendingDomain:
        return replace(self, **changes)

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "domain": self.domain,
            "creation_time": self.creation_time,
            "status": {
                "ownership_verified": self.ownership_verified,
                "dkim_status": self.dkim_status.value,
            },
            "tracking_domain": self.tracking_domain,
            "shared_with_subaccounts": self.shared_with_subaccounts,
            "is_default_bounce_domain": self.is_default_bounce_domain,
        }
        if self.key is not None:
            payload["dkim"] = self.key.public_view()
            if self.key.key_file:
                payload["key_file"] = self.key.key_file
        if self.dns is not None:
            payload["dns"] = {
                "dkim_record": self.dns.dkim_record,
                "dkim_error": self.dns.dkim_error,
            }
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> SendingDomain:
        status = payload.get("status") or {}
        try:
            dkim_status = DkimStatus(status.get("dkim_status", "unverified"))
        except ValueError:
            dkim_status = DkimStatus.UNVERIFIED
        dkim = payload.get("dkim")
        key = None
        if isinstance(dkim, Mapping) and dkim.get("selector"):
            key = DomainKey(
                selector=str(dkim.get("selector", "")),
                public=str(dkim.get("public", "")),
                signing_domain=str(dkim.get("signing_domain") or payload["domain"]),
                key_file=str(payload["key_file"]) if payload.get("key_file") else None,
                headers=str(dkim.get("headers") or DEFAULT_HEADERS),
            )
        dns = payload.get("dns")
        report = None
        if isinstance(dns, Mapping):
            report = DnsReport(dns.get("dkim_record"), dns.get("dkim_error"))
        return cls(
            domain=str(payload["domain"]),
            creation_time=str(payload.get("creation_time", "")),
            dkim_status=dkim_status,
            ownership_verified=bool(status.get("ownership_verified", False)),
            key=key,
            dns=report,
            tracking_domain=payload.get("tracking_domain"),
            shared_with_subaccounts=bool(payload.get("shared_with_subaccounts", False)),
            is_default_bounce_domain=bool(payload.get("is_default_bounce_domain", False)),
        )

    def status_view(self) -> dict[str, Any]:
        """Every SparkPost status field; the checks Sealpost does not run stay unverified."""
        return {
            "ownership_verified": self.ownership_verified,
            "dkim_status": self.dkim_status.value,
            "cname_status": DkimStatus.UNVERIFIED.value,
            "mx_status": DkimStatus.UNVERIFIED.value,
            "spf_status": DkimStatus.UNVERIFIED.value,
            "abuse_at_status": DkimStatus.UNVERIFIED.value,
            "postmaster_at_status": DkimStatus.UNVERIFIED.value,
            "verification_mailbox_status": DkimStatus.UNVERIFIED.value,
            "compliance_status": "valid",
        }

    def public_view(self, *, with_domain: bool = True) -> dict[str, Any]:
        """The API's domain object (reference section 6); never the key file."""
        view: dict[str, Any] = {"domain": self.domain} if with_domain else {}
        if self.tracking_domain:
            view["tracking_domain"] = self.tracking_domain
        view["status"] = self.status_view()
        if self.key is not None:
            view["dkim"] = self.key.public_view()
        view["shared_with_subaccounts"] = self.shared_with_subaccounts
        view["is_default_bounce_domain"] = self.is_default_bounce_domain
        view["creation_time"] = self.creation_time
        return view
