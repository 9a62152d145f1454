"""Retention on SQLite, measured: the disk a day of traffic costs, and what a purge gives back.

Owns one bounded measurement, scaled down from production and extrapolated (say so when
quoting it):

1. ``--days`` days of traffic at ``--per-day`` messages a day are written through the store
   as the server writes them: each message (``--body`` bytes, one recipient) enqueued with its
   ``injection`` event, claimed, and its attempt recorded (``delivery``, 1 in 20 a
   ``bounce``) with its event, the timestamps spread over each day;
2. the file's size, and each table's share of it (``dbstat``), are taken;
3. one retention round runs with the defaults (``[retention]``: final messages 3 days,
   events 10) as of the end of the last day, while a probe keeps enqueueing small messages
   the way the door does and times each one (its fsync before the 250): the longest purge
   batch and the probe's slowest write say whether the purge stalls the queue;
4. the file's size after the round (incremental vacuum, then a WAL checkpoint), and the
   steady-state disk per 1M messages a day with the defaults, from the measured bytes per
   message and per event.

Usage: ``python -m bench.retention [--days 14] [--per-day 1000] [--body 12000] [--json]``
(``make bench-retention``). Numbers of a run are in docs/operations.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sealpost.events.records import attempt_event, injection_events
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.ids import new_message_id
from sealpost.model.queue import RecipientResult
from sealpost.model.reply import Reply
from sealpost.model.retention import DAY
from sealpost.retention.purger import Purger, RetentionSettings
from sealpost.store import open_store
from sealpost.store.contracts import Store

START = 1_750_000_000.0
CHUNK = 200  # messages written concurrently (the group commit batches them)
DELIVERED = Reply(250, "2.0.0", ("2.0.0 Ok: queued as 4bX",))
BOUNCED = Reply(550, "5.1.1", ("5.1.1 <u@example.net>: Recipient address rejected",))
EVENT_TABLES = ("events", "events_message", "events_type", "events_time", "events_rcpt")
MESSAGE_TABLES = ("messages", "recipients", "messages_due", "messages_state")


def message(n: int, body: bytes) -> InboundMessage:
    rcpt = f"customer{n:08d}@mail{n % 97}.example.net"
    head = (
        f"From: Shop <orders@shop.example>\r\nTo: <{rcpt}>\r\n"
        f"Subject: Your order {n} has shipped\r\nMessage-ID: <{n}@shop.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    ).encode()
    return InboundMessage(
        envelope=Envelope(mail_from="bounces@shop.example", recipients=(rcpt,)),
        session=SessionInfo(
            listener="submission", client_ip="10.0.0.5", client_port=40000, auth_user="k1"
        ),
        data=head + body,
    )


async def one_message(store: Store, n: int, at: float, body: bytes) -> None:
    mid = new_message_id(at)
    msg = message(n, body)
    await store.enqueue(mid, msg, at, injection_events(mid, msg, at))
    claims = await store.claim_due(at + 1, 1, 365 * DAY)  # simulated time: a long lease
    for claim in claims:  # another task's message may be the one claimed: record it alike
        stored = claim.message
        bounce = sum(stored.id.encode()) % 20 == 0
        to = stored.recipients[0].address
        event = attempt_event(
            "bounce" if bounce else "delivery",
            message_id=stored.id,
            message=stored.message,
            created_at=stored.created_at,
            rcpt=to,
            reply=BOUNCED if bounce else DELIVERED,
            now=at + 1,
            num_retries=0,
            tls=None,
            ip_address="192.0.2.25",
            routing_domain=to.rpartition("@")[2],
            bounce_class="10" if bounce else None,
        )
        status = "bounced" if bounce else "delivered"
        await store.record_attempt(claim, [RecipientResult(to, status, "250 ok")], at + 1, [event])


async def fill(store: Store, days: int, per_day: int, body_bytes: int) -> int:
    body = (os.urandom(body_bytes // 2).hex().encode())[:body_bytes]  # text-like, incompressible
    n = 0
    for day in range(days):
        step = DAY / per_day
        for start in range(0, per_day, CHUNK):
            ats = [START + day * DAY + i * step for i in range(start, min(per_day, start + CHUNK))]
            await asyncio.gather(*(one_message(store, n + i, at, body) for i, at in enumerate(ats)))
            n += len(ats)
    return n


def file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def checkpoint_and_measure(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("messages", "events")
        }
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    return {
        "file_bytes": file_bytes(path),
        "free_bytes": free * page,
        "message_bytes": sum(tables.get(t, 0) for t in MESSAGE_TABLES),
        "event_bytes": sum(tables.get(t, 0) for t in EVENT_TABLES),
        **counts,
    }


async def probe(store: Store, stop: asyncio.Event, latencies: list[float]) -> None:
    """Small enqueues, one after another, as the door makes them while the purge runs."""
    body = b"x" * 500
    n = 10**9
    while not stop.is_set():
        at = time.time()
        started = time.monotonic()
        await store.enqueue(new_message_id(at), message(n, body), at + 10 * 365 * DAY)
        latencies.append(time.monotonic() - started)
        n += 1
        await asyncio.sleep(0.005)


async def run(days: int, per_day: int, body_bytes: int, workdir: Path) -> dict[str, Any]:
    path = workdir / "queue.db"
    store = open_store(f"sqlite:///{path}")
    await store.open()
    try:
        started = time.monotonic()
        written = await fill(store, days, per_day, body_bytes)
        fill_seconds = time.monotonic() - started
        before = checkpoint_and_measure(path)
        settings = RetentionSettings()  # the defaults
        end = START + days * DAY
        purger = Purger(store, settings, clock=lambda: end)
        stop, latencies = asyncio.Event(), []
        prober = asyncio.create_task(probe(store, stop, latencies))
        await asyncio.sleep(0.5)  # the probe's baseline before the round
        baseline = list(latencies)
        started = time.monotonic()
        report = await purger.run_round()
        round_seconds = time.monotonic() - started
        stop.set()
        await prober
        during = latencies[len(baseline) :]
    finally:
        await store.close()
    after = checkpoint_and_measure(path)
    per_message = before["message_bytes"] / max(before["messages"], 1)
    per_event = before["event_bytes"] / max(before["events"], 1)
    events_per_message = before["events"] / max(written, 1)
    steady = 1_000_000 * (
        settings.message_days * per_message + settings.event_days * events_per_message * per_event
    )
    return {
        "days": days,
        "per_day": per_day,
        "body_bytes": body_bytes,
        "messages_written": written,
        "fill_seconds": round(fill_seconds, 1),
        "before": before,
        "after": after,
        "purged": report.purged.as_dict(),
        "batches": report.batches,
        "batch_rows": settings.batch,
        "longest_batch_ms": round(report.longest_batch * 1000, 1),
        "round_seconds": round(round_seconds, 2),
        "pages_returned": report.pages_returned,
        "probe_writes_during_round": len(during),
        "probe_ms_baseline_median": _ms(statistics.median(baseline)) if baseline else None,
        "probe_ms_during_median": _ms(statistics.median(during)) if during else None,
        "probe_ms_during_max": _ms(max(during)) if during else None,
        "bytes_per_message": round(per_message),
        "bytes_per_event": round(per_event),
        "events_per_message": round(events_per_message, 2),
        "steady_state_gb_per_1m_a_day": round(steady / 1e9, 1),
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--body", type=int, default=12_000, help="body bytes per message")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sealpost-retention-") as tmp:
        result = asyncio.run(run(args.days, args.per_day, args.body, Path(tmp)))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    b, a = result["before"], result["after"]
    print(
        f"{result['messages_written']:,} messages over {result['days']} days "
        f"({result['per_day']:,}/day, {result['body_bytes']:,}-byte bodies) "
        f"written in {result['fill_seconds']} s"
    )
    print(
        f"file before purge: {b['file_bytes'] / 1e6:.1f} MB "
        f"({b['messages']:,} messages, {b['events']:,} events)"
    )
    print(
        f"purge round (defaults: messages {RetentionSettings().message_days:g} days, events "
        f"{RetentionSettings().event_days:g}): {result['purged']['messages']:,} messages and "
        f"{result['purged']['events']:,} events in {result['batches']} batches of up to "
        f"{result['batch_rows']} rows, {result['round_seconds']} s; longest batch "
        f"{result['longest_batch_ms']} ms"
    )
    print(
        f"door probe: {result['probe_writes_during_round']} enqueues during the round, median "
        f"{result['probe_ms_during_median']} ms (before: {result['probe_ms_baseline_median']} "
        f"ms), slowest {result['probe_ms_during_max']} ms"
    )
    print(
        f"file after purge: {a['file_bytes'] / 1e6:.1f} MB "
        f"({a['messages']:,} messages, {a['events']:,} events, "
        f"{a['free_bytes'] / 1e6:.1f} MB free inside)"
    )
    print(
        f"per message {result['bytes_per_message']:,} B (body, envelope, recipients, indexes); "
        f"per event {result['bytes_per_event']:,} B; {result['events_per_message']} events a "
        f"message -> steady state with the defaults, 1M messages a day: "
        f"~{result['steady_state_gb_per_1m_a_day']} GB (extrapolated)"
    )


if __name__ == "__main__":
    main()
