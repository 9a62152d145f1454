"""The tls-check report as values, and its JSON form (schema ``sealpost.tls-check/1``).

docs/tls-check.md documents every field; ``to_dict`` is the only place the JSON is shaped,
so the CLI (``--json``) and the API (``GET /api/v1/tls-check``) print the same document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from sealpost.policy.dane import TlsaMatch
from sealpost.tlscheck.certificate import CertificateFacts
from sealpost.tlscheck.domain_policy import StsFindings, TlsaFindings, TlsRptFindings
from sealpost.tlscheck.smtp_probe import ProbeResult, VersionResult

SCHEMA = "sealpost.tls-check/1"


class Grade(StrEnum):
    SECURE = "secure"  # TLS verified and an authenticated policy makes it mandatory
    DOWNGRADEABLE = "downgradeable"  # mail flows, but an attacker could strip or fake TLS
    FAILS = "fails"  # mail would fail: under the domain's own policy, or not reachable
    ERROR = "error"  # the check itself could not be done (bad target, DNS lookup failure)

    @property
    def exit_code(self) -> int:
        return ExitCode[self.name].value

    @property
    def rank(self) -> int:
        return self.exit_code


class ExitCode(IntEnum):
    SECURE = 0
    DOWNGRADEABLE = 1
    FAILS = 2
    ERROR = 3


class DaneStatus(StrEnum):
    NONE = "none"  # no TLSA records
    INSECURE = "insecure"  # TLSA records without DNSSEC: ignored (RFC 7672 section 2.2)
    MATCH = "match"
    NO_MATCH = "no-match"
    UNCHECKED = "unchecked"  # only DANE-TA records, and the chain could not be read
    UNUSABLE = "unusable"  # only records unusable for SMTP
    ERROR = "error"  # the lookup failed


@dataclass(frozen=True, slots=True)
class Verdict:
    grade: Grade
    summary: str
    reasons: tuple[str, ...] = ()
    fixes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "grade": self.grade.value,
            "exit_code": self.grade.exit_code,
            "summary": self.summary,
            "reasons": list(self.reasons),
            "fixes": list(self.fixes),
        }


@dataclass(frozen=True, slots=True)
class Verification:
    verified: bool | None  # None: not checked (no TLS)
    error: str | None = None
    failure: str | None = None  # RFC 8460 result type


@dataclass(slots=True)
class HostReport:
    host: str
    port: int
    preference: int | None = None
    addresses: tuple[str, ...] = ()
    addresses_secure: bool = False
    dns_error: str | None = None
    refused: str | None = None  # the egress rule refused it (API only): never contacted
    probe: ProbeResult | None = None
    verification: Verification = field(default_factory=lambda: Verification(None))
    versions: dict[str, VersionResult] = field(default_factory=dict)
    certificate: CertificateFacts | None = None
    name_match: bool | None = None
    sts_match: bool | None = None
    tlsa: TlsaFindings | None = None
    tlsa_matches: tuple[TlsaMatch, ...] = ()
    canonical: str = ""  # the CNAME-expanded name of ``host``, when it is an alias
    tlsa_base: str = ""  # the TLSA base domain delivery would use (SNI), when DANE applies
    reference_names: tuple[str, ...] = ()  # DANE-TA names (RFC 7672 section 3.2.3)
    dane_skipped: str | None = None  # why delivery would not use the TLSA records shown
    dane: DaneStatus = DaneStatus.NONE
    timed_out: bool = False  # the host did not finish within the check's time budget
    timings_ms: dict[str, float] = field(default_factory=dict)
    verdict: Verdict | None = None

    def to_dict(self) -> dict[str, Any]:
        probe = self.probe
        return {
            "host": self.host,
            "port": self.port,
            "preference": self.preference,
            "addresses": list(self.addresses),
            "addresses_secure": self.addresses_secure,
            "address": probe.address if probe else None,
            "dns_error": self.dns_error,
            "refused": self.refused,
            "reachable": bool(probe and probe.banner is not None),
            "timed_out": self.timed_out or bool(probe and probe.timed_out),
            "error": probe.error if probe else None,
            "failed_step": probe.failed_at.value if probe and probe.failed_at else None,
            "banner": probe.banner if probe else None,
            "ehlo": list(probe.ehlo) if probe else [],
            "starttls_offered": probe.starttls_offered if probe else None,
            "tls": probe.negotiated.to_dict() if probe and probe.negotiated else None,
            "versions": {
                name: self.versions[name].value for name in VERSION_ORDER if name in self.versions
            },
            "certificate": self.certificate.to_dict() if self.certificate else None,
            "verification": {
                "verified": self.verification.verified,
                "error": self.verification.error,
                "failure": self.verification.failure,
                "name_match": self.name_match,
            },
            "mta_sts_mx_match": self.sts_match,
            "dane": _dane_dict(self),
            "timings_ms": dict(sorted(self.timings_ms.items(), key=_step_order)),
            "verdict": self.verdict.to_dict() if self.verdict else None,
        }


VERSION_ORDER = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_STEPS = ("dns", "connect", "banner", "ehlo", "starttls", "handshake", "verify")


def _step_order(item: tuple[str, float]) -> tuple[int, str]:
    name = item[0]
    return (_STEPS.index(name) if name in _STEPS else len(_STEPS), name)


def _dane_dict(report: HostReport) -> dict[str, Any]:
    tlsa = report.tlsa
    records = []
    if tlsa is not None:
        for record, match in zip(tlsa.records, report.tlsa_matches, strict=False):
            records.append(
                {
                    "usage": record.usage,
                    "selector": record.selector,
                    "mtype": record.mtype,
                    "data": record.data.hex(),
                    "match": match.value,
                }
            )
    return {
        "tlsa_name": tlsa.name if tlsa else None,
        "tlsa_base": report.tlsa_base or None,
        "secure": tlsa.secure if tlsa else False,
        "skipped": report.dane_skipped,
        "records": records,
        "status": report.dane.value,
        "error": tlsa.error if tlsa else None,
    }


@dataclass(slots=True)
class CheckReport:
    target: str
    kind: str  # "domain" | "host"
    port: int
    implicit_tls: bool
    timeout_s: float
    checked_at: str
    mx_records: tuple[tuple[int, str], ...] = ()
    mx_secure: bool = False
    mx_implicit: bool = False
    mx_error: str | None = None
    mta_sts: StsFindings | None = None
    tls_rpt: TlsRptFindings | None = None
    hosts: list[HostReport] = field(default_factory=list)
    duration_ms: float = 0.0
    verdict: Verdict | None = None
    refusal: str | None = None  # nothing was checked: the egress rule refused every host

    @property
    def exit_code(self) -> int:
        return self.verdict.grade.exit_code if self.verdict else ExitCode.ERROR.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "target": self.target,
            "kind": self.kind,
            "port": self.port,
            "implicit_tls": self.implicit_tls,
            "timeout_s": self.timeout_s,
            "checked_at": self.checked_at,
            "duration_ms": self.duration_ms,
            "mx": {
                "records": [{"preference": p, "host": h} for p, h in self.mx_records],
                "secure": self.mx_secure,
                "implicit": self.mx_implicit,
                "error": self.mx_error,
            },
            "mta_sts": self.mta_sts.to_dict() if self.mta_sts else None,
            "tls_rpt": self.tls_rpt.to_dict() if self.tls_rpt else None,
            "hosts": [host.to_dict() for host in self.hosts],
            "verdict": self.verdict.to_dict() if self.verdict else None,
            "exit_code": self.exit_code,
        }
