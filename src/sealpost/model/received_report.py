"""A TLS-RPT report we received (RFC 8460 section 4.4), as the store keeps it.

The typed fields are what an operator filters and sorts by (who sent it, which days, which
policy domains, how many sessions failed); ``report_json`` keeps the whole report exactly as
it was parsed, re-serialised, for everything else (failure details, policy strings, MX
hosts). A sender's resend is the same ``(organization, report_id)``: RFC 8460 section 4.4
makes ``report-id`` unique per reporting organisation, so the pair is the natural key and a
second copy is not stored again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReportSource(StrEnum):
    """How a report reached us."""

    MAIL = "mail"  # a multipart/report message to a local domain (RFC 8460 section 5.3)
    API = "api"  # POST /api/v1/tls-reports (an HTTPS rua, RFC 8460 section 5.4)


@dataclass(frozen=True, slots=True)
class ReceivedReport:
    """One received report; ``id`` is ours (sortable by arrival), ``report_id`` the sender's."""

    id: str
    organization: str
    report_id: str
    start: float  # date-range start-datetime, seconds since the epoch (UTC)
    end: float  # date-range end-datetime
    policy_domains: tuple[str, ...]  # lower case, no trailing dot, sorted, unique
    successful: int  # sum of total-successful-session-count over the policies
    failed: int  # sum of total-failure-session-count over the policies
    contact_info: str
    received_at: float
    source: ReportSource
    message_id: str | None  # the held message it came in, for mail
    report_json: str  # the whole report as JSON text


@dataclass(frozen=True, slots=True)
class StoredReport:
    """What adding a report found: the stored one, and whether this call created it."""

    report: ReceivedReport
    created: bool


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """Which received reports to list, ordered by our id (arrival), past ``after``.

    ``domain``: reports naming this policy domain. ``scope``: when not None, only reports
    naming at least one of these policy domains (an API key limited to sender domains).
    ``since`` / ``until``: reports whose date range ends at or after ``since`` and starts
    before ``until``."""

    domain: str | None = None
    scope: tuple[str, ...] | None = None
    since: float | None = None
    until: float | None = None
    after: str | None = None
    limit: int = 100
