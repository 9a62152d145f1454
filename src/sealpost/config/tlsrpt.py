"""Config table for the TLS reports we send ([tlsrpt], RFC 8460).

Off unless switched on: a server upgraded to this release does not start mailing third
parties. ``sealpost init --production-ports`` writes ``enabled = true`` (see
docs/outbound.md, "TLS-RPT": the reports go only to addresses the recipient domains publish
for them, and carry counts and their own MX names and addresses, nothing of any message).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from sealpost.config.section import Section
from sealpost.config.values import Positive, Seconds, cidr_text, issue

_ADDRESS = re.compile(r"[^@\s<>\"]{1,64}@[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


def _address_or_empty(value: str) -> str:
    if value and not _ADDRESS.fullmatch(value):
        raise issue(f"must be an address such as tlsrpt@example.com, or empty (got {value!r})")
    return value


class TlsRptSection(Section):
    """SMTP TLS Reporting (RFC 8460): a daily report of our TLS sessions to each domain
    that asks for one in its _smtp._tls TXT record."""

    enabled: bool = Field(
        False,
        description="Send the reports: after each midnight UTC, one per policy domain we "
        "tried to deliver to the day before, to each rua of its _smtp._tls record (mailto: "
        "through our own queue, https: as a POST). The sessions are counted either way, so "
        "`sealpost tlsrpt send` works with this off.",
    )
    organization_name: str = Field(
        "",
        max_length=200,
        description="organization-name of the reports; empty: [server] hostname.",
    )
    contact_info: str = Field(
        "",
        max_length=200,
        description="contact-info of the reports (an address or URL for questions about "
        "them); empty: the sender address.",
    )
    sender: Annotated[str, AfterValidator(_address_or_empty)] = Field(
        "",
        description="From: and envelope sender of mailed reports; empty: "
        "tlsrpt-noreply@<[server] hostname>. Reports are DKIM-signed with the key of this "
        "domain (or a parent) when there is one; RFC 8460 section 3: receivers ignore "
        "unsigned reports, so give it a key ([[dkim.keys]] or a verified sending domain).",
    )
    send_delay_max: Seconds = Field(
        900.0,
        description="After midnight UTC, wait a random time up to this many seconds before "
        "sending (so report receivers are not hit by every sender at 00:00).",
    )
    http_timeout: Seconds = Field(
        30.0, description="Seconds for one POST to an https: rua (RFC 8460 section 5.4)."
    )
    max_report_bytes: Positive = Field(
        10 * 1024 * 1024,
        description="A report whose gzip body is larger is not sent (recorded as failed).",
    )
    keep_days: Positive = Field(
        31, description="Days the session tallies and sent reports are kept."
    )
    allowed_private_targets: list[Annotated[str, AfterValidator(cidr_text)]] = Field(
        default_factory=list,
        description="Networks (CIDR) an https: rua may reach although loopback, private, "
        "link-local or this server's own (the webhooks' egress rule: a domain's DNS must not "
        'aim our POST inside our network). ["127.0.0.0/8"] for tests; empty in production.',
    )
