"""Cluster mode (issue 13 item 3): ``kill -9`` of a node mid-delivery loses nothing.

Two real ``sealpost serve`` nodes on one PostgreSQL database, ``[delivery] lease`` short
(``LEASE``). Mail flows in through both nodes (one sending thread each, every message its own
subject) and out to the loopback SMTP sink, which holds each reply to the final dot for
``HOLD`` so attempts are in flight. Mid-flow, node a and all its processes get SIGKILL. Then:

- every message either node acknowledged (``250`` to the final dot) reaches the sink;
- a message reaches the sink twice only if node a held its lease at the kill (an attempt in
  flight: the sink may have taken it, node a never recorded it, node b sends it again once
  the lease expired); duplicates are counted and printed;
- the events (read through node b's CLI, which sees the whole cluster) hold one ``delivery``
  event per delivered message, every message is ``done``.

Every loop is bounded.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import threading
import time
from collections import Counter
from email.parser import BytesHeaderParser
from pathlib import Path

import asyncpg

from tests.integration.test_cluster import (
    cli,
    node_config,
    senders,
    subjects_at,
)
from tests.support import Pki

LEASE = 3.0  # seconds: how long node a's leases outlive it
HOLD = 0.2  # seconds the sink waits before its reply to the final dot
PER_NODE = 40  # messages each sending thread tries to send
KILL_AFTER = 12  # node a dies once this many of its messages were acknowledged
SETTLE = 45.0  # seconds allowed for everything acknowledged to be delivered after the kill


class Sender(threading.Thread):
    """Sends PER_NODE messages to one node over one SMTP connection (a new one after an
    error), recording which ones got ``250``; stops at the first connection refused."""

    def __init__(self, name: str, port: int) -> None:
        super().__init__(daemon=True, name=f"send-{name}")
        self.node, self.port = name, port
        self.acked: list[str] = []
        self.failed: list[str] = []

    def run(self) -> None:
        client: smtplib.SMTP | None = None
        for n in range(PER_NODE):
            subject = f"{self.node}-{n}"
            body = f"Subject: {subject}\r\n\r\nbody of {subject}\r\n"
            try:
                if client is None:
                    client = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
                client.sendmail("a@sender.test", ["u@example.test"], body)
                self.acked.append(subject)
            except (OSError, smtplib.SMTPException):
                self.failed.append(subject)  # not acknowledged: the sender keeps it
                client = None
                if len(self.failed) > 3:
                    return  # the node is gone
            time.sleep(0.02)
        if client is not None:
            client.quit()


def leased_by(url: str, node: str) -> set[str]:
    """Subjects of the messages ``node`` holds a lease on (its attempts in flight)."""

    async def main() -> set[str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                "SELECT data FROM messages WHERE lease_node = $1 AND state = 'queued'", node
            )
        finally:
            await conn.close()
        return {str(BytesHeaderParser().parsebytes(bytes(r[0]))["Subject"]) for r in rows}

    return asyncio.run(main())


def test_kill_9_of_a_node_mid_delivery_loses_nothing_acknowledged(
    tmp_path: Path, pki: Pki, pg_url: str, smtp_sink, spawn
) -> None:
    sink = smtp_sink(stall={"DOT": HOLD})
    delivery = {"lease": LEASE, "poll_interval": 0.5}
    configs = {
        name: node_config(tmp_path / name, pki, pg_url, sink, name, delivery=delivery)
        for name in ("node-a", "node-b")
    }
    nodes = {name: spawn(path) for name, path in configs.items()}
    time.sleep(0.5)
    threads = {name: Sender(name, node.ports["mx"]) for name, node in nodes.items()}
    for thread in threads.values():
        thread.start()
    deadline = time.monotonic() + 60
    while len(threads["node-a"].acked) < KILL_AFTER:
        assert time.monotonic() < deadline, "node a never acknowledged enough mail"
        time.sleep(0.01)
    delivered_before = len(sink.messages)
    nodes["node-a"].kill_all()  # the supervisor and its workers, SIGKILL at once
    in_flight = leased_by(pg_url, "node-a")  # its leases, read before they can expire
    for thread in threads.values():
        thread.join(60)
        assert not thread.is_alive()

    acked = set(threads["node-a"].acked) | set(threads["node-b"].acked)
    deadline = time.monotonic() + SETTLE
    while not acked <= set(subjects_at(sink)):
        assert time.monotonic() < deadline, f"lost: {sorted(acked - set(subjects_at(sink)))}"
        time.sleep(0.1)
    time.sleep(LEASE + 1.0)  # anything still leased to node a would go out again by now

    received = Counter(subjects_at(sink))
    duplicates = {subject: n - 1 for subject, n in received.items() if n > 1}
    sent = {f"{name}-{n}" for name in threads for n in range(PER_NODE)}
    assert set(received) <= sent, "nothing the sink got was invented"
    assert set(duplicates) <= in_flight, "a duplicate whose attempt was not in flight"
    events = [
        json.loads(line)
        for line in cli(configs["node-b"], "events", "--json", "--limit", "5000").splitlines()
    ]
    deliveries = Counter(e["message_id"] for e in events if e["type"] == "delivery")
    injections = {e["message_id"] for e in events if e["type"] == "injection"}
    assert set(deliveries) == injections, "every queued message delivered, with its event"
    assert max(deliveries.values()) == 1, "one delivery event per delivered message"
    assert len(deliveries) == len(received), "one event per message the sink got"
    listing = json.loads(cli(configs["node-b"], "queue", "list", "--json", "--limit", "5000"))
    assert Counter(row["state"] for row in listing) == {"done": len(received)}
    print(
        f"\nkill -9 of node-a after {delivered_before} deliveries; acknowledged "
        f"{len(threads['node-a'].acked)} by node-a, {len(threads['node-b'].acked)} by node-b "
        f"({len(threads['node-a'].failed)} refused after the kill); node-a held "
        f"{len(in_flight)} leases at the kill; delivered {len(received)} messages, "
        f"{sum(duplicates.values())} duplicate(s) {sorted(duplicates)}; "
        f"{sum(deliveries.values())} delivery events; delivered per node: {dict(senders(sink))}"
    )
    assert nodes["node-b"].terminate() == ""
