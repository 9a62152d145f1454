"""``sealpost store copy``: a SQLite queue moved to a real PostgreSQL database (and back)
reads the same through every store contract; a non-empty target and ``memory://`` are
refused; the CLI's exit codes and ``--json``."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.document import Document
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.events import EventRecord
from sealpost.model.grants import ALL_GRANTS
from sealpost.model.ids import new_message_id
from sealpost.model.node import NodeRecord
from sealpost.model.queue import RecipientResult, Submitted
from sealpost.model.received_report import ReceivedReport, ReportQuery, ReportSource
from sealpost.model.suppression import (
    Suppression,
    SuppressionQuery,
    SuppressionSource,
    SuppressionType,
)
from sealpost.model.tls_memory import FetchHoldoff
from sealpost.model.webhook_delivery import BatchStatus, DeliveryState, FailureCode, PendingBatch
from sealpost.store import open_store
from sealpost.store.contracts import Store
from sealpost.store.copy import CopyRefused, copy_store
from sealpost.store.copy_ends import BATCH
from sealpost.store.errors import StoreError

T0 = 1_700_000_000.0
DATA = b"Subject: hi\r\n\r\n" + bytes(range(256)) + b"\r\n"
KEY = ApiKeyRecord("0123abcd", "ci", b"s" * 16, b"d" * 32, T0, grants=frozenset(ALL_GRANTS))
REVOKED = ApiKeyRecord("89abcdef", "old", b"t" * 16, b"e" * 32, T0 + 1)
HOOK_STATE = DeliveryState(
    "w1",
    since=T0,
    cursor=3,
    pending=PendingBatch("b2", 5, 2, 1, T0 + 3, T0 + 13),
    last_failure=T0 + 3,
    history=(BatchStatus("b1", T0 + 2, 1, 503, FailureCode.HTTP_STATUS, 12),),
)
HOLDOFF = FetchHoldoff("id-1", T0 + 10_000, "sts-webpki-invalid", "HTTPS: bad certificate")
SUPPRESSED = Suppression(
    "gone@example.test",
    SuppressionType.NON_TRANSACTIONAL,
    SuppressionSource.BOUNCE_RULE,
    "550: 550 5.1.1 no such user",
    T0,
    T0 + 7,
)
STS = {"mode": "enforce", "mx": ["mx.example.test"], "max_age": 86400, "id": "20240101"}


def message(*recipients: str) -> InboundMessage:
    return InboundMessage(
        envelope=Envelope(mail_from="sender@example.test", recipients=recipients),
        session=SessionInfo(listener="smtp", client_ip="127.0.0.1", client_port=40000),
        data=DATA,
        extra_headers=("X-One: 1",),
    )


def event(kind: str, mid: str, rcpt: str | None = None) -> EventRecord:
    return EventRecord(kind, mid, T0, {"type": kind, "message_id": mid}, rcpt)


TLS_REPORT = ReceivedReport(
    id="06h3s89jfhqksjswvwjf",
    organization="Google Inc.",
    report_id="2026-11-30T00:00:00Z_example.test",
    start=T0,
    end=T0 + 86399,
    policy_domains=("a.test", "example.test"),
    successful=2**40,
    failed=2,
    contact_info="smtp-tls-reporting@google.com",
    received_at=T0 + 86400,
    source=ReportSource.MAIL,
    message_id="06h3s89j9wg3fec448yb",
    report_json='{"organization-name":"Google Inc."}',
)


async def fill(store: Store) -> dict[str, str]:
    """Messages in every state (one still leased), events, keys, a webhook with its delivery
    state, a sending domain, a cached MTA-STS policy, the TLS memory, a received TLS-RPT
    report, a suppression; the ids by role."""
    ids = {
        role: new_message_id(T0 + i)
        for i, role in enumerate(("retrying", "held", "done", "cancelled", "leased"))
    }
    for role, mid in ids.items():
        state = "held" if role == "held" else "queued"
        rcpts = ("a@example.test", "b@example.test")
        await store.enqueue(mid, message(*rcpts), T0, [event("injection", mid)], state=state)
    claims = {c.message.id: c for c in await store.claim_due(T0 + 1, 10, 60)}
    await store.record_attempt(
        claims[ids["retrying"]],
        [
            RecipientResult("a@example.test", "delivered", "250 ok"),
            RecipientResult("b@example.test", "queued", "451 4.3.0 later"),
        ],
        T0 + 600,
        [
            event("delivery", ids["retrying"], "a@example.test"),
            event("delay", ids["retrying"], "b@example.test"),
        ],
    )
    await store.record_attempt(
        claims[ids["done"]],
        [
            RecipientResult("a@example.test", "delivered", "250 ok"),
            RecipientResult("b@example.test", "bounced", "550 no such user"),
        ],
        T0 + 600,
    )
    await store.release(claims[ids["cancelled"]])
    await store.cancel(ids["cancelled"])  # "leased" keeps its lease: the server was killed
    await store.add_key(KEY)
    await store.add_key(REVOKED)
    await store.revoke_key(REVOKED.id, T0 + 5)
    await store.put_document(Document("webhook", "w1", {"name": "hook", "target": "x"}, T0))
    await store.put_webhook_state(HOOK_STATE, T0 + 4)
    await store.put_document(Document("sending_domain", "example.test", {"dkim": "k"}, T0))
    await store.put_dkim_key("example.test", "s1", b"SPK1 sealed \x00\xff", T0)
    await store.put_policy("sts:example.test", STS)
    await store.remember_broken_tls("mx.bad.test", 25, T0 + 10_000, T0)
    await store.hold_sts_fetch("bad.test", HOLDOFF, T0)
    await store.add_received_report(TLS_REPORT)
    await store.put_suppressions([SUPPRESSED])
    return ids


async def snapshot(store: Store, ids: dict[str, str]) -> dict[str, Any]:
    """What the contracts return for everything ``fill`` wrote."""
    return {
        "messages": [await store.get(mid) for mid in ids.values()],
        "list": await store.list(limit=100),
        "count": await store.count(),
        "events": await store.list_events(limit=1000),
        "keys": await store.list_keys(),
        "key": await store.find_key(KEY.id),
        "webhooks": await store.list_documents("webhook"),
        "hook_state": await store.get_webhook_state("w1"),
        "domains": await store.list_documents("sending_domain"),
        "dkim_keys": await store.dkim_keys(),
        "policy": await store.get_policy("sts:example.test"),
        "broken": await store.broken_tls_until("mx.bad.test", 25, T0 + 1),
        "holdoff": await store.sts_fetch_holdoff("bad.test", T0 + 1),
        "tls_reports": await store.list_received_reports(ReportQuery()),
        "suppressions": await store.search_suppressions(SuppressionQuery()),
    }


async def filled_sqlite(path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    async with open_store(f"sqlite:///{path}") as store:
        ids = await fill(store)
        return ids, await snapshot(store, ids)


async def read(url: str, ids: dict[str, str]) -> tuple[dict[str, Any], Store]:
    store = open_store(url, node_id="copy-test")
    await store.open()
    return await snapshot(store, ids), store


def test_sqlite_queue_reads_the_same_on_postgres_and_back(tmp_path: Path, pg_url: str):
    source = tmp_path / "queue.db"

    async def main() -> None:
        ids, before = await filled_sqlite(source)
        assert before["count"] == {"queued": 2, "held": 1, "done": 1, "cancelled": 1}
        report = await copy_store(f"sqlite:///{source}", pg_url)
        assert report.ok and {c.table: c.target for c in report.counts}["messages"] == 5
        after, target = await read(pg_url, ids)
        try:
            assert after == before
            # the lease did not travel: the "leased" message is due on the target at once
            claimed = await target.claim_due(T0 + 2, 10, 60)
            assert [c.message.id for c in claimed] == [ids["leased"]]
            # new events continue after the copied ones
            await target.add_events([event("delivery", ids["leased"])])
            newest = (await target.list_events(limit=1000))[-1]
            assert newest.event_id == before["events"][-1].event_id + 1
        finally:
            await target.close()
        back = tmp_path / "back.db"
        assert (await copy_store(pg_url, f"sqlite:///{back}")).ok
        async with open_store(f"sqlite:///{back}") as store:
            again = await snapshot(store, ids)
        assert again["messages"][:4] == before["messages"][:4]
        assert again["events"][:-1] == before["events"]
        assert again["keys"] == before["keys"] and again["hook_state"] == HOOK_STATE
        assert again["tls_reports"] == before["tls_reports"] == [TLS_REPORT]
        assert again["suppressions"] == before["suppressions"] == [SUPPRESSED]

    asyncio.run(main())


def test_a_target_that_is_not_empty_is_refused_and_left_alone(tmp_path: Path, pg_url: str):
    source = tmp_path / "queue.db"

    async def main() -> None:
        ids, before = await filled_sqlite(source)
        assert (await copy_store(f"sqlite:///{source}", pg_url)).ok
        async with open_store(f"sqlite:///{source}") as store:
            await store.put_policy("sts:other.test", STS)
        with pytest.raises(CopyRefused, match="not empty"):
            await copy_store(f"sqlite:///{source}", pg_url)
        after, target = await read(pg_url, ids)
        await target.close()
        assert after == before

    asyncio.run(main())


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sealpost", "store", "copy", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_cli_copies_with_json_and_exits_1_when_refused(tmp_path: Path, pg_url: str):
    source = tmp_path / "queue.db"
    asyncio.run(filled_sqlite(source))
    done = cli("--from", f"sqlite:///{source}", "--to", pg_url, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True
    counts = {c["table"]: (c["source"], c["target"]) for c in result["counts"]}
    assert counts["messages"] == (5, 5) and counts["recipients"] == (10, 10)
    assert counts["api_keys"] == (2, 2) and counts["policies"] == (1, 1)

    again = cli("--from", f"sqlite:///{source}", "--to", pg_url, "--json")
    assert again.returncode == 1
    assert json.loads(again.stdout) == {"ok": False, "error": json.loads(again.stdout)["error"]}
    assert "not empty" in again.stderr

    memory = cli("--from", f"sqlite:///{source}", "--to", "memory://")
    assert memory.returncode == 1 and "memory://" in memory.stderr

    table = cli("--from", f"sqlite:///{source}", "--to", f"sqlite:///{tmp_path / 'copy.db'}")
    assert table.returncode == 0, table.stderr
    assert "counts match" in table.stdout and "messages" in table.stdout


def test_more_messages_than_one_batch_all_arrive(tmp_path: Path, pg_url: str):
    source = tmp_path / "queue.db"
    many = BATCH * 2 + 7  # three read batches, the last one short

    async def main() -> None:
        async with open_store(f"sqlite:///{source}") as store:
            items = [
                Submitted(new_message_id(T0 + i), message("a@example.test")) for i in range(many)
            ]
            await store.enqueue_batch(items, T0)
            first, last = (
                await store.get(items[0].message_id),
                await store.get(items[-1].message_id),
            )
        seen: list[int] = []
        report = await copy_store(
            f"sqlite:///{source}",
            pg_url,
            progress=lambda t, done, total: seen.append(done) if t.name == "messages" else None,
        )
        assert report.ok and seen == [0, BATCH, 2 * BATCH, many]
        async with open_store(pg_url, node_id="copy-test") as target:
            assert (await target.count())["queued"] == many
            assert await target.get(items[0].message_id) == first
            assert await target.get(items[-1].message_id) == last

    asyncio.run(main())


def test_a_row_the_target_refuses_leaves_the_target_empty(tmp_path: Path, pg_url: str):
    source = tmp_path / "queue.db"
    asyncio.run(filled_sqlite(source))
    raw = sqlite3.connect(source)  # SQLite keeps any text; PostgreSQL's json does not
    with raw:
        raw.execute("UPDATE events SET fields = 'not json' WHERE event_id = 3")
    raw.close()
    with pytest.raises(StoreError, match="copying events failed"):
        asyncio.run(copy_store(f"sqlite:///{source}", pg_url))

    async def target_count() -> dict[str, int]:
        async with open_store(pg_url, node_id="copy-test") as target:
            return await target.count()

    assert asyncio.run(target_count()) == {"queued": 0, "held": 0, "done": 0, "cancelled": 0}


def test_a_postgresql_store_with_a_live_node_is_refused(tmp_path: Path, pg_url: str):
    async def main() -> None:
        async with open_store(pg_url, node_id="mx-a") as store:
            await store.enqueue(new_message_id(T0), message("a@example.test"), T0)
            now = time.time()
            await store.register_node(NodeRecord("mx-a", "run-1", "host", 1, now, now), 30.0)
        with pytest.raises(CopyRefused, match="stop every server first"):
            await copy_store(pg_url, f"sqlite:///{tmp_path / 'copy.db'}")

    asyncio.run(main())
