"""The daily run of TLS reports: after each midnight UTC, yesterday's (RFC 8460 section 4.1
suggests daily reports covering one UTC day).

Every node of a cluster runs it; the store lets only one send each domain's report
(``TlsReportStore.claim_tls_report``), so which node wins does not matter. The run waits a
random delay after midnight (``[tlsrpt] send_delay_max``) so report receivers do not get
every sender's reports at 00:00:00, and once at start it catches up on yesterday (a server
that was down at midnight still reports; a report already sent is not sent again). Old
tallies and reports go after ``keep_days``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sealpost.store.contracts.tls_reports import TlsReportStore
from sealpost.tlsrpt.send import TlsReporter

log = logging.getLogger("sealpost.tlsrpt")
DAY = 86400.0


def seconds_to_midnight(now: float) -> float:
    """Seconds from ``now`` to the next 00:00:00 UTC (a full day at midnight itself)."""
    return DAY - now % DAY


def yesterday(now: float) -> date:
    return datetime.fromtimestamp(now, UTC).date() - timedelta(days=1)


async def run_daily(
    reporter: TlsReporter,
    store: TlsReportStore,
    stop: asyncio.Event,
    *,
    delay_max: float,
    keep_days: int,
    clock: Callable[[], float] = time.time,
    jitter: Callable[[float], float] = lambda top: random.uniform(0, top),
) -> None:
    """Send yesterday's reports now (after a short jitter), then after every midnight."""
    wait = jitter(min(delay_max, 60.0))
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), wait)
            return
        except TimeoutError:
            pass
        now = clock()
        day = yesterday(now)
        try:
            outcomes = await reporter.send_day(day)
            sent = sum(1 for o in outcomes if o.report is not None)
            log.info("TLS reports for %s: %d sent, %d domains", day, sent, len(outcomes))
            await store.forget_tls_before((day - timedelta(days=keep_days)).isoformat())
        except Exception:  # the next midnight tries again; today's tallies are kept
            log.exception("TLS reports for %s failed", day)
        wait = seconds_to_midnight(clock()) + jitter(delay_max)
