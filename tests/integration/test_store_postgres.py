"""PostgreSQL store specifics, on a real server (issue 13 items 1, 2 and 5): two store
instances on one database are two nodes; their leases, wake-ups, migrations, durability
setting, group commit and event order.

The contracts every backend shares are in ``tests/conformance`` (run there on PostgreSQL
too); this file holds what only a database shared by several nodes has.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import smtplib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from sealpost.model.document import Document
from sealpost.model.events import EventRecord
from sealpost.model.queue import RecipientResult, Submitted
from sealpost.store import open_store
from sealpost.store.errors import LeaseLostError, StoreError
from sealpost.store.postgres import PostgresStore
from sealpost.store.postgres import schema as pg_schema
from tests.conformance.test_queue_store import T0, ids, message
from tests.support import make_pki, write_config


@asynccontextmanager
async def nodes(url: str, *names: str, **options: Any) -> AsyncIterator[list[PostgresStore]]:
    """One open store per name: nodes of one cluster sharing the database at ``url``."""
    stores = [PostgresStore(url, node_id=name, **options) for name in names]
    for store in stores:
        await store.open()
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(main())


async def fetch(url: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


# --- leases across nodes --------------------------------------------------------------------
def test_domain_slots_are_counted_across_nodes_and_a_restart_frees_only_its_own(pg_url):
    """Issue 13: per_domain_concurrency holds cluster-wide: two nodes together hold at most
    ``limit`` slots of a domain, even asking at once; a node that starts again gives back
    the slots its previous run held, not the other node's."""

    async def main() -> None:
        async with nodes(pg_url, "node-a", "node-b") as (a, b):
            for n in range(10):  # both ask for 3 slots each, at once, of a 4-slot domain
                domain = f"race-{n}.test"
                got = await asyncio.gather(
                    *(node.take_domain_slot(domain, 4, T0, 60) for node in (a, b, a, b, a, b))
                )
                held = [slot for slot in got if slot is not None]
                assert 1 <= len(held) <= 4
                assert len({slot.index for slot in held}) == len(held), "never one slot twice"
            assert await a.take_domain_slot("x.test", 2, T0, 60) is not None
            assert await b.take_domain_slot("x.test", 2, T0, 60) is not None
            assert await a.take_domain_slot("x.test", 2, T0, 60) is None, "full across nodes"
            await b.release_all_leases()  # node-b restarts: its slot of x.test is free
            assert await a.take_domain_slot("x.test", 2, T0, 60) is not None
            assert await b.take_domain_slot("x.test", 2, T0, 60) is None, "a's slots stay"

    run(main)


def test_one_node_at_a_time_holds_a_webhook_lease_and_takes_it_over_after_expiry(pg_url):
    """Issue 13: a webhook's cursor is leased to one node; the other gets it only once the
    lease expired or was given back, and two nodes asking at once never both get it."""

    async def main() -> None:
        async with nodes(pg_url, "node-a", "node-b") as (a, b):
            assert await a.lease_webhook("w1", T0, 60) is True
            assert await b.lease_webhook("w1", T0 + 1, 60) is False, "a's lease is live"
            assert await a.lease_webhook("w1", T0 + 50, 60) is True, "a renews: until T0+110"
            assert await b.lease_webhook("w1", T0 + 100, 60) is False
            assert await b.lease_webhook("w1", T0 + 110, 60) is True, "taken over at expiry"
            assert await a.lease_webhook("w1", T0 + 111, 60) is False, "now b's"
            await a.release_webhook("w1")  # not a's: nothing happens
            assert await a.lease_webhook("w1", T0 + 112, 60) is False
            await b.release_webhook("w1")
            assert await a.lease_webhook("w1", T0 + 113, 60) is True, "given back: a at once"
            rows = await fetch(pg_url, "SELECT node FROM webhook_leases WHERE webhook_id = 'w1'")
            assert [r[0] for r in rows] == ["node-a"]
            # Both ask for a free lease at the same moment, 20 times: exactly one wins each.
            for n in range(20):
                got = await asyncio.gather(
                    a.lease_webhook(f"race-{n}", T0, 60), b.lease_webhook(f"race-{n}", T0, 60)
                )
                assert sorted(got) == [False, True]

    run(main)


def test_leases_carry_the_node_id_and_a_node_releases_only_its_own(pg_url):
    async def main() -> None:
        async with nodes(pg_url, "node-a", "node-b") as (a, b):
            first, second, third = ids(3)
            for mid in (first, second, third):
                await a.enqueue(mid, message(), T0)
            [claim_a] = await a.claim_due(T0, 1, 600)
            [claim_b] = await b.claim_due(T0, 1, 600)
            rows = await fetch(pg_url, "SELECT id, lease_node FROM messages ORDER BY id")
            assert [tuple(r) for r in rows] == [
                (first, "node-a"),
                (second, "node-b"),
                (third, None),
            ]
            # node-b restarts: it gives back its own lease only; node-a's stays live.
            assert await b.release_all_leases() == 1
            again = await b.claim_due(T0 + 1, 10, 600)
            assert sorted(c.message.id for c in again) == [second, third]
            assert claim_a.message.id == first and claim_b.message.id == second
            await a.record_attempt(claim_a, [RecipientResult("a@example.test", "delivered")], T0)

    run(main)


def test_a_worker_releases_its_own_leases_and_the_node_releases_every_workers(pg_url):
    """``[server] workers``: each worker's leases and domain slots carry ``node/seat``; a
    restarted worker gives back its seat's only, the node's start gives back all of them,
    and another node whose id begins the same is left alone."""

    async def main() -> None:
        stores = [
            PostgresStore(pg_url, node_id="node-a", worker=0),
            PostgresStore(pg_url, node_id="node-a", worker=1),
            PostgresStore(pg_url, node_id="node-a"),
            PostgresStore(pg_url, node_id="node-ab"),
        ]
        for store in stores:
            await store.open()
        w0, w1, whole, other = stores
        try:
            for mid in ids(4):
                await w0.enqueue(mid, message(), T0)
            for store in (w0, w1, other):
                assert len(await store.claim_due(T0, 1, 600)) == 1
                assert await store.take_domain_slot("x.test", 5, T0, 600) is not None
            rows = await fetch(pg_url, "SELECT lease_node FROM messages ORDER BY id")
            assert [r[0] for r in rows] == ["node-a/0", "node-a/1", "node-ab", None]
            slots = await fetch(pg_url, "SELECT node FROM domain_slots ORDER BY node")
            assert [r[0] for r in slots] == ["node-a/0", "node-a/1", "node-ab"]
            assert await w1.release_own_leases() == 1  # worker 1 was restarted
            rows = await fetch(pg_url, "SELECT lease_node FROM messages ORDER BY id")
            assert [r[0] for r in rows] == ["node-a/0", None, "node-ab", None]
            assert await whole.release_all_leases() == 1  # the node starts again: worker 0's
            rows = await fetch(pg_url, "SELECT lease_node FROM messages ORDER BY id")
            assert [r[0] for r in rows] == [None, None, "node-ab", None]
            slots = await fetch(pg_url, "SELECT node FROM domain_slots")
            assert [r[0] for r in slots] == ["node-ab"]
        finally:
            for store in stores:
                await store.close()

    run(main)


def test_an_expired_lease_of_another_node_is_taken_over(pg_url):
    async def main() -> None:
        async with nodes(pg_url, "node-a", "node-b") as (a, b):
            [mid] = ids(1)
            await a.enqueue(mid, message(), T0)
            [held] = await a.claim_due(T0, 10, 60)  # node-a dies holding it
            assert await b.release_all_leases() == 0
            assert await b.claim_due(T0 + 60, 10, 60) == []  # still live
            [taken] = await b.claim_due(T0 + 61, 10, 60)
            assert taken.message.id == mid and taken.token != held.token
            [row] = await fetch(pg_url, "SELECT lease_node FROM messages")
            assert row[0] == "node-b"
            done = [RecipientResult("a@example.test", "delivered")]
            with pytest.raises(LeaseLostError):  # node-a comes back too late
                await a.record_attempt(held, done, T0 + 70)
            await b.record_attempt(taken, done, T0 + 70)
            assert (await a.get(mid)).recipients[0].status == "delivered"

    run(main)


def test_two_nodes_claiming_at_once_never_share_a_message(pg_url):
    """SKIP LOCKED: concurrent claims from two nodes split the queue, none waits or doubles."""

    async def main() -> None:
        async with nodes(pg_url, "node-a", "node-b") as (a, b):
            all_ids = ids(300)
            for start in range(0, 300, 100):
                batch = [Submitted(mid, message()) for mid in all_ids[start : start + 100]]
                await a.enqueue_batch(batch, T0)
            claims = await asyncio.gather(
                *(node.claim_due(T0, 7, 600) for _ in range(25) for node in (a, b))
            )
            claimed = [c.message.id for batch in claims for c in batch]
            assert len(claimed) == len(set(claimed)) == 300
            assert {c.message.id for c in claims[0]} <= set(all_ids)

    run(main)


# --- LISTEN/NOTIFY --------------------------------------------------------------------------
def test_an_enqueue_on_one_node_wakes_the_other(pg_url):
    async def main() -> None:
        async with nodes(pg_url, "node-a", "node-b") as (a, b):
            assert await a.wait_for_mail(0.05) is False  # a listens from now on
            waiter = asyncio.create_task(a.wait_for_mail(10))
            await asyncio.sleep(0.1)
            assert not waiter.done()
            started = time.monotonic()
            await b.enqueue("m1", message(), T0)
            assert await asyncio.wait_for(waiter, 5) is True
            assert time.monotonic() - started < 2  # woken, not timed out
            assert await a.wait_for_mail(0.05) is False

    run(main)


def test_a_failed_enqueue_wakes_nobody(pg_url):
    async def main() -> None:
        async with nodes(pg_url, "node-a", "node-b") as (a, b):
            await b.enqueue("m1", message(), T0)
            await a.wait_for_mail(0.05)  # listening; drain anything so far
            with pytest.raises(StoreError):
                await b.enqueue("m1", message(), T0)  # duplicate: nothing committed
            assert await a.wait_for_mail(0.3) is False

    run(main)


# --- migrations -----------------------------------------------------------------------------
def test_two_nodes_starting_together_migrate_once(pg_fresh_database):
    """Concurrent migrators queue on the advisory lock: one applies, the others find it done."""

    async def main() -> None:
        stores = [PostgresStore(pg_fresh_database, node_id=f"n{i}") for i in range(4)]
        await asyncio.gather(*(s.open() for s in stores))
        try:
            found = sorted(s.migrated for s in stores)
            newest = pg_schema.NEWEST
            assert found == [(0, newest)] + [(newest, newest)] * 3
            rows = await fetch(pg_fresh_database, "SELECT version FROM schema_version")
            assert sorted(r[0] for r in rows) == [v for v, _ in pg_schema.MIGRATIONS]
            await stores[0].enqueue("m1", message(), T0)
            assert (await stores[3].get("m1")) is not None
        finally:
            await asyncio.gather(*(s.close() for s in stores))

    run(main)


def test_a_version_1_database_is_migrated_to_hold_mail(pg_fresh_database):
    """Version 2 widens the state CHECK in place for 'held'; a node at start applies it."""

    async def main() -> None:
        conn = await asyncpg.connect(pg_fresh_database)
        async with conn.transaction():
            await conn.execute(pg_schema.sql.CREATE_VERSION_TABLE)
            for statement in pg_schema.MIGRATIONS[0][1]:
                await conn.execute(statement)
            await conn.execute(pg_schema.sql.INSERT_VERSION, 1)
        await conn.close()
        async with nodes(pg_fresh_database, "n1") as (store,):
            assert store.migrated == (1, pg_schema.NEWEST)
            await store.enqueue("m1", message(), T0, state="held")
            assert (await store.get("m1")).state == "held"
            assert await store.claim_due(T0 + 1, 10, 60) == []

    run(main)


def test_a_node_that_may_not_migrate_refuses_an_old_schema(pg_fresh_database):
    async def main() -> None:
        store = PostgresStore(pg_fresh_database, migrate=False)
        with pytest.raises(StoreError, match="store migrate"):
            await store.open()

    run(main)


def test_a_schema_newer_than_the_code_is_refused(pg_fresh_database):
    async def main() -> None:
        async with nodes(pg_fresh_database, "n1"):
            pass
        conn = await asyncpg.connect(pg_fresh_database)
        await conn.execute("INSERT INTO schema_version VALUES ($1)", pg_schema.NEWEST + 1)
        await conn.close()
        with pytest.raises(StoreError, match="newer than this Sealpost"):
            await PostgresStore(pg_fresh_database).open()

    run(main)


def test_store_migrate_command_on_postgres_and_sqlite(pg_fresh_database, tmp_path: Path):
    pki = make_pki(tmp_path / "pki")

    def migrate(store_url: str, directory: Path) -> dict[str, int]:
        directory.mkdir()
        config = write_config(directory, pki, store_url=store_url)
        done = subprocess.run(
            [sys.executable, "-m", "sealpost", "store", "migrate", "-c", str(config), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, int] = json.loads(done.stdout)
        return result

    assert migrate(pg_fresh_database, tmp_path / "pg") == {"found": 0, "now": pg_schema.NEWEST}
    again = migrate(pg_fresh_database, tmp_path / "pg2")
    assert again == {"found": pg_schema.NEWEST, "now": pg_schema.NEWEST}
    sqlite = migrate("sqlite:///var/queue.db", tmp_path / "lite")
    assert sqlite["found"] == 0 and sqlite["now"] >= 6


# --- durability and group commit ------------------------------------------------------------
def test_the_writer_commits_synchronously_even_when_the_database_says_otherwise(pg_url):
    async def main() -> None:
        name = pg_url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(pg_url)
        await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        await conn.close()
        try:
            async with nodes(pg_url, "n1") as (store,):
                writer_conn = store._writer._conn
                assert await writer_conn.fetchval("SHOW synchronous_commit") == "on"
        finally:
            conn = await asyncpg.connect(pg_url)
            await conn.execute(f'ALTER DATABASE "{name}" RESET synchronous_commit')
            await conn.close()

    run(main)


def test_concurrent_enqueues_share_commits(pg_url):
    async def main() -> None:
        async with nodes(pg_url, "n1") as (store,):
            all_ids = ids(200)
            await asyncio.gather(*(store.enqueue(mid, message(), T0) for mid in all_ids))
            assert store.writes == 200
            assert store.commits <= 50, store.commits  # one flush for many callers
            assert (await store.count())["queued"] == 200

    run(main)


def test_one_callers_error_does_not_spoil_its_batch(pg_url):
    async def main() -> None:
        async with nodes(pg_url, "n1") as (store,):
            await store.enqueue("dup", message(), T0)
            results = await asyncio.gather(
                *(store.enqueue(mid, message(), T0) for mid in ["x1", "dup", "x2", "dup"]),
                return_exceptions=True,
            )
            assert [type(r).__name__ for r in results] == [
                "NoneType",
                "DuplicateError",
                "NoneType",
                "DuplicateError",
            ]
            assert (await store.count())["queued"] == 3

    run(main)


def test_a_lost_writer_connection_fails_its_whole_batch_then_reconnects(pg_url):
    """The connection dies mid-batch: every caller of that batch gets a StoreError (never a
    silent success) and nothing of it is stored; the next batch works on a new connection."""

    async def main() -> None:
        async with nodes(pg_url, "n1") as (store,):
            killer = await asyncpg.connect(pg_url)

            async def lose_the_connection(conn: asyncpg.Connection) -> None:
                pid = await conn.fetchval("SELECT pg_backend_pid()")
                await killer.execute("SELECT pg_terminate_backend($1)", pid)
                await conn.execute("SELECT 1")

            results = await asyncio.gather(
                store.enqueue("m1", message(), T0),
                store._write(lose_the_connection),
                return_exceptions=True,
            )
            await killer.close()
            assert [type(r) for r in results] == [StoreError, StoreError]
            await store.enqueue("m2", message(), T0)
            assert await store.get("m1") is None and await store.get("m2") is not None

    run(main)


# --- event order across nodes ---------------------------------------------------------------
def test_event_ids_commit_in_order_across_nodes(pg_url):
    """A transaction holding the events lock (another node's writer mid-batch) makes this
    node's event append wait, so no event with a higher id commits before a lower one."""

    async def main() -> None:
        async with nodes(pg_url, "n1") as (store,):
            other = await asyncpg.connect(pg_url)
            tx = other.transaction()
            await tx.start()
            await other.execute("SELECT pg_advisory_xact_lock($1)", pg_schema.sql.EVENTS_LOCK)
            await other.execute(
                "INSERT INTO events (type, message_id, timestamp, fields) "
                "VALUES ('delivery', 'other', 0, '{}')"
            )
            appending = asyncio.create_task(store.add_events([EventRecord("delivery", "mine", T0)]))
            await asyncio.sleep(0.3)
            assert not appending.done()  # waits for the other node's commit
            await tx.commit()
            await asyncio.wait_for(appending, 5)
            await other.close()
            events = await store.list_events()
            assert [e.message_id for e in events] == ["other", "mine"]

    run(main)


def test_a_batch_takes_the_events_lock_before_any_row_lock(pg_url):
    """The deadlock CI met with two nodes: this node's batch locked a message row, then
    waited for the events lock that another node held while it waited for that row. The
    events lock now comes first in a batch that appends events, so the other node finishes
    and this batch follows; both commit."""

    async def main() -> None:
        async with nodes(pg_url, "n1") as (store,):
            await store.enqueue("m", message(), T0)
            row_locked = asyncio.Event()
            other = await asyncpg.connect(pg_url)
            tx = other.transaction()
            await tx.start()
            await other.execute("SELECT pg_advisory_xact_lock($1)", pg_schema.sql.EVENTS_LOCK)

            async def lock_the_row(conn: asyncpg.Connection) -> None:
                await conn.execute("UPDATE messages SET attempts = attempts + 1 WHERE id = 'm'")
                row_locked.set()

            async def append_an_event(conn: asyncpg.Connection) -> None:
                await conn.execute(
                    "INSERT INTO events (type, message_id, timestamp, fields) "
                    "VALUES ('delivery', 'mine', 0, '{}')"
                )

            batch = asyncio.gather(  # both submitted before the writer runs: one batch
                store._write(lock_the_row), store._write(append_an_event, events=True)
            )
            # The other node: it holds the events lock and needs the row. It waits up to
            # 2 s for this node to lock the row first (what happened before the fix).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(row_locked.wait(), 2)
            await other.execute("UPDATE messages SET attempts = attempts + 10 WHERE id = 'm'")
            await tx.commit()
            await other.close()
            assert await asyncio.wait_for(batch, 10) == [None, None]
            rows = await fetch(pg_url, "SELECT attempts FROM messages WHERE id = 'm'")
            assert rows[0]["attempts"] == 11
            assert store._writer.failed_batches == 0

    run(main)


def test_a_batch_rolled_back_to_break_a_deadlock_is_run_again(pg_url):
    """PostgreSQL breaks a deadlock by rolling one transaction back; when that is the
    writer's batch, the writer runs it again rather than failing every caller in it."""

    async def main() -> None:
        async with nodes(pg_url, "n1") as (store,):
            await store.enqueue("a", message(), T0)
            await store.enqueue("b", message(), T0)
            other = await asyncpg.connect(pg_url)
            tx = other.transaction()
            others: list[asyncio.Task[str]] = []
            runs = 0

            async def later(statement: str) -> str:
                await asyncio.sleep(0.3)  # after the writer began to wait: it is the victim
                return await other.execute(statement)

            async def deadlock_once(conn: asyncpg.Connection) -> None:
                nonlocal runs
                runs += 1
                if runs == 2:  # the other transaction went on once the batch was rolled back
                    await asyncio.wait_for(others[0], 5)
                    await tx.commit()
                await conn.execute("UPDATE messages SET attempts = attempts + 1 WHERE id = 'a'")
                if runs == 1:  # the other holds b, and will wait for a
                    await tx.start()
                    await other.execute("UPDATE messages SET attempts = 100 WHERE id = 'b'")
                    others.append(
                        asyncio.create_task(
                            later("UPDATE messages SET attempts = 100 WHERE id = 'a'")
                        )
                    )
                    await conn.execute("UPDATE messages SET attempts = attempts + 1 WHERE id = 'b'")

            assert await asyncio.wait_for(store._write(deadlock_once), 20) is None
            await other.close()
            rows = await fetch(pg_url, "SELECT id, attempts FROM messages ORDER BY id")
            assert [(r["id"], r["attempts"]) for r in rows] == [("a", 101), ("b", 100)]
            assert runs == 2 and store._writer.failed_batches == 0

    run(main)


# --- claim_due stays on its index -----------------------------------------------------------
def test_claim_due_walks_the_due_index(pg_url):
    async def main() -> None:
        conn = await asyncpg.connect(pg_url)
        await conn.execute(
            "INSERT INTO messages (id, created_at, state, next_attempt_at, mail_from, rcpt_count,"
            " listener, size, envelope, session, data) SELECT 'd' || g, 0, 'done', g, '', 1, "
            "'smtp', 0, '{}', '{}', '' FROM generate_series(1, 20000) g"
        )
        await conn.execute("ANALYZE messages")
        plan = await conn.fetchval(
            "EXPLAIN (FORMAT JSON) " + pg_schema.sql.CLAIM_DUE, T0, 100, T0 + 60, "n1"
        )
        await conn.close()
        assert "messages_due" in json.dumps(json.loads(plan))

    run(main)


def test_open_on_a_closed_port_is_a_store_error_without_the_password():
    async def main() -> None:
        store = open_store("postgresql://sealpost:s3cret@127.0.0.1:9/sealpost")
        with pytest.raises(StoreError) as info:
            await store.open()
        assert "s3cret" not in str(info.value) and "127.0.0.1:9" in str(info.value)

    run(main)


# --- the server on PostgreSQL ---------------------------------------------------------------
def test_the_server_queues_smtp_mail_in_postgres(start_server, pg_url):
    """``store.url = "postgresql://..."`` end to end: a ``250`` over SMTP means a row."""
    server = start_server(store_url=pg_url)
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=20) as client:
        client.ehlo("client.test")
        client.sendmail("a@sender.test", ["you@example.test"], b"Subject: pg\r\n\r\nhello\r\n")
    rows = run(lambda: fetch(pg_url, "SELECT state, mail_from FROM messages"))
    assert [tuple(r) for r in rows] == [("held", "a@sender.test")]  # a local domain: stays
    events = run(lambda: fetch(pg_url, "SELECT type FROM events"))
    assert [r[0] for r in events] == ["injection"]


def test_version_15_marks_held_mail_the_intake_has_not_read(pg_fresh_database):
    """As SQLite's version 17: held mail past the intake's cursor is marked, no other."""

    async def main() -> None:
        async with nodes(pg_fresh_database, "n1") as (store,):
            for mid in ("h1", "h2", "h3"):
                await store.enqueue(mid, message("a@x.test"), T0, state="held")
            await store.enqueue("q1", message("a@x.test"), T0)
            await store.put_document(Document("tlsrpt_intake", "held", {"after": "h1"}, T0))
        conn = await asyncpg.connect(pg_fresh_database)  # as before version 15
        await conn.execute("DROP TABLE tlsrpt_marks")
        await conn.execute("DELETE FROM schema_version WHERE version >= 15")
        await conn.close()
        async with nodes(pg_fresh_database, "n1") as (store,):
            assert await store.list_report_marked() == ["h2", "h3"]

    run(main)
