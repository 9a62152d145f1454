"""The door's INFO log: one summary line per interval instead of one line per message.

A busy server accepts thousands of messages a minute; an INFO line for each (the inbound
connection's ``queued ...`` line is DEBUG now) costs time on the hot path and buries the
lines operators need. So a small task, started by the composition root, logs every interval
(60 s) what the door took in, and only when something happened::

    accepted 52000 message(s) (51990 held for local domains, 3 refused) in the last 60 s

"refused" counts messages the door refused as a value (a sender the key may not use; each
is still logged at INFO where it is refused). Per-delivery-attempt lines on the outbound
path stay at INFO, as Postfix logs each delivery. The last partial interval is logged when
the task stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("sealpost.submission")

SUMMARY_INTERVAL = 60.0  # seconds between summary lines


@dataclass(frozen=True, slots=True)
class DoorCounts:
    """Counters of the door since it was made."""

    accepted: int = 0
    held: int = 0  # of the accepted, stored held (mail that stays here)
    refused: int = 0

    def since(self, earlier: DoorCounts) -> DoorCounts:
        return DoorCounts(
            self.accepted - earlier.accepted,
            self.held - earlier.held,
            self.refused - earlier.refused,
        )


def summary_line(delta: DoorCounts, seconds: float) -> str | None:
    """The summary of ``delta`` over ``seconds``; None when nothing happened."""
    if not delta.accepted and not delta.refused:
        return None
    return (
        f"accepted {delta.accepted} message(s) ({delta.held} held for local domains, "
        f"{delta.refused} refused) in the last {seconds:.0f} s"
    )


async def log_summaries(
    counts: Callable[[], DoorCounts],
    stop: asyncio.Event,
    interval: float = SUMMARY_INTERVAL,
) -> None:
    """Log ``summary_line`` every ``interval`` seconds until ``stop``, then once more for
    the time since the last line."""
    loop = asyncio.get_running_loop()
    last, since = counts(), loop.time()
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        now, at = counts(), loop.time()
        line = summary_line(now.since(last), at - since)
        if line is not None:
            log.info("%s", line)
        last, since = now, at
        if stop.is_set():
            return
