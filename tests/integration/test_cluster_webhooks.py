"""Cluster mode (issue 13): a webhook's batches go out once per event across the cluster.

Two real ``sealpost serve`` nodes on one PostgreSQL database (``tests/fixtures/postgres.py``)
both run a webhook worker and follow one webhook, whose target is the real HTTPS receiver of
``tests/fixtures/webhook_receiver.py``. Mail flows in through both nodes and out to the SMTP
sink; every injection and delivery event must reach the receiver exactly once, because only
the node holding the webhook's lease (``webhook_leases``) sends its batches. Without the lease
both nodes read the same cursor and POST the same events. A lease left by a dead node stops
every other worker until it expires, then one takes over, and a worker that stops gives its
lease back. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import asyncpg

from sealpost.dns.dnspython_resolver import DnspythonResolver
from sealpost.model.document import Document
from sealpost.model.events import EventRecord
from sealpost.model.ids import new_message_id
from sealpost.net.egress import EgressGuard
from sealpost.store.postgres import PostgresStore
from sealpost.webhooks import definition
from sealpost.webhooks.definition import Webhook
from sealpost.webhooks.worker import WebhookWorker, WorkerSettings
from tests.fixtures.webhook_receiver import (  # noqa: F401 (fixture)
    WebhookReceiver,
    webhook_receiver_fixture,
)
from tests.integration.test_cluster import (
    PROMPT,
    inbound,
    node_config,
    send,
    wait_for,
)
from tests.support import API_LOOPBACK_TARGETS, Pki

MESSAGES = 20  # half through each node


def create_webhook(url: str, target: str) -> None:
    """The webhook document, written straight into the shared database before the nodes
    start (the API would do the same through either node)."""

    async def main() -> None:
        store = PostgresStore(url, node_id="admin")
        await store.open()
        try:
            hook = Webhook("hook-1", "cluster", target, created_at=time.time() - 60)
            await store.put_document(Document(definition.KIND, hook.id, hook.to_payload()))
        finally:
            await store.close()

    asyncio.run(main())


def lease_holders(url: str) -> list[str]:
    async def main() -> list[str]:
        conn = await asyncpg.connect(url)
        try:
            return [r[0] for r in await conn.fetch("SELECT node FROM webhook_leases")]
        finally:
            await conn.close()

    return asyncio.run(main())


def test_each_event_reaches_the_webhook_once_across_two_nodes(
    tmp_path: Path, pki: Pki, pg_url: str, smtp_sink, spawn, webhook_receiver: WebhookReceiver
) -> None:
    sink = smtp_sink()
    create_webhook(pg_url, webhook_receiver.url())
    nodes = {
        name: spawn(
            node_config(
                tmp_path / name,
                pki,
                pg_url,
                sink,
                name,
                delivery={"ca_file": str(webhook_receiver.ca_file)},
                extra={"api": API_LOOPBACK_TARGETS},
            )
        )
        for name in ("node-a", "node-b")
    }
    # A slow receiver holds each POST open: a second sender would find the batch pending and
    # due meanwhile and POST it too. Mail comes in waves, so there are several batches.
    webhook_receiver.delay = 0.5
    time.sleep(0.5)
    for n in range(MESSAGES):
        name = "node-a" if n % 2 == 0 else "node-b"
        send(nodes[name].ports["mx"], [f"{name}-{n}"])
        if n % 5 == 4:
            time.sleep(1.0)
    wait_for(sink, MESSAGES, PROMPT)
    expected = 2 * MESSAGES  # an injection and a delivery event per message
    webhook_receiver.wait_for(lambda r: len(r.events(accepted=True)) >= expected, timeout=30)
    time.sleep(3.0)  # several poll intervals: a second sender would POST again now
    events = webhook_receiver.events()
    ids = Counter(e["event_id"] for e in events)
    repeated = {event_id: n for event_id, n in ids.items() if n > 1}
    assert not repeated, f"events POSTed more than once: {repeated}"
    assert len(webhook_receiver.batches()) > 1
    assert Counter(e["type"] for e in events) == {"injection": MESSAGES, "delivery": MESSAGES}
    assert len(lease_holders(pg_url)) == 1, "one node holds the webhook's cursor"
    print(
        f"\n{len(events)} events in {len(webhook_receiver.batches())} batches, each once; "
        f"lease held by {lease_holders(pg_url)}"
    )
    for server in nodes.values():
        assert server.terminate() == ""
    assert lease_holders(pg_url) == [], "a node that stops gives its lease back"


def test_a_dead_holders_lease_is_taken_over_once_it_expires(
    pg_url: str, webhook_receiver: WebhookReceiver, dns_server
) -> None:
    """A node died holding the webhook's lease (for ``DEAD_FOR`` more seconds). Node b's
    worker sends nothing until that lease expired, then takes over and delivers the events;
    when it stops it gives the lease back."""
    dead_for = 2.0
    create_webhook(pg_url, webhook_receiver.url())
    settings = WorkerSettings(poll_interval=0.1, lease_recheck=0.2)

    async def main() -> tuple[float, float]:
        dead, b = PostgresStore(pg_url, node_id="dead"), PostgresStore(pg_url, node_id="b")
        await dead.open()
        await b.open()
        try:
            now = time.time()
            assert await dead.lease_webhook("hook-1", now, dead_for)
            expires = time.monotonic() + dead_for
            for n in range(3):
                mid = new_message_id(now + n)
                injected = EventRecord("injection", mid, now, {"rcpt_to": "u@example.test"})
                await b.enqueue(mid, inbound("u@example.test"), now, [injected])
            resolver = DnspythonResolver([dns_server.nameserver], timeout=2, lifetime=4)
            guard = EgressGuard(resolver, API_LOOPBACK_TARGETS["allowed_private_targets"])
            worker = WebhookWorker(
                b, guard=guard, ca_file=webhook_receiver.ca_file, settings=settings
            )
            worker.start()
            try:
                deadline = time.monotonic() + dead_for + 10
                while len(webhook_receiver.events(accepted=True)) < 3:
                    assert time.monotonic() < deadline, "never taken over"
                    await asyncio.sleep(0.02)
                early = expires - time.monotonic()  # > 0: sent while the dead lease stood
                late = -early
            finally:
                await worker.stop()
            return early, late
        finally:
            await dead.close()
            await b.close()

    early, late = asyncio.run(main())
    assert early <= 0, f"sent {early:.2f} s before the dead node's lease expired"
    assert late < 2.0, f"taken over {late:.2f} s after expiry"
    assert len(webhook_receiver.events()) == 3
    assert lease_holders(pg_url) == [], "the worker gave its lease back when it stopped"
