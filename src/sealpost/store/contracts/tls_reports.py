"""The contract for TLS reporting (RFC 8460) that we send: the per-day session tallies and
the reports built from them.

- Tallies: ``DeliveryQueue.record_attempt`` adds an attempt's tallies in the SAME transaction
  as its events (nothing counted for an attempt that was not recorded, nothing recorded
  uncounted); ``add_tls_tallies`` adds others. Tallies with the same key (day, policy
  domain, policy, receiving MX, receiving IP, result) are summed, so a day's aggregate is a
  few rows per domain, kept apart from event retention.
- Reports: ``claim_tls_report`` stores a built report only if none exists for its (day,
  policy domain): RFC 8460 section 3 wants one report per domain and period, and two nodes
  sharing a PostgreSQL store must not both send. Only the caller that got True sends it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sealpost.model.tlsrpt_report import SentReport, TargetState, TlsTally


class TlsReportStore(Protocol):
    async def add_tls_tallies(self, tallies: Sequence[TlsTally]) -> None:
        """Add ``tallies`` (summing into rows with the same key) in one transaction."""

    async def tls_tallies(self, day: str) -> list[TlsTally]:
        """Every summed tally of the UTC ``day`` (YYYY-MM-DD), ordered by domain."""

    async def claim_tls_report(self, report: SentReport) -> bool:
        """Store ``report`` with its targets unless a report for its (day, policy domain)
        exists; True when this call stored it (the caller then sends it)."""

    async def set_tls_report_target(
        self, report_id: str, uri: str, state: TargetState, detail: str | None, now: float
    ) -> None:
        """Record what became of one target of a claimed report."""

    async def tls_reports(self, *, day: str | None = None, limit: int = 100) -> list[SentReport]:
        """Claimed reports, newest day first (then domain), optionally of one ``day``."""

    async def forget_tls_before(self, day: str) -> int:
        """Drop tallies and reports of days before ``day``; returns how many rows went."""
