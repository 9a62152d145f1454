"""Cluster mode (issue 13): a webhook's batches go out once per event across the cluster.

Two real ``sealpost serve`` nodes on one PostgreSQL database (``tests/fixtures/postgres.py``)
both run a webhook worker and follow one webhook, whose target is the real HTTPS receiver of
``tests/fixtures/webhook_receiver.py``. Mail flows in through both nodes and out to the SMTP
sink; every injection and delivery event must reach the receiver exactly once, because only
the node holding the webhook's lease (``webhook_leases``) sends its batches. Without the lease
both nodes read the same cursor and POST the same events. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import asyncpg

from sealpost.model.document import Document
from sealpost.store.postgres import PostgresStore
from sealpost.webhooks import definition
from sealpost.webhooks.definition import Webhook
from tests.fixtures.webhook_receiver import (  # noqa: F401 (fixture)
    WebhookReceiver,
    webhook_receiver_fixture,
)
from tests.integration.test_cluster import (  # noqa: F401 (fixture)
    PROMPT,
    node_config,
    send,
    spawn_fixture,
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
