"""SQLite store specifics: durability, group commit, crash safety, write errors, schema."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

import pytest

from sealpost.api_keys import create_key, generate_key, hash_key, key_id_of, verify_key
from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.document import Document
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.grants import ALL_GRANTS, Grant
from sealpost.model.ids import new_message_id
from sealpost.model.queue import RecipientResult
from sealpost.model.tls_record import Fallback, TlsRecord
from sealpost.model.tlsrpt import TlsFailure
from sealpost.model.webhook_delivery import BatchStatus, DeliveryState, FailureCode, PendingBatch
from sealpost.store import codec
from sealpost.store.errors import DuplicateError, LeaseLostError, StoreError
from sealpost.store.file_modes import loose_modes, queue_files
from sealpost.store.sqlite import SqliteStore
from sealpost.store.sqlite import schema as sqlite_schema
from sealpost.store.sqlite import sql as sqlite_sql

T0 = 1_700_000_000.0


def message(data: bytes = b"Subject: x\r\n\r\nbody\r\n") -> InboundMessage:
    return InboundMessage(
        envelope=Envelope("s@example.test", ("a@example.test", "b@example.test")),
        session=SessionInfo("smtp", "127.0.0.1", 1234, tls=TlsRecord(version="TLSv1.3")),
        data=data,
    )


def run(coro):
    return asyncio.run(coro)


# --- files, schema, pragmas -----------------------------------------------------------------
def test_creates_directories_and_survives_close_and_reopen(tmp_path):
    path = tmp_path / "a" / "b" / "queue.db"
    mid = new_message_id(T0)
    key = ApiKeyRecord("0123abcd", "ci", b"s" * 16, b"d" * 32, T0)

    async def first():
        store = SqliteStore(str(path))
        await store.open()
        await store.open()  # idempotent
        await store.enqueue(mid, message(), T0)
        [claim] = await store.claim_due(T0, 10, 60)
        await store.record_attempt(claim, [RecipientResult("a@example.test", "delivered")], T0)
        await store.add_key(key)
        await store.close()
        await store.close()  # idempotent

    async def second():
        async with SqliteStore(path) as store:
            stored = await store.get(mid)
            assert stored.message == message()
            assert [r.status for r in stored.recipients] == ["delivered", "queued"]
            assert stored.attempts == 1
            assert await store.find_key("0123abcd") == key
            with pytest.raises(DuplicateError):
                await store.enqueue(mid, message(), T0)

    run(first())
    assert path.exists()
    run(second())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        newest = sqlite_schema.MIGRATIONS[-1][0]
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == newest
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_queue_files_are_private_whatever_the_umask(tmp_path):
    """Issue 10 item 6: the data directory is 0700, the database, WAL and SHM 0600."""
    path = tmp_path / "var" / "queue.db"
    old = os.umask(0o022)
    try:

        async def fill():
            async with SqliteStore(path) as store:
                await store.enqueue(new_message_id(T0), message(), T0)
                modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in queue_files(path)}
                assert modes == {
                    "var": 0o700,
                    "queue.db": 0o600,
                    "queue.db-wal": 0o600,
                    "queue.db-shm": 0o600,
                    "queue.db-writer.lock": 0o600,
                    "queue.db-open.lock": 0o600,
                }

        run(fill())
    finally:
        os.umask(old)
    assert loose_modes(queue_files(path)) == []


def test_loose_modes_are_found_with_advice(tmp_path):
    path = tmp_path / "queue.db"
    path.write_bytes(b"")
    os.chmod(path, 0o644)
    os.chmod(tmp_path, 0o755)
    [
        file_,
    ] = [m for m in loose_modes(queue_files(path)) if m.path == path]
    assert "0644" in file_.advice() and f"chmod 600 {path}" in file_.advice()
    assert any(m.path == tmp_path and "chmod 700" in m.advice() for m in loose_modes([tmp_path]))


def test_writer_connection_is_wal_with_full_sync(tmp_path):
    async def scenario():
        async with SqliteStore(tmp_path / "q.db") as store:
            conn = store._conn
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
            assert conn.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY (sub-journal)

    run(scenario())


def test_claim_due_uses_the_due_index(tmp_path):
    async def scenario():
        async with SqliteStore(tmp_path / "q.db") as store:
            plan = store._conn.execute(
                "EXPLAIN QUERY PLAN " + sqlite_sql.SELECT_DUE, (T0, T0, 10)
            ).fetchall()
            details = " ".join(row[-1] for row in plan)
            assert "USING COVERING INDEX messages_due" in details, details
            assert "TEMP B-TREE" not in details  # no sort: rows come in index order

    run(scenario())


def test_claim_due_never_reads_held_rows(tmp_path):
    """Held mail sits in its own range of messages_due: the claim's walk starts at
    ('queued', ...) and reads only queued entries, however many are held."""

    async def scenario():
        async with SqliteStore(tmp_path / "q.db") as store:
            held = [new_message_id(T0) for _ in range(300)]
            await asyncio.gather(*(store.enqueue(m, message(), T0, state="held") for m in held))
            due = new_message_id(T0 + 1)
            await store.enqueue(due, message(), T0 + 1)
            conn = store._conn
            plan = " ".join(
                r[-1]
                for r in conn.execute(
                    "EXPLAIN QUERY PLAN " + sqlite_sql.SELECT_DUE, (T0 + 5, T0 + 5, 10)
                )
            )
            assert "messages_due (state=? AND next_attempt_at<?)" in plan, plan
            # Count the index rows the statement visits (SQLITE_STMTSTATUS_VM_STEP is not in
            # Python; a progress handler every 1 VM op is the honest proxy): the same with
            # 300 held rows as with none.
            steps = [0]

            def tick() -> int:
                steps[0] += 1
                return 0

            conn.set_progress_handler(tick, 1)
            try:
                rows = conn.execute(sqlite_sql.SELECT_DUE, (T0 + 5, T0 + 5, 10)).fetchall()
                with_held = steps[0]
                conn.execute("UPDATE messages SET state = 'done' WHERE state = 'held'")
                steps[0] = 0
                conn.execute(sqlite_sql.SELECT_DUE, (T0 + 5, T0 + 5, 10)).fetchall()
                without = steps[0]
            finally:
                conn.set_progress_handler(None, 1)
            assert len(rows) == 1
            assert with_held == without, (with_held, without)

    run(scenario())


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "q.db"

    async def create():
        async with SqliteStore(path):
            pass

    run(create())
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (99)")

    with pytest.raises(StoreError, match="newer"):
        run(SqliteStore(path).open())


def _schema_at(conn: sqlite3.Connection, newest: int) -> None:
    """The schema as the migrations up to ``newest`` leave it (an older Sealpost's)."""
    conn.execute(sqlite_sql.CREATE_VERSION_TABLE)
    for version, statements in sqlite_schema.MIGRATIONS:
        if version > newest:
            break
        for statement in statements:
            conn.execute(statement)
        conn.execute(sqlite_sql.INSERT_VERSION, (version,))


# Grants added after version 5 that no existing key is given (console/access: none at all).
LATER_GRANTS = frozenset(
    {Grant.TLS_REPORTS_MODIFY, Grant.TLS_REPORTS_VIEW, Grant.CONSOLE_ACCESS, Grant.API_KEYS_MANAGE}
)


def _database_before_grants(path, key: str) -> None:
    """A queue database as today's main leaves it: schema version 4, one key, no grants."""
    salt, digest = hash_key(key)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        _schema_at(conn, 4)
        conn.execute(  # version 4's INSERT_KEY
            "INSERT INTO api_keys (id, label, salt, digest, created_at, revoked_at, "
            "sender_domains) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key[:8], "old", salt, digest, T0, None, "shop.test"),
        )
    finally:
        conn.close()


def test_keys_made_before_grants_keep_working_with_every_grant(tmp_path):
    """Issue 10 item 2: the migration gives every existing key every grant."""
    path = tmp_path / "q.db"
    old = generate_key()
    _database_before_grants(path, old)

    async def scenario():
        async with SqliteStore(path) as store:
            record = await verify_key(store, old)
            assert record is not None and record.label == "old"
            # every grant of version 5; not those that came later (tls_reports/*, version 10)
            assert record.grants == ALL_GRANTS - LATER_GRANTS
            assert record.sender_domains == ("shop.test",)
            new, _ = await create_key(store, "new", T0, grants={Grant.TEMPLATES_VIEW})
            assert (await verify_key(store, new)).grants == {Grant.TEMPLATES_VIEW}

    run(scenario())
    with sqlite3.connect(path) as conn:
        newest = sqlite_schema.MIGRATIONS[-1][0]
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == newest
    # The migration's frozen list is every grant there was; each later grant came with a
    # migration that decided whether old keys get it (version 10: tls_reports/*, they don't;
    # version 12: suppression_lists/view, version 13: queue/view, each to the keys that had
    # the matching manage grant).
    given_later = {Grant.SUPPRESSION_LISTS_VIEW, Grant.QUEUE_VIEW}
    assert set(sqlite_schema.GRANTS_AT_VERSION_5) == {
        g.value for g in ALL_GRANTS - LATER_GRANTS - given_later
    }


# The 'webhook_state' documents exactly as schema version 5 stored them (the payload of
# DeliveryState.to_payload, which this version no longer has).
WEBHOOK_STATE_DOCUMENTS = {
    "w1": {
        "webhook_id": "w1",
        "since": 1.0,
        "cursor": 7,
        "pending": {
            "batch_id": "b3",
            "last_event_id": 9,
            "size": 2,
            "attempts": 1,
            "first_attempt_at": 30.0,
            "next_attempt_at": 40.0,
        },
        "last_successful": 20.0,
        "last_failure": 30.0,
        "history": [
            {
                "batch_id": "b1",
                "ts": 10.0,
                "attempts": 3,
                "response_code": None,
                "failure_code": "dropped",
                "latency_ms": 0,
            },
            {
                "batch_id": "b2",
                "ts": 20.0,
                "attempts": 1,
                "response_code": 200,
                "failure_code": None,
                "latency_ms": 15,
            },
            {
                "batch_id": "b3",
                "ts": 30.0,
                "attempts": 1,
                "response_code": 503,
                "failure_code": "http_status",
                "latency_ms": 12,
            },
        ],
    },
    "w2": {
        "webhook_id": "w2",
        "since": 2.0,
        "cursor": None,
        "pending": None,
        "last_successful": None,
        "last_failure": None,
        "history": [],
    },
}


def test_webhook_state_documents_move_to_their_typed_tables(tmp_path):
    """Issue 11 item 3: a database at schema version 5 keeps every webhook's cursor,
    pending batch and batch status when version 6 moves them out of the documents."""
    path = tmp_path / "q.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        _schema_at(conn, 5)
        for webhook_id, payload in WEBHOOK_STATE_DOCUMENTS.items():
            conn.execute(  # version 5's UPSERT_DOCUMENT
                "INSERT INTO documents (kind, id, payload, updated_at) VALUES (?, ?, ?, ?)",
                ("webhook_state", webhook_id, json.dumps(payload), T0),
            )
        conn.execute(
            "INSERT INTO documents (kind, id, payload, updated_at) VALUES (?, ?, ?, ?)",
            ("webhook", "w1", json.dumps({"id": "w1", "name": "hook"}), T0),
        )
    finally:
        conn.close()

    async def scenario():
        async with SqliteStore(path) as store:
            assert await store.webhook_state_ids() == ["w1", "w2"]
            assert await store.get_webhook_state("w1") == DeliveryState(
                "w1",
                since=1.0,
                cursor=7,
                pending=PendingBatch("b3", 9, 2, 1, 30.0, 40.0),
                last_successful=20.0,
                last_failure=30.0,
                history=(
                    BatchStatus("b1", 10.0, 3, None, FailureCode.DROPPED, 0),
                    BatchStatus("b2", 20.0, 1, 200, None, 15),
                    BatchStatus("b3", 30.0, 1, 503, FailureCode.HTTP_STATUS, 12),
                ),
            )
            assert await store.get_webhook_state("w2") == DeliveryState("w2", since=2.0)
            assert await store.list_documents("webhook_state") == []
            [hook] = await store.list_documents("webhook")  # other documents stay
            assert hook.payload == {"id": "w1", "name": "hook"}

    run(scenario())
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] >= 6


def test_messages_survive_the_table_rebuild_for_the_held_state(tmp_path):
    """Issue 12 item 2: version 7 rebuilds the messages table to allow 'held'. A database at
    version 6 keeps every message, its rowid, state, lease and recipients."""
    path = tmp_path / "q.db"
    queued, leased, done = (new_message_id(T0 + i) for i in range(3))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        _schema_at(conn, 6)
        for mid in (queued, leased, done):  # the INSERT of version 6 names the same columns
            conn.execute(sqlite_sql.INSERT_MESSAGE, codec.message_row(mid, message(), T0))
            conn.executemany(sqlite_sql.INSERT_RECIPIENT, codec.recipient_rows(mid, message()))
        conn.execute(
            "UPDATE messages SET lease_token = 't', lease_until = ? WHERE id = ?",
            (T0 + 600, leased),
        )
        conn.execute("UPDATE messages SET state = 'done', attempts = 2 WHERE id = ?", (done,))
        conn.execute("UPDATE recipients SET status = 'delivered' WHERE message_id = ?", (done,))
        with pytest.raises(sqlite3.IntegrityError):  # version 6 knows no 'held'
            conn.execute("UPDATE messages SET state = 'held' WHERE id = ?", (queued,))
        rowids = conn.execute("SELECT id, rowid FROM messages ORDER BY id").fetchall()
    finally:
        conn.close()

    async def scenario():
        async with SqliteStore(path) as store:
            assert [(await store.get(m)).state for m in (queued, leased, done)] == [
                "queued",
                "queued",
                "done",
            ]
            assert (await store.get(done)).recipients[0].status == "delivered"
            assert (await store.get(done)).attempts == 2
            assert [c.message.id for c in await store.claim_due(T0, 10, 60)] == [queued]
            assert await store.release_all_leases() == 2  # the old lease came through
            held = new_message_id(T0 + 9)
            await store.enqueue(held, message(), T0, state="held")
            assert await store.count() == {"queued": 2, "held": 1, "done": 1, "cancelled": 0}

    run(scenario())
    with sqlite3.connect(path) as conn:
        newest = sqlite_schema.MIGRATIONS[-1][0]
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == newest
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        old = "SELECT id, rowid FROM messages WHERE state != 'held' ORDER BY id"
        assert conn.execute(old).fetchall() == rowids
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert {"messages", "messages_due", "messages_state"} <= tables
        assert "messages_v7" not in tables
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE messages SET state = 'bogus'")


def test_an_unknown_grant_name_in_the_database_grants_nothing(tmp_path):
    path = tmp_path / "q.db"

    async def scenario():
        async with SqliteStore(path) as store:
            key, _ = await create_key(store, "k", T0, grants={Grant.WEBHOOKS_VIEW})
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE api_keys SET grants = 'webhooks/view root/everything'")
        async with SqliteStore(path) as store:
            assert (await verify_key(store, key)).grants == {Grant.WEBHOOKS_VIEW}

    run(scenario())


def test_operations_on_a_closed_store_raise_store_error(tmp_path):
    async def scenario():
        store = SqliteStore(tmp_path / "q.db")
        with pytest.raises(StoreError):
            await store.enqueue(new_message_id(T0), message(), T0)
        with pytest.raises(StoreError):
            await store.get("x")

    run(scenario())


def test_unopenable_path_raises_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError):
        run(SqliteStore(blocker / "q.db").open())
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        run(SqliteStore(garbage).open())


# --- group commit ---------------------------------------------------------------------------
def test_group_commit_shares_commits_between_concurrent_enqueues(tmp_path):
    async def scenario():
        async with SqliteStore(tmp_path / "q.db") as store:
            commits, writes = store.commits, store.writes
            ids = [new_message_id(T0) for _ in range(100)]
            await asyncio.gather(*(store.enqueue(i, message(b"x" * 5000), T0) for i in ids))
            assert store.writes - writes == 100
            assert 1 <= store.commits - commits <= 20, store.commits - commits
            assert (await store.count())["queued"] == 100

    run(scenario())


def test_one_callers_error_does_not_fail_its_batch(tmp_path):
    async def scenario():
        async with SqliteStore(tmp_path / "q.db") as store:
            dup = new_message_id(T0)
            await store.enqueue(dup, message(), T0)
            ids = [new_message_id(T0) for _ in range(20)]
            calls = [store.enqueue(i, message(), T0) for i in ids[:10]]
            calls.append(store.enqueue(dup, message(b"other"), T0))
            calls += [store.enqueue(i, message(), T0) for i in ids[10:]]
            results = await asyncio.gather(*calls, return_exceptions=True)
            assert isinstance(results[10], DuplicateError)
            assert [r for i, r in enumerate(results) if i != 10] == [None] * 20
            assert (await store.count())["queued"] == 21
            assert (await store.get(dup)).message.data == message().data

    run(scenario())


# --- write errors ---------------------------------------------------------------------------
def test_broken_connection_fails_every_caller_of_the_batch(tmp_path):
    async def scenario():
        store = SqliteStore(tmp_path / "q.db")
        await store.open()
        try:
            store._conn.close()  # the write connection dies underneath the writer
            ids = [new_message_id(T0) for _ in range(10)]
            results = await asyncio.gather(
                *(store.enqueue(i, message(), T0) for i in ids), return_exceptions=True
            )
            assert all(isinstance(r, StoreError) for r in results), results
            with pytest.raises(StoreError):
                await store.claim_due(T0, 10, 60)
            assert store.commits == 0
        finally:
            await store.close()
        async with SqliteStore(tmp_path / "q.db") as reopened:
            assert (await reopened.count())["queued"] == 0

    run(scenario())


DISK_FULL = textwrap.dedent(
    """
    import asyncio, os, resource, sys
    from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
    from sealpost.model.ids import new_message_id
    from sealpost.store.errors import StoreError
    from sealpost.store.sqlite import SqliteStore

    def msg(size):
        env = Envelope("s@example.test", ("a@example.test",))
        return InboundMessage(env, SessionInfo("smtp", "127.0.0.1", 1), os.urandom(size))

    async def main(path):
        store = SqliteStore(path)
        await store.open()
        await store.enqueue(new_message_id(), msg(100), 0.0)
        wal = os.path.getsize(path + "-wal")
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (wal + 200_000, hard))  # EFBIG beyond
        acked, failed = [], None
        for _ in range(100):
            mid = new_message_id()
            try:
                await asyncio.gather(*(store.enqueue(mid + str(i), msg(40_000), 0.0)
                                       for i in range(3)))
            except StoreError as exc:
                failed = exc
                break
            acked += [mid + str(i) for i in range(3)]
        print("FAILED", type(failed).__name__, failed)
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space comes back
        recovered = new_message_id()
        await store.enqueue(recovered, msg(40_000), 0.0)
        await store.close()
        print("ACKED", " ".join(acked + [recovered]))

    asyncio.run(main(sys.argv[1]))
    """
)


def test_disk_full_raises_store_error_and_the_store_recovers(tmp_path):
    path = tmp_path / "q.db"
    proc = subprocess.run(
        [sys.executable, "-c", DISK_FULL, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert lines["FAILED"].startswith("StoreError "), lines["FAILED"]
    acked = lines["ACKED"].split()

    async def check():
        async with SqliteStore(path) as store:
            stored = await asyncio.gather(*(store.get(mid) for mid in acked))
            assert all(s is not None and len(s.message.data) in (100, 40_000) for s in stored)

    run(check())


# --- kill -9 --------------------------------------------------------------------------------
ENQUEUE_FOREVER = textwrap.dedent(
    """
    import asyncio, hashlib, sys
    from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
    from sealpost.model.ids import new_message_id
    from sealpost.store.sqlite import SqliteStore

    async def worker(store):
        while True:
            mid = new_message_id()
            data = hashlib.sha256(mid.encode()).hexdigest().encode() * 100
            env = Envelope("s@example.test", ("a@example.test", "b@example.test"))
            msg = InboundMessage(env, SessionInfo("smtp", "127.0.0.1", 1), data)
            await store.enqueue(mid, msg, 0.0)
            sys.stdout.write(mid + "\\n")
            sys.stdout.flush()

    async def main(path):
        store = SqliteStore(path)
        await store.open()
        await asyncio.gather(*(worker(store) for _ in range(16)))

    asyncio.run(main(sys.argv[1]))
    """
)


def test_kill_9_loses_no_acknowledged_message(tmp_path):
    path = tmp_path / "q.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", ENQUEUE_FOREVER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acked: list[str] = []
    try:
        while len(acked) < 400:
            line = proc.stdout.readline()
            assert line, f"writer died early: {proc.stderr.read()}"
            acked.append(line.strip())
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    lines = rest.split("\n")
    acked += [line for line in lines[:-1] if line]  # the last piece may be half written

    async def check():
        import hashlib

        async with SqliteStore(path) as store:
            for mid in acked:
                stored = await store.get(mid)
                assert stored is not None, f"acknowledged message {mid} was lost"
                assert (
                    stored.message.data == hashlib.sha256(mid.encode()).hexdigest().encode() * 100
                )
                assert len(stored.recipients) == 2

    run(check())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# --- fsync before acknowledgement (security checklist K1) ------------------------------------
ENQUEUE_ONE = textwrap.dedent(
    """
    import asyncio, os, sys
    from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
    from sealpost.store.sqlite import SqliteStore

    async def main(path):
        store = SqliteStore(path)
        await store.open()
        os.write(1, b"OPENED\\n")
        env = Envelope("s@example.test", ("a@example.test",))
        msg = InboundMessage(env, SessionInfo("smtp", "127.0.0.1", 1), b"hello")
        await store.enqueue("m1", msg, 0.0)
        os.write(1, b"ACKED\\n")
        await store.close()

    asyncio.run(main(sys.argv[1]))
    """
)


def traced(tmp_path: Path, script: str, *strace_args: str) -> list[str]:
    """Run ``script`` on ``tmp_path / "q.db"`` under strace; the trace's lines."""
    trace = tmp_path / "trace"
    strace = ["strace", "-f", *strace_args, "-o", str(trace)]
    proc = subprocess.run(
        [*strace, sys.executable, "-c", script, str(tmp_path / "q.db")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip(f"strace cannot trace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    return trace.read_text().splitlines()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_wal_is_fsynced_before_enqueue_returns(tmp_path):
    lines = traced(tmp_path, ENQUEUE_ONE, "-y", "-e", "trace=fsync,fdatasync,write")
    opened = next(i for i, line in enumerate(lines) if '"OPENED\\n"' in line)
    acked = next(i for i, line in enumerate(lines) if '"ACKED\\n"' in line)
    syncs = [line for line in lines[opened:acked] if "sync(" in line and "q.db-wal>" in line]
    assert syncs, "\n".join(lines[opened : acked + 1])


CLAIM_MANY = textwrap.dedent(
    """
    import asyncio, sys
    from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
    from sealpost.store.sqlite import SqliteStore

    async def main(path):
        async with SqliteStore(path) as store:
            env = Envelope("s@example.test", ("a@example.test",))
            for i in range(100):  # a row and its overflow pages each
                msg = InboundMessage(env, SessionInfo("smtp", "127.0.0.1", 1), b"x" * 5000)
                await store.enqueue(f"m{i:03}", msg, 0.0)
            claims = await store.claim_due(1.0, 100, 60.0)  # one write changing 100 rows
            assert len(claims) == 100, len(claims)

    asyncio.run(main(sys.argv[1]))
    """
)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_a_write_batch_makes_no_temporary_files(tmp_path):
    """A write's savepoint keeps its undo pages in memory (``temp_store=MEMORY``): on the
    default, past 64 KiB they spilled to a temporary file SQLite made and unlinked again, tens
    of times a second per worker under load."""
    lines = traced(tmp_path, CLAIM_MANY, "-e", "trace=openat,unlink")
    opened = [line for line in lines if "etilqs_" in line]
    assert not opened, "\n".join(opened[:5])


def test_tls_record_to_dict_is_asdict_without_the_empty_fields():
    full = TlsRecord(
        version="TLSv1.2",
        cipher="ECDHE-RSA-AES128-GCM-SHA256",
        bits=128,
        sni="mx.example.test",
        peer_name="mx.example.test",
        peer_cert_subject="CN=mx.example.test",
        peer_cert_sha256="cd" * 32,
        peer_cert_not_after="2027-01-31T00:00:00Z",
        verified=True,
        verify_error=None,
        fallback=Fallback.STARTTLS_REFUSED,
        starttls_reply_code=454,
        failure=TlsFailure.STARTTLS_NOT_SUPPORTED,
        extra={"dane": {"usage": 3}, "list": [1, 2]},
    )
    for record in (full, TlsRecord(), TlsRecord(version="TLSv1.3", verified=False)):
        reference = {k: v for k, v in asdict(record).items() if v is not None and v != {}}
        assert record.to_dict() == reference
        assert TlsRecord.from_dict(record.to_dict()) == (record if reference else None)
    copied = full.to_dict()
    copied["extra"]["dane"]["usage"] = 2  # a copy: the frozen record is not changed through it
    assert full.extra == {"dane": {"usage": 3}, "list": [1, 2]}


def test_corrupt_row_is_reported_and_does_not_block_the_queue(tmp_path):
    path = tmp_path / "q.db"
    bad, good = new_message_id(T0), new_message_id(T0 + 1)

    async def fill():
        async with SqliteStore(path) as store:
            await store.enqueue(bad, message(), T0)
            await store.enqueue(good, message(), T0 + 1)

    run(fill())
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE messages SET session = '{not json' WHERE id = ?", (bad,))

    async def check():
        async with SqliteStore(path) as store:
            with pytest.raises(StoreError, match="corrupt"):
                await store.get(bad)
            claims = await store.claim_due(T0 + 10, 10, 60)
            assert [c.message.id for c in claims] == [good]
            assert [r.id for r in await store.list()] == [bad, good]  # still visible

    run(check())


def test_version_13_gives_queue_view_to_keys_that_could_manage_the_queue(tmp_path):
    """A new read grant is handed out by its migration, to the keys that held queue/manage
    (which could read the queue with it before), and to no other key."""
    path = tmp_path / "q.db"
    manager, other = generate_key(), generate_key()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        _schema_at(conn, 8)
        for key, grants in ((manager, "queue/manage smtp/inject"), (other, "smtp/inject")):
            salt, digest = hash_key(key)
            row = (key_id_of(key), "k", salt, digest, T0, None, "", grants)
            conn.execute(sqlite_sql.INSERT_KEY, row)
    finally:
        conn.close()

    async def scenario():
        async with SqliteStore(path) as store:
            held_manager = (await verify_key(store, manager)).grants
            assert held_manager == {Grant.QUEUE_MANAGE, Grant.QUEUE_VIEW, Grant.SMTP_INJECT}
            assert (await verify_key(store, other)).grants == {Grant.SMTP_INJECT}

    run(scenario())


def test_version_17_marks_held_mail_the_intake_has_not_read(tmp_path):
    """Held mail from before the TLS-RPT marks, past the intake's cursor, is marked (read
    once more); held mail at or below the cursor and queued mail are not."""
    path = tmp_path / "q.db"

    async def fill() -> None:
        async with SqliteStore(path) as store:
            for mid in ("h1", "h2", "h3"):
                await store.enqueue(mid, message(), T0, state="held")
            await store.enqueue("q1", message(), T0)
            await store.put_document(Document("tlsrpt_intake", "held", {"after": "h1"}, T0))

    run(fill())
    with sqlite3.connect(path, isolation_level=None) as conn:  # as before version 17
        conn.execute("DROP TABLE tlsrpt_marks")
        conn.execute("DELETE FROM schema_version WHERE version >= 17")

    async def check() -> None:
        async with SqliteStore(path) as store:
            assert await store.list_report_marked() == ["h2", "h3"]

    run(check())


def test_transmission_list_and_purge_use_their_indexes(tmp_path):
    """Schema 18: GET /api/v1/transmissions reads the scheduled records through
    documents_not_before and the purge finds old ones through documents_updated, never by
    walking every transmission record (the primary key on (kind, id))."""
    from sealpost.store.sqlite import retention_sql

    async def scenario():
        async with SqliteStore(tmp_path / "q.db") as store:
            for i in range(300):
                await store.put_document(
                    Document("transmission", str(i), {"not_before": None}, T0 + i)
                )
            store._conn.execute("ANALYZE")
            listing = " ".join(
                r[-1]
                for r in store._conn.execute(
                    "EXPLAIN QUERY PLAN " + sqlite_sql.SELECT_SCHEDULED_DOCUMENTS,
                    ("transmission", T0),
                )
            )
            assert "INDEX documents_not_before" in listing, listing
            purge = " ".join(
                r[-1]
                for r in store._conn.execute(
                    "EXPLAIN QUERY PLAN " + retention_sql.EXPIRED_TRANSMISSIONS, (T0, 10)
                )
            )
            assert "INDEX documents_updated (kind=? AND updated_at<?)" in purge, purge

    run(scenario())


def test_each_worker_releases_its_own_leases_and_the_start_releases_all(tmp_path: Path):
    """``[server] workers``: the worker processes share the file, and each one's lease tokens
    carry its seat, so a restarted worker frees only what its predecessor held (the others
    are still delivering theirs); the server's start frees every worker's."""
    path = tmp_path / "q.db"

    async def scenario():
        async with (
            SqliteStore(path, worker=0) as w0,
            SqliteStore(path, worker=1) as w1,
            SqliteStore(path, worker=11) as w11,
            SqliteStore(path) as whole,
        ):
            for n in range(4):
                await w0.enqueue(new_message_id(T0 + n), message(), T0)
            [c0] = await w0.claim_due(T0, 1, 600)
            [c1] = await w1.claim_due(T0, 1, 600)
            [c11] = await w11.claim_due(T0, 1, 600)
            assert c0.token.startswith("w0.") and c1.token.startswith("w1.")
            assert await w1.release_own_leases() == 1  # not w11's, whose prefix starts alike
            again = await w0.claim_due(T0, 10, 600)  # worker 1's message is due again
            assert c1.message.id in {c.message.id for c in again} and len(again) == 2
            await w0.record_attempt(c0, [RecipientResult("a@example.test", "delivered")], T0)
            assert await whole.release_all_leases() == 3  # the two again, and worker 11's
            with pytest.raises(LeaseLostError):
                await w11.record_attempt(c11, [], T0)
            assert await whole.release_own_leases() == 0  # one process: all of them

    run(scenario())
