"""Config table for the TLS-RPT reports we receive ([tls_reports], RFC 8460)."""

from __future__ import annotations

from pydantic import Field

from sealpost.config.section import Section
from sealpost.config.values import Positive, Seconds


class TlsReportsSection(Section):
    """TLS-RPT reports other senders send us, by mail to a local domain or to
    POST /api/v1/tls-reports (docs/tls-reports.md)."""

    max_report_bytes: Positive = Field(
        10 * 1024 * 1024,
        description="Largest report accepted, in bytes after gzip decompression; "
        "decompression stops as soon as a report passes it (a gzip bomb costs no more). "
        "Beyond it the API answers 413, and a report by mail is logged as not read (the "
        "message stays held). The compressed body is bounded by [api] max_request_bytes "
        "and [server] max_message_size.",
    )
    scan_interval: Seconds = Field(
        30.0,
        description="Seconds between looks at held local mail the door marked as a possible "
        "report (docs/tls-reports.md). The server also looks at once when it holds such a "
        "message; this interval covers mail held by other worker processes and other nodes.",
    )
