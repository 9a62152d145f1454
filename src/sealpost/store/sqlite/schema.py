"""The SQLite schema: numbered migrations, applied on open in one transaction.

Migrations only ever append: never edit a shipped one. A migration that gives a record a
typed table of its own moves the rows it finds (as version 6 does for the webhooks' delivery
state, a document before), so an upgraded database keeps everything it held.
"""

from __future__ import annotations

import sqlite3

from sealpost.store.errors import StoreError
from sealpost.store.sqlite import sql

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

# The columns of the messages table as version 1 made them (version 7 copies them).
_MESSAGE_COLUMNS_V1 = """id, created_at, state, next_attempt_at, attempts, lease_token,
    lease_until, mail_from, rcpt_count, listener, tls_version, size, envelope, session, data"""

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
    (
        6,
        (
            # The webhooks' delivery state (model/webhook_delivery.py) leaves the documents
            # table for typed tables: one row per webhook (cursor, the pending batch written
            # before it is posted, the last success and failure) ...
            """CREATE TABLE webhook_state (
                webhook_id TEXT PRIMARY KEY,
                since REAL NOT NULL,
                cursor INTEGER,
                pending_batch_id TEXT,
                pending_last_event_id INTEGER,
                pending_size INTEGER,
                pending_attempts INTEGER,
                pending_first_attempt_at REAL,
                pending_next_attempt_at REAL,
                last_successful REAL,
                last_failure REAL,
                updated_at REAL NOT NULL
            ) WITHOUT ROWID""",
            # ... and one row per batch status entry, oldest first by seq.
            """CREATE TABLE webhook_batch_status (
                webhook_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                batch_id TEXT NOT NULL,
                ts REAL NOT NULL,
                attempts INTEGER NOT NULL,
                response_code INTEGER,
                failure_code TEXT,
                latency_ms INTEGER NOT NULL,
                PRIMARY KEY (webhook_id, seq)
            ) WITHOUT ROWID""",
            # Move the 'webhook_state' documents (JSON as Sealpost wrote them up to schema
            # version 5: the DeliveryState fields, pending and history entries as objects)
            # into them, then drop the documents.
            """INSERT INTO webhook_state (webhook_id, since, cursor, pending_batch_id,
                pending_last_event_id, pending_size, pending_attempts, pending_first_attempt_at,
                pending_next_attempt_at, last_successful, last_failure, updated_at)
            SELECT id, json_extract(payload, '$.since'), json_extract(payload, '$.cursor'),
                json_extract(payload, '$.pending.batch_id'),
                json_extract(payload, '$.pending.last_event_id'),
                json_extract(payload, '$.pending.size'),
                json_extract(payload, '$.pending.attempts'),
                json_extract(payload, '$.pending.first_attempt_at'),
                json_extract(payload, '$.pending.next_attempt_at'),
                json_extract(payload, '$.last_successful'),
                json_extract(payload, '$.last_failure'), updated_at
            FROM documents WHERE kind = 'webhook_state'""",
            """INSERT INTO webhook_batch_status (webhook_id, seq, batch_id, ts, attempts,
                response_code, failure_code, latency_ms)
            SELECT d.id, h.key, json_extract(h.value, '$.batch_id'),
                json_extract(h.value, '$.ts'), json_extract(h.value, '$.attempts'),
                json_extract(h.value, '$.response_code'),
                json_extract(h.value, '$.failure_code'), json_extract(h.value, '$.latency_ms')
            FROM documents AS d, json_each(d.payload, '$.history') AS h
            WHERE d.kind = 'webhook_state' AND json_type(d.payload, '$.history') = 'array'""",
            "DELETE FROM documents WHERE kind = 'webhook_state'",
        ),
    ),
    (
        7,
        (
            # The 'held' state (model/queue.py: mail that stays here, never claimed). SQLite
            # cannot change a CHECK in place, so the table is rebuilt as its documentation
            # says (ALTER TABLE, "making other kinds of table schema changes"): a new table
            # with the wider CHECK, every row copied with its rowid, the old one dropped (with
            # its indexes), the new one renamed, the indexes made again. One transaction, like
            # every migration; it reads and writes each message once.
            """CREATE TABLE messages_v7 (
                id TEXT PRIMARY KEY,
                created_at REAL NOT NULL,
                state TEXT NOT NULL
                    CHECK (state IN ('queued', 'held', 'done', 'cancelled')),
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
            f"""INSERT INTO messages_v7 (rowid, {_MESSAGE_COLUMNS_V1})
                SELECT rowid, {_MESSAGE_COLUMNS_V1} FROM messages""",
            "DROP TABLE messages",
            "ALTER TABLE messages_v7 RENAME TO messages",
            # As in version 1. Held rows have their own ('held', ...) range in messages_due,
            # so claim_due's walk over ('queued', due ...) never reads one.
            "CREATE INDEX messages_due ON messages (state, next_attempt_at, lease_until)",
            "CREATE INDEX messages_state ON messages (state, id)",
        ),
    ),
    (
        8,
        (
            # The TLS memory (store/sqlite/tls_memory): hosts whose TLS handshake failed and
            # MTA-STS fetches held off after a failure, kept across restarts and shared by
            # the worker processes. Each write prunes expired rows by `until`.
            """CREATE TABLE broken_tls (
                host TEXT NOT NULL,
                port INTEGER NOT NULL,
                until REAL NOT NULL,
                PRIMARY KEY (host, port)
            ) WITHOUT ROWID""",
            "CREATE INDEX broken_tls_until ON broken_tls (until)",
            """CREATE TABLE sts_fetch_holdoffs (
                domain TEXT PRIMARY KEY,
                policy_id TEXT NOT NULL,
                until REAL NOT NULL,
                failure TEXT NOT NULL,
                detail TEXT NOT NULL
            ) WITHOUT ROWID""",
            "CREATE INDEX sts_fetch_holdoffs_until ON sts_fetch_holdoffs (until)",
        ),
    ),
    (
        9,
        (
            # TLS-RPT reports we send (RFC 8460; tlsrpt/, store/*/tls_reports): per-day
            # session tallies summed by key (added in the same transaction as the attempt's
            # events), and the reports built from them, one per (day, policy domain): the
            # unique key is what lets only one node of a cluster send a domain's report.
            """CREATE TABLE tlsrpt_tallies (
                day TEXT NOT NULL,
                policy_domain TEXT NOT NULL,
                policy_type TEXT NOT NULL,
                policy_hash TEXT NOT NULL,
                policy TEXT NOT NULL,
                receiving_mx TEXT NOT NULL,
                receiving_ip TEXT NOT NULL,
                result_type TEXT NOT NULL,
                sessions INTEGER NOT NULL,
                PRIMARY KEY (day, policy_domain, policy_type, policy_hash, receiving_mx,
                    receiving_ip, result_type)
            ) WITHOUT ROWID""",
            """CREATE TABLE tlsrpt_reports (
                report_id TEXT PRIMARY KEY,
                day TEXT NOT NULL,
                policy_domain TEXT NOT NULL,
                created_at REAL NOT NULL,
                report TEXT NOT NULL,
                UNIQUE (day, policy_domain)
            )""",
            """CREATE TABLE tlsrpt_report_targets (
                report_id TEXT NOT NULL,
                uri TEXT NOT NULL,
                state TEXT NOT NULL,
                detail TEXT,
                updated_at REAL NOT NULL,
                PRIMARY KEY (report_id, uri)
            ) WITHOUT ROWID""",
        ),
    ),
    (
        10,
        (
            # TLS-RPT reports we received (RFC 8460; store/sqlite/received_reports): one row per
            # report, the fields an operator filters by typed and the whole report as JSON.
            # (organization, report_id) is unique (RFC 8460 section 4.4), so a resend is
            # stored once. The grants tls_reports/modify and tls_reports/view come with
            # this version, and no existing key gets them: a key that should post or read
            # reports is made for it (`sealpost keys create --grant tls_reports/view`).
            """CREATE TABLE tlsrpt_received (
                id TEXT PRIMARY KEY,
                organization TEXT NOT NULL,
                report_id TEXT NOT NULL,
                start_time REAL NOT NULL,
                end_time REAL NOT NULL,
                policy_domains TEXT NOT NULL,
                successful INTEGER NOT NULL,
                failed INTEGER NOT NULL,
                contact_info TEXT NOT NULL,
                received_at REAL NOT NULL,
                source TEXT NOT NULL CHECK (source IN ('mail', 'api')),
                message_id TEXT,
                report TEXT NOT NULL,
                UNIQUE (organization, report_id)
            ) WITHOUT ROWID""",
        ),
    ),
    # Version 11 was never used: migrations apply in list order, and a gap is allowed.
    (
        12,
        (
            # The suppression list (store/sqlite/suppressions): one row per recipient (the
            # address lower-cased whole) and type, so the check of a transmission's
            # recipients is a primary-key lookup each, at any size of the list.
            """CREATE TABLE suppressions (
                recipient TEXT NOT NULL,
                type TEXT NOT NULL CHECK (type IN ('transactional', 'non_transactional')),
                source TEXT NOT NULL,
                description TEXT NOT NULL,
                created REAL NOT NULL,
                updated REAL NOT NULL,
                PRIMARY KEY (recipient, type)
            ) WITHOUT ROWID""",
            # The search by `from`/`to` (last update), as SparkPost's searches go.
            "CREATE INDEX suppressions_updated ON suppressions (updated)",
            # suppression_lists/view is a grant added after version 5: every key that may
            # manage the list may also read it (GRANTS_AT_VERSION_5 stays frozen).
            """UPDATE api_keys SET grants = grants || ' suppression_lists/view'
                WHERE ' ' || grants || ' ' LIKE '% suppression_lists/manage %'""",
        ),
    ),
    (
        13,
        (
            # Queue administration (model/queue_admin.py). The operator's mark on a message:
            # 'hold' (held by `queue hold`; `queue release` releases only these, never local
            # held mail) or 'bounce' (the dispatcher fails it with a DSN). ADD COLUMN with a
            # NULL default rewrites no row.
            """ALTER TABLE messages ADD COLUMN admin_mark TEXT
                CHECK (admin_mark IN ('hold', 'bounce'))""",
            # Standing suspensions of destination domains; `until` NULL: until resumed.
            """CREATE TABLE queue_suspensions (
                domain TEXT PRIMARY KEY,
                created_at REAL NOT NULL,
                until REAL,
                reason TEXT NOT NULL DEFAULT '',
                created_by TEXT NOT NULL DEFAULT ''
            ) WITHOUT ROWID""",
            # `queue summary` (a GROUP BY over every queued message's age and attempts) reads
            # this index instead of the message rows with their bodies: half the time at
            # 100k messages. It still serves `queue list --state` paging by id.
            "DROP INDEX messages_state",
            "CREATE INDEX messages_state ON messages (state, id, created_at, attempts)",
            # The read grant 'queue/view' (GET /queue, /queue/suspensions) is new: a key
            # that could manage the queue may read it too; no other key gets it.
            """UPDATE api_keys SET grants = grants || ' queue/view'
                WHERE ' ' || grants || ' ' LIKE '% queue/manage %'""",
        ),
    ),
    (
        14,
        (
            # Retention (store/sqlite/retention): expired idempotency keys are found from the
            # oldest without reading the table. Files created from this version on are
            # auto_vacuum=INCREMENTAL (sql.WRITER_PRAGMAS, set before the first table), so
            # purged pages go back to the file system; an older file switches only with a
            # VACUUM, which cannot run in a migration's transaction: `sealpost store vacuum`.
            "CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at)",
        ),
    ),
    (
        15,
        (
            # The sending domains' DKIM private keys (store/sqlite/dkim_keys), sealed with
            # AES-256-GCM under the [dkim] key-encryption key (dkim/sealing.py): the store, not
            # a file on one node, is where every node reads them. Keys that earlier versions
            # wrote to files are moved here at start (dkim/key_import.py), not by this
            # migration: sealing needs the secret, which the schema never sees.
            """CREATE TABLE dkim_keys (
                domain TEXT NOT NULL,
                selector TEXT NOT NULL,
                sealed BLOB NOT NULL,
                created_at REAL NOT NULL,
                PRIMARY KEY (domain, selector)
            ) WITHOUT ROWID""",
        ),
    ),
    (
        17,
        (
            # Held messages the door found the marks of a TLS-RPT report on
            # (submission/report_mark.py), written in the message's transaction: the intake
            # reads only these, never other held mail. A purge that deletes a held message
            # deletes its mark in the same transaction (store/sqlite/retention.py).
            """CREATE TABLE tlsrpt_marks (
                message_id TEXT PRIMARY KEY
            ) WITHOUT ROWID""",
            # Held mail from before this version that the intake has not read yet (past its
            # cursor, document tlsrpt_intake/held) is marked, unread, so none is skipped.
            """INSERT INTO tlsrpt_marks (message_id)
                SELECT id FROM messages WHERE state = 'held' AND id > COALESCE(
                    (SELECT json_extract(payload, '$.after') FROM documents
                        WHERE kind = 'tlsrpt_intake' AND id = 'held'), '')""",
        ),
    ),
    (
        18,
        (
            # Transmission records (a document per POST /api/v1/transmissions) are purged by
            # age (store/sqlite/retention.py) from the oldest, and GET /api/v1/transmissions
            # reads only the scheduled ones (payload not_before ahead), never the whole kind.
            "CREATE INDEX IF NOT EXISTS documents_updated ON documents (kind, updated_at)",
            """CREATE INDEX IF NOT EXISTS documents_not_before
                ON documents (kind, json_extract(payload, '$.not_before'))""",
        ),
    ),
)


def migrate(conn: sqlite3.Connection) -> tuple[int, int]:
    """Bring the schema up to date in one IMMEDIATE transaction; returns the versions before
    and after.

    Safe when two processes open the same new file at once: the second waits for the first's
    write lock, then re-reads the version inside its own transaction.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(sql.CREATE_VERSION_TABLE)
        current = before = conn.execute(sql.SELECT_VERSION).fetchone()[0] or 0
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
            conn.execute(sql.INSERT_VERSION, (version,))
            current = version
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return before, current
