"""SMTP TLS Reporting (RFC 8460) aggregate reports we send, as values.

- ``ReportedPolicy``: the policy a session ran under, as section 4.4 names it (``sts`` with
  the MTA-STS policy lines, ``tlsa`` with the TLSA records, or ``no-policy-found``).
- ``TlsTally``: the count of sessions one delivery attempt adds to a UTC day's aggregate,
  keyed by policy domain, policy, receiving MX and IP and result (``None``: success). The
  store sums tallies with the same key (``store.contracts.tls_reports``).
- ``TlsReport``: the section 4 report for one policy domain and day, with ``to_json``.
- ``SentReport`` / ``ReportTarget``: what ``tlsrpt send`` built and what became of each
  ``rua`` URI (queued as mail, posted over HTTPS, or failed and why).

Section 4.4: every date-time is RFC 3339 in UTC; a report covers whole UTC days here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sealpost.model.tlsrpt import TlsFailure

# ``SessionInfo.listener`` of the report messages we queue: mail we originate (DKIM-signed)
# that is never counted in a TLS report itself (RFC 8460 section 3: loop safety).
REPORT_LISTENER = "tlsrpt"


class PolicyType(StrEnum):
    """RFC 8460 section 4.4 ``policy-type``."""

    STS = "sts"
    TLSA = "tlsa"
    NO_POLICY_FOUND = "no-policy-found"


@dataclass(frozen=True, slots=True)
class ReportedPolicy:
    """``policy-type``, ``policy-string`` (one line per string) and ``mx-host``."""

    type: PolicyType = PolicyType.NO_POLICY_FOUND
    strings: tuple[str, ...] = ()
    mx_host: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """A short stable hash of the whole policy: tallies under one policy share it."""
        text = json.dumps([self.type.value, list(self.strings), list(self.mx_host)])
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type.value, "strings": list(self.strings), "mx": list(self.mx_host)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReportedPolicy:
        return cls(
            PolicyType(data["type"]),
            tuple(str(s) for s in data.get("strings", ())),
            tuple(str(m) for m in data.get("mx", ())),
        )


@dataclass(frozen=True, slots=True)
class TlsTally:
    """Sessions to add to one aggregate row; ``result`` None counts successful sessions."""

    day: str  # the UTC day, YYYY-MM-DD
    policy_domain: str
    policy: ReportedPolicy
    receiving_mx: str = ""
    receiving_ip: str = ""
    result: TlsFailure | None = None
    sessions: int = 1

    @property
    def result_text(self) -> str:
        """The stored result column: the result type, ``""`` for success."""
        return "" if self.result is None else self.result.value


@dataclass(frozen=True, slots=True)
class FailureDetail:
    """One ``failure-details`` entry (section 4.4)."""

    result: TlsFailure
    receiving_mx: str
    receiving_ip: str
    sessions: int

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"result-type": self.result.value}
        if self.receiving_mx:
            out["receiving-mx-hostname"] = self.receiving_mx
        if self.receiving_ip:
            out["receiving-ip"] = self.receiving_ip
        out["failed-session-count"] = self.sessions
        return out


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """One entry of ``policies``: the policy, its summary and failure details."""

    policy: ReportedPolicy
    policy_domain: str
    successful: int
    failed: int
    failures: tuple[FailureDetail, ...] = ()

    def to_json(self) -> dict[str, Any]:
        policy: dict[str, Any] = {"policy-type": self.policy.type.value}
        if self.policy.strings:
            policy["policy-string"] = list(self.policy.strings)
        policy["policy-domain"] = self.policy_domain
        if self.policy.mx_host:
            policy["mx-host"] = list(self.policy.mx_host)
        out: dict[str, Any] = {
            "policy": policy,
            "summary": {
                "total-successful-session-count": self.successful,
                "total-failure-session-count": self.failed,
            },
        }
        if self.failures:
            out["failure-details"] = [f.to_json() for f in self.failures]
        return out


@dataclass(frozen=True, slots=True)
class TlsReport:
    """The RFC 8460 section 4 report about one policy domain for one UTC day."""

    organization_name: str
    contact_info: str
    report_id: str
    day: date
    policy_domain: str
    policies: tuple[PolicyResult, ...]

    @property
    def start(self) -> str:
        return f"{self.day.isoformat()}T00:00:00Z"

    @property
    def end(self) -> str:
        return f"{self.day.isoformat()}T23:59:59Z"

    def to_json(self) -> dict[str, Any]:
        return {
            "organization-name": self.organization_name,
            "date-range": {"start-datetime": self.start, "end-datetime": self.end},
            "contact-info": self.contact_info,
            "report-id": self.report_id,
            "policies": [p.to_json() for p in self.policies],
        }

    def encoded(self) -> bytes:
        """The JSON body (UTF-8, compact), before gzip."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode()


class TargetState(StrEnum):
    """What became of one ``rua`` URI."""

    PENDING = "pending"  # claimed, not yet handed on (a crash in between leaves this)
    QUEUED = "queued"  # mailto: the report message is in our queue
    POSTED = "posted"  # https: the endpoint answered 2xx
    FAILED = "failed"  # refused, unreachable, or not 2xx; ``detail`` says why


@dataclass(frozen=True, slots=True)
class ReportTarget:
    uri: str
    state: TargetState = TargetState.PENDING
    detail: str | None = None  # queued: the message id; posted: HTTP status; failed: why
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class SentReport:
    """A report as built and claimed: one per policy domain and day (store-unique)."""

    report_id: str
    day: str
    policy_domain: str
    created_at: float
    report: dict[str, Any]  # the JSON sent
    targets: tuple[ReportTarget, ...] = field(default_factory=tuple)
