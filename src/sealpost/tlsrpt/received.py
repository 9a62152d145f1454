"""A received TLS-RPT report checked against RFC 8460 section 4.4, and its stored record.

Required, as the section defines them: ``organization-name``, ``date-range`` (``start-datetime``
and ``end-datetime``, RFC 3339 date-times, end not before start), ``report-id`` and
``policies``, each with ``policy.policy-type`` (``tlsa``, ``sts`` or ``no-policy-found``),
``policy.policy-domain`` and ``summary`` (``total-successful-session-count`` and
``total-failure-session-count``, counts >= 0). Optional but checked when present:
``contact-info``, ``policy-string`` and ``mx-host`` (lists of strings) and each of
``failure-details`` (``result-type``, ``failed-session-count``). Fields we do not know are
kept (the whole report is stored) and not judged, so a sender's extension is no refusal.

``contact-info`` is taken as optional although the section lists it: a report without it
still tells the operator what failed, and refusing it would lose that.

A refusal names the field at fault as a JSON path (``policies[0].summary.total-failure-
session-count``), so the API can say it and the mail path can log it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sealpost.model.received_report import ReceivedReport, ReportSource
from sealpost.tlsrpt.payload import Problem, Refusal, decode

POLICY_TYPES = ("tlsa", "sts", "no-policy-found")
MAX_TEXT = 1000  # characters of organization-name, report-id, contact-info
MAX_COUNT = 2**63 - 1
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_-]{1,63}")


REQUIRED = "is a required field"


class _Invalid(Exception):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail
        self.problem = Problem.MISSING if detail == REQUIRED else Problem.INVALID


@dataclass(frozen=True, slots=True)
class ParsedReport:
    """A report that passed the checks: the fields we file it by, and the whole document."""

    organization: str
    report_id: str
    start: float
    end: float
    policy_domains: tuple[str, ...]
    successful: int
    failed: int
    contact_info: str
    document: dict[str, Any]

    def record(
        self, our_id: str, received_at: float, source: ReportSource, message_id: str | None
    ) -> ReceivedReport:
        """The record to store under ``our_id``."""
        return ReceivedReport(
            id=our_id,
            organization=self.organization,
            report_id=self.report_id,
            start=self.start,
            end=self.end,
            policy_domains=self.policy_domains,
            successful=self.successful,
            failed=self.failed,
            contact_info=self.contact_info,
            received_at=received_at,
            source=source,
            message_id=message_id,
            report_json=json.dumps(self.document, ensure_ascii=False, separators=(",", ":")),
        )


def parse_report(body: bytes, limit: int) -> ParsedReport | Refusal:
    """A report body (gzip or JSON) read and checked; ``limit`` bounds it decompressed."""
    document = decode(body, limit)
    if isinstance(document, Refusal):
        return document
    return check_report(document)


def check_report(document: dict[str, Any]) -> ParsedReport | Refusal:
    """``document`` checked against RFC 8460 section 4.4."""
    try:
        return _check(document)
    except _Invalid as exc:
        return Refusal(exc.problem, exc.detail, exc.field)


def _check(doc: dict[str, Any]) -> ParsedReport:
    organization = _text(doc, "organization-name", "organization-name")
    report_id = _text(doc, "report-id", "report-id")
    contact = _text(doc, "contact-info", "contact-info", required=False)
    dates = _object(doc, "date-range", "date-range")
    start = _time(dates, "start-datetime", "date-range.start-datetime")
    end = _time(dates, "end-datetime", "date-range.end-datetime")
    if end < start:
        raise _Invalid("date-range.end-datetime", "is before start-datetime")
    policies = doc.get("policies")
    if policies is None:
        raise _Invalid("policies", REQUIRED)
    if not isinstance(policies, list) or not policies:
        raise _Invalid("policies", "must be a non-empty list")
    domains: set[str] = set()
    successful = failed = 0
    for index, entry in enumerate(policies):
        where = f"policies[{index}]"
        if not isinstance(entry, dict):
            raise _Invalid(where, "must be an object")
        domains.add(_policy(_object(entry, "policy", f"{where}.policy"), f"{where}.policy"))
        summary = _object(entry, "summary", f"{where}.summary")
        successful += _count(summary, "total-successful-session-count", f"{where}.summary")
        failed += _count(summary, "total-failure-session-count", f"{where}.summary")
        _failure_details(entry, f"{where}.failure-details")
    if successful > MAX_COUNT or failed > MAX_COUNT:
        raise _Invalid("policies", "the session counts add up past 2^63")
    return ParsedReport(
        organization, report_id, start, end, tuple(sorted(domains)), successful, failed,
        contact, doc,
    )  # fmt: skip


def _policy(policy: dict[str, Any], where: str) -> str:
    kind = policy.get("policy-type")
    if kind is None:
        raise _Invalid(f"{where}.policy-type", REQUIRED)
    if kind not in POLICY_TYPES:
        raise _Invalid(f"{where}.policy-type", f"must be one of {', '.join(POLICY_TYPES)}")
    for name in ("policy-string", "mx-host"):
        _strings(policy, name, f"{where}.{name}")
    domain = _text(policy, "policy-domain", f"{where}.policy-domain")
    normal = domain.strip().lower().rstrip(".")
    if not normal.isascii() or not _DOMAIN.fullmatch(normal):
        raise _Invalid(f"{where}.policy-domain", f"{domain!r} is not a domain name")
    return normal


def _failure_details(entry: dict[str, Any], where: str) -> None:
    details = entry.get("failure-details")
    if details is None:
        return
    if not isinstance(details, list):
        raise _Invalid(where, "must be a list")
    for index, detail in enumerate(details):
        at = f"{where}[{index}]"
        if not isinstance(detail, dict):
            raise _Invalid(at, "must be an object")
        _text(detail, "result-type", f"{at}.result-type")
        _count(detail, "failed-session-count", at)


def _object(doc: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = doc.get(name)
    if value is None:
        raise _Invalid(where, REQUIRED)
    if not isinstance(value, dict):
        raise _Invalid(where, "must be an object")
    return value


def _text(doc: dict[str, Any], name: str, where: str, *, required: bool = True) -> str:
    value = doc.get(name)
    if value is None:
        if required:
            raise _Invalid(where, REQUIRED)
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _Invalid(where, "must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise _Invalid(where, f"is longer than {MAX_TEXT} characters")
    return value.strip()


def _strings(doc: dict[str, Any], name: str, where: str) -> None:
    value = doc.get(name)
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid(where, "must be a list of strings")


def _count(doc: dict[str, Any], name: str, where: str) -> int:
    value = doc.get(name)
    if value is None:
        raise _Invalid(f"{where}.{name}", REQUIRED)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise _Invalid(f"{where}.{name}", "must be a whole number >= 0")
    return value


def _time(doc: dict[str, Any], name: str, where: str) -> float:
    value = doc.get(name)
    if value is None:
        raise _Invalid(where, REQUIRED)
    if not isinstance(value, str):
        raise _Invalid(where, "must be an RFC 3339 date-time string")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise _Invalid(where, f"{value!r} is not an RFC 3339 date-time") from None
    if parsed.tzinfo is None:  # RFC 3339 requires an offset; a sender that forgot means UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
