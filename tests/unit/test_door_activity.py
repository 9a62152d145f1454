"""The door's summary line (issue 12 item 2): one INFO line per interval, only when
something happened, and a last one for the time since when the server stops."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sealpost.submission.activity import DoorCounts, log_summaries, summary_line


def test_summary_line():
    assert summary_line(DoorCounts(), 60) is None
    assert summary_line(DoorCounts(52000, 51990, 3), 60.2) == (
        "accepted 52000 message(s) (51990 held for local domains, 3 refused) in the last 60 s"
    )
    assert summary_line(DoorCounts(0, 0, 1), 60) is not None  # a refusal alone is news
    assert DoorCounts(5, 2, 1).since(DoorCounts(3, 1, 1)) == DoorCounts(2, 1, 0)


def test_one_line_per_busy_interval_and_a_last_one_at_stop(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, "sealpost.submission")

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "sealpost.submission"]

    async def main() -> None:
        counts = DoorCounts()
        stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(
            log_summaries(lambda: counts, stop, interval=0.1)
        )
        await asyncio.sleep(0)  # the task has read the counts it starts from
        counts = DoorCounts(3, 2, 0)
        for _ in range(100):  # the first interval ends (at most 5 s on a busy machine)
            if lines():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.35)  # quiet intervals: no line
        assert len(lines()) == 1, lines()
        counts = DoorCounts(4, 2, 1)
        stop.set()
        await asyncio.wait_for(task, 1)

    asyncio.run(main())
    first, last = lines()
    assert first.startswith("accepted 3 message(s) (2 held for local domains, 0 refused)")
    assert last.startswith("accepted 1 message(s) (0 held for local domains, 1 refused)")
    assert all(r.levelno == logging.INFO for r in caplog.records)
