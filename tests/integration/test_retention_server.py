"""The running server's purger (primary process): events older than ``[retention]
event_days``, final messages older than ``message_days`` and transmission records older
than ``transmission_days`` go (not one still scheduled), recent ones stay, and on a new
SQLite file the freed pages go back to the file system."""

from __future__ import annotations

import asyncio
import os
import time

from sealpost.model.document import Document
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.events import EventQuery, EventRecord
from sealpost.model.ids import new_message_id
from sealpost.model.queue import RecipientResult
from sealpost.model.retention import DAY
from sealpost.store import open_store


def test_the_server_purges_what_retention_says_and_the_file_shrinks(start_server, tmp_path):
    now = time.time()
    old = now - 5 * DAY

    async def fill() -> int:
        store = open_store("sqlite:///var/queue.db", base_dir=tmp_path)
        await store.open()
        for i in range(10):
            mid = new_message_id(old + i)
            msg = InboundMessage(
                envelope=Envelope(mail_from="a@sender.test", recipients=("x@remote.test",)),
                session=SessionInfo(listener="api", client_ip="127.0.0.1", client_port=1),
                data=os.urandom(100_000),
            )
            await store.enqueue(mid, msg, old, [EventRecord("injection", mid, old, {})])
            [claim] = await store.claim_due(old, 1, 60)
            await store.record_attempt(claim, [RecipientResult("x@remote.test", "delivered")], old)
        await store.add_events([EventRecord("delivery", "recent", now, {})])
        sent = {"state": "Success", "not_before": None}
        await store.put_document(Document("transmission", "1", sent, old))
        waiting = {"state": "submitted", "not_before": now + DAY}
        await store.put_document(Document("transmission", "2", waiting, old))
        pages = (await store.storage_facts())["page_count"]
        await store.close()
        return int(pages)

    pages_before = asyncio.run(fill())  # the server's first round runs as it starts
    server = start_server(tables={"retention": {"event_days": 2.0, "message_days": 1.0}})
    store = server.app.store
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the pages go back after the batch that freed them
        left = server.call(lambda: store.count_events(EventQuery()))
        pages = server.call(store.storage_facts)["page_count"]
        records = server.call(lambda: store.list_documents("transmission"))
        if (
            left == 1
            and server.call(store.count)["done"] == 0
            and pages < pages_before / 2
            and len(records) == 1
        ):
            break
        time.sleep(0.05)
    assert server.call(lambda: store.count_events(EventQuery())) == 1, "the recent event stays"
    assert server.call(store.count)["done"] == 0
    records = server.call(lambda: store.list_documents("transmission"))
    assert [d.id for d in records] == ["2"], "the old record goes, the scheduled one stays"
    facts = server.call(store.storage_facts)
    assert facts["auto_vacuum"] == "incremental"
    assert facts["page_count"] < pages_before / 2
