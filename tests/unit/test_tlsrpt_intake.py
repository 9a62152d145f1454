"""The reader of held local mail for TLS-RPT reports (``tlsrpt.intake``), on a real SQLite
store fed by the real door: reports are stored once, other mail is left alone without a
write and without a read (the door marks only possible reports), a broken report is logged
and its message stays held, the cursor survives."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.received_report import ReportQuery, ReportSource
from sealpost.store import open_store
from sealpost.submission.door import Accepted, Submission
from sealpost.submission.local_hold import LocalHold
from sealpost.tlsrpt.intake import ReportIntake
from tests.fixtures.tlsrpt_samples import (
    GOOGLE,
    google_mail,
    microsoft_mail,
    plain_mail,
    report,
)

SESSION = SessionInfo(listener="mx", client_ip="192.0.2.1", client_port=25000, helo="mx.g.test")


async def held(door: Submission, data: bytes, rcpt: str = "tlsrpt@example.test") -> str:
    envelope = Envelope(mail_from="reports@sender.test", recipients=(rcpt,))
    accepted = await door.submit(InboundMessage(envelope, SESSION, data))
    assert isinstance(accepted, Accepted) and accepted.held
    return accepted.message_id


def test_reports_in_held_mail_are_stored_once_and_other_mail_costs_no_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, "sealpost.tlsrpt")

    async def scenario() -> None:
        store = open_store("sqlite:///q.db", base_dir=tmp_path)
        await store.open()
        try:
            door = Submission(store, local_hold=LocalHold.of(["example.test"], []))
            woken: list[int] = []
            door.on_held(lambda: woken.append(1))
            intake = ReportIntake(store, limit=1024 * 1024, interval=60)
            google = await held(door, google_mail())
            plain = await held(door, plain_mail(), "u@example.test")
            assert woken == [1]  # the door wakes the reader for a possible report only

            counts = await intake.scan()
            assert (counts.examined, counts.stored, counts.refused) == (1, 1, 0)
            [stored] = await store.list_received_reports(ReportQuery())
            assert (stored.source, stored.message_id) == (ReportSource.MAIL, google)
            assert stored.organization == "Google Inc." and stored.failed == 2

            # Other mail only: not even read, nothing written (held mail stays one transaction).
            await held(door, plain_mail(), "v@example.test")
            before = store.commits
            counts = await intake.scan()
            assert counts.examined == 1 and store.commits == before

            # A resend in another message: read, stored once. A broken report: logged.
            await held(door, microsoft_mail())
            await held(door, google_mail())
            broken = await held(door, google_mail(report(GOOGLE, policies=None)))
            counts = await intake.scan()
            assert (counts.stored, counts.duplicates, counts.refused) == (2, 1, 1)
            assert len(await store.list_received_reports(ReportQuery())) == 2
            [line] = [r for r in caplog.records if broken in r.getMessage()]
            assert line.levelno == logging.WARNING
            assert "policies: is a required field" in line.getMessage()
            kept = await store.get(broken)
            assert kept is not None and kept.state == "held"  # nothing lost
            assert (await store.get(plain)).state == "held"  # type: ignore[union-attr]

            # A new reader (a restart) starts past the cursor written with the reports.
            again = ReportIntake(store, limit=1024 * 1024, interval=60)
            assert (await again.scan()).examined == 0
        finally:
            await store.close()

    asyncio.run(scenario())


def test_run_reads_when_woken_and_saves_the_cursor_when_stopped(tmp_path: Path):
    async def scenario() -> None:
        store = open_store("sqlite:///q.db", base_dir=tmp_path)
        await store.open()
        try:
            door = Submission(store, local_hold=LocalHold.of(["example.test"], []))
            intake = ReportIntake(store, limit=1024 * 1024, interval=3600)
            door.on_held(intake.wake)
            stop = asyncio.Event()
            task = asyncio.create_task(intake.run(stop))
            await held(door, plain_mail(), "u@example.test")
            await held(door, microsoft_mail())
            for _ in range(200):  # woken, not the hour-long interval
                if intake.counts.stored:
                    break
                await asyncio.sleep(0.02)
            assert intake.counts.stored == 1
            await held(door, plain_mail(), "w@example.test")
            last = await held(door, google_mail())
            for _ in range(200):
                if intake.counts.examined == 2:
                    break
                await asyncio.sleep(0.02)
            stop.set()
            await asyncio.wait_for(task, 10)
            cursor = await store.get_document("tlsrpt_intake", "held")
            assert cursor is not None and cursor.payload["after"] == last
        finally:
            await store.close()

    asyncio.run(scenario())


class CountingGets:
    """The store, counting ``get`` calls by message id (what the intake reads whole)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.gets: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def get(self, message_id: str) -> Any:
        self.gets.append(message_id)
        return await self._store.get(message_id)


def test_only_marked_held_mail_is_read(tmp_path: Path):
    async def scenario() -> None:
        store = open_store("sqlite:///q.db", base_dir=tmp_path)
        await store.open()
        try:
            door = Submission(store, local_hold=LocalHold.of(["example.test"], []))
            counting = CountingGets(store)
            intake = ReportIntake(counting, limit=1024 * 1024, interval=60)
            plain = await held(door, plain_mail(), "u@example.test")
            google = await held(door, google_mail())
            other = await held(door, b"Subject: hi\r\n\r\nhello\r\n", "v@example.test")
            microsoft = await held(door, microsoft_mail())
            counts = await intake.scan()
            assert counting.gets == [google, microsoft]  # never plain nor other
            assert (counts.examined, counts.stored) == (2, 2)
            assert await store.list_report_marked() == [google, microsoft]
            assert plain not in counting.gets and other not in counting.gets
        finally:
            await store.close()

    asyncio.run(scenario())
