"""The SQLite schema: numbered migrations applied on open, and every statement by name.

Pragmas (RFC 5321 section 6.1, "MUST NOT lose" an acknowledged message): WAL journal with
``synchronous=FULL``, so each COMMIT fsyncs the WAL before it returns; SQLite also fsyncs the
directory when it creates the WAL. Migrations only ever append: never edit a shipped one.
"""

from __future__ import annotations

import sqlite3

from sealpost.store.errors import StoreError

WRITER_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=OFF",
)
READER_PRAGMAS = (
    "PRAGMA busy_timeout=10000",
    "PRAGMA query_only=ON",
)

# Every grant as of schema version 5, which gives them all to the keys it finds. Frozen: a
# grant added later needs its own migration to say whether old keys get it.
GRANTS_AT_VERSION_5 = (
    "smtp/inject",
    "transmissions/modify",
    "transmissions/view",
    "templates/modify",
    "templates/view",
    "message_events/view",
    "webhooks/modify",
    "webhooks/view",
    "sending_domains/modify",
    "sending_domains/view",
    "suppression_lists/manage",
    "metrics/view",
    "tls_check/view",
    "queue/manage",
)

# Each migration is (version, statements); statement lists avoid executescript(), which would
# commit the surrounding transaction.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE messages (
                id TEXT PRIMARY KEY,
                created_at REAL NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('queued', 'done', 'cancelled')),
                next_attempt_at REAL NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                lease_token TEXT,
                lease_until REAL,
                mail_from TEXT NOT NULL,
                rcpt_count INTEGER NOT NULL,
                listener TEXT NOT NULL,
                tls_version TEXT,
                size INTEGER NOT NULL,
                envelope TEXT NOT NULL,
                session TEXT NOT NULL,
                data BLOB NOT NULL
            )""",
            # claim_due walks this index from the oldest due entry; with lease_until (and the
            # implicit rowid) in it the walk never reads the table, so leased rows are skipped
            # cheaply and a queue of 1M messages claims as fast as an empty one.
            "CREATE INDEX messages_due ON messages (state, next_attempt_at, lease_until)",
            # `queue list --state queued` pages by id without sorting 1M rows (190 ms -> 1 ms).
            "CREATE INDEX messages_state ON messages (state, id)",
            """CREATE TABLE recipients (
                message_id TEXT NOT NULL,
                idx INTEGER NOT NULL,
                address TEXT NOT NULL,
                status TEXT NOT NULL
                    CHECK (status IN ('queued', 'delivered', 'bounced', 'cancelled')),
                attempts INTEGER NOT NULL DEFAULT 0,
                last_reply TEXT,
                PRIMARY KEY (message_id, idx)
            ) WITHOUT ROWID""",
            """CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                label TEXT NOT NULL,
                salt BLOB NOT NULL,
                digest BLOB NOT NULL,
                created_at REAL NOT NULL,
                revoked_at REAL
            )""",
        ),
    ),
    (
        2,
        (
            # Space-separated sender domains a key may use in MAIL FROM; "" means any
            # (checklist H4, RFC 6409 section 6.1).
            "ALTER TABLE api_keys ADD COLUMN sender_domains TEXT NOT NULL DEFAULT ''",
        ),
    ),
    (
        3,
        (
            # Events are appended in the same transaction as the queue change they describe,
            # so an event is never lost nor recorded for work that did not happen.
            """CREATE TABLE events (
                event_id INTEGER PRIMARY KEY AUTOINCREMENT,
                type TEXT NOT NULL,
                message_id TEXT NOT NULL,
                rcpt_to TEXT,
                timestamp REAL NOT NULL,
                fields TEXT NOT NULL
            )""",
            "CREATE INDEX events_message ON events (message_id, event_id)",
            "CREATE INDEX events_type ON events (type, event_id)",
            """CREATE TABLE policies (
                key TEXT PRIMARY KEY,
                payload TEXT NOT NULL
            ) WITHOUT ROWID""",
        ),
    ),
    (
        4,
        (
            # API resources (templates, webhooks, sending domains, transmissions) as JSON.
            """CREATE TABLE documents (
                kind TEXT NOT NULL,
                id TEXT NOT NULL,
                payload TEXT NOT NULL,
                updated_at REAL NOT NULL,
                PRIMARY KEY (kind, id)
            ) WITHOUT ROWID""",
            # Idempotency-Key records, committed with the messages they created.
            """CREATE TABLE idempotency (
                key TEXT PRIMARY KEY,
                fingerprint TEXT NOT NULL,
                response TEXT NOT NULL,
                created_at REAL NOT NULL
            ) WITHOUT ROWID""",
            "CREATE INDEX events_time ON events (timestamp)",
            "CREATE INDEX events_rcpt ON events (rcpt_to, event_id)",
        ),
    ),
    (
        5,
        (
            # Space-separated grants of a key (model/grants.py). A key that existed before
            # grants keeps working: it gets every grant there was when grants were introduced
            # (written out here, so a later grant is never handed out by this migration).
            "ALTER TABLE api_keys ADD COLUMN grants TEXT NOT NULL DEFAULT ''",
            f"UPDATE api_keys SET grants = '{' '.join(GRANTS_AT_VERSION_5)}'",
        ),
    ),
)

CREATE_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
SELECT_VERSION = "SELECT max(version) FROM schema_version"
INSERT_VERSION = "INSERT INTO schema_version (version) VALUES (?)"

# --- messages -------------------------------------------------------------------------------
INSERT_MESSAGE = """INSERT INTO messages (id, created_at, state, next_attempt_at, attempts,
    mail_from, rcpt_count, listener, tls_version, size, envelope, session, data)
    VALUES (?, ?, 'queued', ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)"""
INSERT_RECIPIENT = """INSERT INTO recipients (message_id, idx, address, status)
    VALUES (?, ?, ?, 'queued')"""
MESSAGE_COLUMNS = (
    "id, created_at, state, next_attempt_at, attempts, mail_from, envelope, session, data"
)
SELECT_MESSAGE = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?"
SELECT_RECIPIENTS = """SELECT address, status, attempts, last_reply FROM recipients
    WHERE message_id = ? ORDER BY idx"""
SUMMARY_COLUMNS = """id, mail_from, rcpt_count, size, created_at, state, next_attempt_at,
    attempts, listener, tls_version"""
COUNT_BY_STATE = "SELECT state, count(*) FROM messages GROUP BY state"

SELECT_DUE = """SELECT rowid FROM messages INDEXED BY messages_due
    WHERE state = 'queued' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
    ORDER BY next_attempt_at LIMIT ?"""
SET_LEASE = "UPDATE messages SET lease_token = ?, lease_until = ? WHERE rowid = ? RETURNING id"
SELECT_LEASE = "SELECT state, lease_token FROM messages WHERE id = ?"
UPDATE_RECIPIENT = """UPDATE recipients SET status = ?, attempts = ?, last_reply = ?
    WHERE message_id = ? AND idx = ?"""
FINISH_ATTEMPT = """UPDATE messages SET state = ?, attempts = attempts + 1, next_attempt_at = ?,
    lease_token = NULL, lease_until = NULL WHERE id = ?"""
RELEASE_LEASE = """UPDATE messages SET lease_token = NULL, lease_until = NULL
    WHERE id = ? AND lease_token = ?"""
RELEASE_ALL_LEASES = """UPDATE messages SET lease_token = NULL, lease_until = NULL
    WHERE lease_token IS NOT NULL"""
RETRY_NOW = "UPDATE messages SET next_attempt_at = ? WHERE id = ? AND state = 'queued'"
CANCEL_MESSAGE = "UPDATE messages SET state = 'cancelled' WHERE id = ? AND state = 'queued'"
CANCEL_RECIPIENTS = """UPDATE recipients SET status = 'cancelled'
    WHERE message_id = ? AND status = 'queued'"""

# --- api keys -------------------------------------------------------------------------------
KEY_COLUMNS = "id, label, salt, digest, created_at, revoked_at, sender_domains, grants"
INSERT_KEY = f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
SELECT_KEY = f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?"
SELECT_KEYS = f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
REVOKE_KEY = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"


# --- events and policies --------------------------------------------------------------------
INSERT_EVENT = """INSERT INTO events (type, message_id, rcpt_to, timestamp, fields)
    VALUES (?, ?, ?, ?, ?)"""
EVENT_COLUMNS = "event_id, type, message_id, rcpt_to, timestamp, fields"
SELECT_POLICY = "SELECT payload FROM policies WHERE key = ?"
UPSERT_POLICY = """INSERT INTO policies (key, payload) VALUES (?, ?)
    ON CONFLICT (key) DO UPDATE SET payload = excluded.payload"""


def events_query(*, after: bool, types: int, message: bool) -> str:
    """The ``list_events`` statement with only the filters in use."""
    where = ["event_id > ?"] if after else []
    if types:
        where.append(f"type IN ({', '.join('?' * types)})")
    if message:
        where.append("message_id = ?")
    sql = f"SELECT {EVENT_COLUMNS} FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY event_id LIMIT ?"


def list_query(*, state: bool, after: bool) -> str:
    """The ``list`` statement with only the filters in use, so the id index stays usable."""
    where = [clause for clause, used in (("state = ?", state), ("id > ?", after)) if used]
    sql = f"SELECT {SUMMARY_COLUMNS} FROM messages"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY id LIMIT ?"


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date in one IMMEDIATE transaction; returns the version reached.

    Safe when two processes open the same new file at once: the second waits for the first's
    write lock, then re-reads the version inside its own transaction.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(CREATE_VERSION_TABLE)
        current = conn.execute(SELECT_VERSION).fetchone()[0] or 0
        newest = MIGRATIONS[-1][0]
        if current > newest:
            raise StoreError(
                f"queue database schema version {current} is newer than this Sealpost "
                f"understands ({newest}); upgrade Sealpost"
            )
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute(INSERT_VERSION, (version,))
            current = version
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return current
