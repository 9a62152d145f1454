"""Reports that arrive by mail: a background reader of marked held mail, after the ``250``.

Why a reader of held mail, and not a step of the door: the door's work ends with the fsync
that makes the ``250`` true (RFC 5321 section 6.1), and nothing may slow it or make it fail.
A message to a local domain is stored ``held`` there like any other (so a report is never
lost, whatever becomes of its parsing). The door also marks, in that same transaction, the
held messages that may be reports (``submission.report_mark``: the RFC 8460 section 5.3
markers, ``TLS-Report-Domain``, ``report-type="tlsrpt"``, a ``Report Domain:`` Subject, and
the attachment names senders use); this reader goes through the MARKED held messages in id
order (arrival, ``QueueControl.list_report_marked``), past a cursor kept in the store
(document ``tlsrpt_intake/held``), looks for a report in each (``mail``), checks it
(``received``) and stores it (``ReceivedTlsReports``). Held mail without the mark (all other
local mail) is never listed nor read: reading every held message cost two store reads per
message in the primary worker, a quarter more CPU per message in the inbound benchmark. The
door wakes the reader when it held a marked message (``wake``); it also looks every
``[tls_reports] scan_interval`` seconds, which covers mail held by the other worker
processes and by other nodes.

Held mail costs one transaction (``submission.local_hold``), and this reader keeps it so for
mail that is no report: it only reads. Its cursor is written with the reports it finds (after
they are stored), every ``CHECKPOINT`` seconds when it has moved past other mail, and when the
server stops. A crash therefore means reading some messages again, which is cheap, and a
report read twice is stored once (unique ``(organization, report-id)``).

A marked message that is no report is skipped without a word. One that is a report but cannot
be read (no report part, bad gzip, bad JSON, a missing field, larger than
``max_report_bytes`` decompressed) is logged at WARNING with the message id and the reason;
the message stays held, untouched, for the operator (``sealpost queue show``).

Several nodes on one PostgreSQL store each run a reader over the same held mail: the work is
done twice, the result stored once. Message ids sort by their creation time, so a message
committed late on another node with an id below the cursor is not read; run the intake on
one node, or post reports to the API, if that matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sealpost.model.document import Document
from sealpost.model.ids import new_message_id
from sealpost.model.received_report import ReportSource, StoredReport
from sealpost.store.contracts.documents import DocumentStore
from sealpost.store.contracts.queue import QueueControl
from sealpost.store.contracts.received_reports import ReceivedTlsReports
from sealpost.store.errors import StoreError
from sealpost.tlsrpt.mail import Found, find_report
from sealpost.tlsrpt.payload import Problem, Refusal
from sealpost.tlsrpt.received import ParsedReport, parse_report

log = logging.getLogger("sealpost.tlsrpt")

CURSOR = ("tlsrpt_intake", "held")
PAGE = 100
CHECKPOINT = 600.0  # seconds between cursor writes while only other mail passes


class IntakeStore(QueueControl, DocumentStore, ReceivedTlsReports, Protocol):
    """What the reader uses: the marked held messages, its cursor, the reports."""


async def store_report(
    store: ReceivedTlsReports,
    parsed: ParsedReport,
    now: float,
    source: ReportSource,
    message_id: str | None = None,
) -> StoredReport:
    """File a checked report under a new id of ours (idempotent on the sender's pair)."""
    return await store.add_received_report(
        parsed.record(new_message_id(now), now, source, message_id)
    )


@dataclass
class IntakeCounts:
    """What the reader has done since it started."""

    examined: int = 0
    stored: int = 0
    duplicates: int = 0
    refused: int = 0


class ReportIntake:
    """Reads held mail for TLS-RPT reports; ``run`` until stopped, ``scan`` once."""

    def __init__(
        self,
        store: IntakeStore,
        *,
        limit: int,
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._limit = limit
        self._interval = interval
        self._clock = clock
        self._woken = asyncio.Event()
        self._after: str | None = None  # the last message read
        self._saved: str | None = None  # the cursor as the store has it
        self._saved_at = clock()
        self._loaded = False
        self.counts = IntakeCounts()

    def wake(self) -> None:
        """A message was held: look soon."""
        self._woken.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Scan now, then whenever woken or every ``interval`` seconds, until ``stop``; then
        write the cursor."""
        while not stop.is_set():
            self._woken.clear()
            try:
                await self.scan(stop)
            except StoreError as exc:
                log.warning("tls-report intake: %s; trying again later", exc)
            waits = [asyncio.ensure_future(e.wait()) for e in (self._woken, stop)]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.wait(waits, return_when="FIRST_COMPLETED"), self._interval
                )
            for waiter in waits:
                waiter.cancel()
        try:
            await self.save()
        except StoreError as exc:
            log.warning("tls-report intake: cursor not saved: %s", exc)

    async def scan(self, stop: asyncio.Event | None = None) -> IntakeCounts:
        """Read every marked held message past the cursor; returns the running counts."""
        if not self._loaded:
            cursor = await self._store.get_document(*CURSOR)
            after = cursor.payload.get("after") if cursor else None
            self._after = self._saved = str(after) if after else None
            self._loaded = True
        while stop is None or not stop.is_set():
            page = await self._store.list_report_marked(limit=PAGE, after=self._after)
            reported = False
            for message_id in page:
                reported = await self._examine(message_id) or reported
                self._after = message_id
            if reported or self._clock() - self._saved_at >= CHECKPOINT:
                await self.save()
            if len(page) < PAGE:
                break
        return self.counts

    async def save(self) -> None:
        """Write the cursor, when it moved since it was last written."""
        self._saved_at = self._clock()
        if self._after == self._saved:
            return
        doc = Document(CURSOR[0], CURSOR[1], {"after": self._after}, self._saved_at)
        await self._store.put_document(doc)
        self._saved = self._after

    async def _examine(self, message_id: str) -> bool:
        """Read one held message; True when it was a report (stored or refused)."""
        stored = await self._store.get(message_id)
        if stored is None:
            return False
        self.counts.examined += 1
        try:
            found = find_report(stored.message.data)
            parsed = found if isinstance(found, Found) else parse_report(found.body, self._limit)
        except Exception as exc:  # mail from outside never stops the reader
            log.exception("tls-report intake: held message %s could not be read", message_id)
            parsed = Refusal(Problem.BAD_JSON, f"unreadable ({type(exc).__name__})")
        if parsed is Found.NOT_A_REPORT:
            return False
        if isinstance(parsed, Found):
            self._refused(message_id, Refusal(Problem.NO_REPORT, parsed.value))
            return True
        if isinstance(parsed, Refusal):
            self._refused(message_id, parsed)
            return True
        kept = await store_report(self._store, parsed, self._clock(), ReportSource.MAIL, message_id)
        if not kept.created:
            self.counts.duplicates += 1
            log.info(
                "tls-report in held message %s: %r report %r was stored already (%s)",
                message_id, parsed.organization, parsed.report_id, kept.report.id,
            )  # fmt: skip
            return True
        self.counts.stored += 1
        log.info(
            "tls-report %s stored from held message %s: %r, report %r, %d failed session(s)",
            kept.report.id, message_id, parsed.organization, parsed.report_id, parsed.failed,
        )  # fmt: skip
        return True

    def _refused(self, message_id: str, refusal: Refusal) -> None:
        self.counts.refused += 1
        log.warning(
            "tls-report in held message %s not read (the message stays held): %s",
            message_id,
            refusal.text,
        )
