"""The PostgreSQL schema: numbered migrations, applied under an advisory lock.

Several nodes may start at once against one database. ``migrate`` takes a transaction-level
advisory lock (``pg_advisory_xact_lock``) before it reads the version, and DDL is
transactional in PostgreSQL, so the first node applies every missing migration and commits;
the others wait on the lock, then find the schema current and apply nothing. A half-applied
migration is impossible: it commits whole or not at all.

Migrations only ever append: never edit a shipped one. The columns mirror the SQLite schema
(``store.codec`` reads both); keys that are ordered (message ids, document ids) use the
``"C"`` collation, so ``ORDER BY id`` is byte order whatever the database's locale, as in
SQLite and the memory backend.
"""

from __future__ import annotations

import asyncpg

from sealpost.store.errors import StoreError
from sealpost.store.postgres import sql

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE messages (
                id text COLLATE "C" PRIMARY KEY,
                created_at float8 NOT NULL,
                state text NOT NULL CHECK (state IN ('queued', 'done', 'cancelled')),
                next_attempt_at float8 NOT NULL,
                attempts integer NOT NULL DEFAULT 0,
                lease_token text,
                lease_until float8,
                lease_node text,
                mail_from text NOT NULL,
                rcpt_count integer NOT NULL,
                listener text NOT NULL,
                tls_version text,
                size integer NOT NULL,
                envelope text NOT NULL,
                session text NOT NULL,
                data bytea NOT NULL
            )""",
            # claim_due walks this partial index from the oldest due entry and stops after
            # `limit` rows it could lock: done and cancelled messages are not in it at all, so
            # the walk costs the same with 10k or 1M messages behind the queue head.
            """CREATE INDEX messages_due ON messages (next_attempt_at, id)
                WHERE state = 'queued'""",
            # `queue list --state queued` pages by id without sorting the table.
            "CREATE INDEX messages_state ON messages (state, id)",
            # release_all_leases finds one node's leases without a scan.
            """CREATE INDEX messages_lease_node ON messages (lease_node)
                WHERE lease_node IS NOT NULL""",
            """CREATE TABLE recipients (
                message_id text COLLATE "C" NOT NULL,
                idx integer NOT NULL,
                address text NOT NULL,
                status text NOT NULL
                    CHECK (status IN ('queued', 'delivered', 'bounced', 'cancelled')),
                attempts integer NOT NULL DEFAULT 0,
                last_reply text,
                PRIMARY KEY (message_id, idx)
            )""",
            """CREATE TABLE api_keys (
                id text COLLATE "C" PRIMARY KEY,
                label text NOT NULL,
                salt bytea NOT NULL,
                digest bytea NOT NULL,
                created_at float8 NOT NULL,
                revoked_at float8,
                sender_domains text NOT NULL DEFAULT '',
                grants text NOT NULL DEFAULT ''
            )""",
            # The event stream. event_id is taken from the sequence only while the writer
            # holds the events lock (see writer), so ids commit in increasing order across
            # nodes and a reader's cursor never passes an event that commits later.
            """CREATE TABLE events (
                event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                type text NOT NULL,
                message_id text NOT NULL,
                rcpt_to text,
                timestamp float8 NOT NULL,
                fields json NOT NULL
            )""",
            "CREATE INDEX events_message ON events (message_id, event_id)",
            "CREATE INDEX events_type ON events (type, event_id)",
            "CREATE INDEX events_time ON events (timestamp)",
            "CREATE INDEX events_rcpt ON events (rcpt_to, event_id)",
            'CREATE TABLE policies (key text COLLATE "C" PRIMARY KEY, payload text NOT NULL)',
            """CREATE TABLE documents (
                kind text NOT NULL,
                id text COLLATE "C" NOT NULL,
                payload text NOT NULL,
                updated_at float8 NOT NULL,
                PRIMARY KEY (kind, id)
            )""",
            """CREATE TABLE idempotency (
                key text PRIMARY KEY,
                fingerprint text NOT NULL,
                response text NOT NULL,
                created_at float8 NOT NULL
            )""",
            """CREATE TABLE webhook_state (
                webhook_id text COLLATE "C" PRIMARY KEY,
                since float8 NOT NULL,
                cursor bigint,
                pending_batch_id text,
                pending_last_event_id bigint,
                pending_size integer,
                pending_attempts integer,
                pending_first_attempt_at float8,
                pending_next_attempt_at float8,
                last_successful float8,
                last_failure float8,
                updated_at float8 NOT NULL
            )""",
            """CREATE TABLE webhook_batch_status (
                webhook_id text NOT NULL,
                seq integer NOT NULL,
                batch_id text NOT NULL,
                ts float8 NOT NULL,
                attempts integer NOT NULL,
                response_code integer,
                failure_code text,
                latency_ms integer NOT NULL,
                PRIMARY KEY (webhook_id, seq)
            )""",
        ),
    ),
    (
        2,
        (
            # The 'held' state (model/queue.py: mail that stays here, never claimed until
            # retry_now releases it). PostgreSQL changes the CHECK in place; messages_due
            # keeps only 'queued' rows, so claim_due never reads a held one.
            """ALTER TABLE messages DROP CONSTRAINT messages_state_check,
                ADD CONSTRAINT messages_state_check
                CHECK (state IN ('queued', 'held', 'done', 'cancelled'))""",
        ),
    ),
    (
        3,
        (
            # Which node sends a webhook's batches, until when (store/postgres/webhook_state).
            """CREATE TABLE webhook_leases (
                webhook_id text COLLATE "C" PRIMARY KEY,
                node text NOT NULL,
                lease_until float8 NOT NULL
            )""",
        ),
    ),
    (
        4,
        (
            # Per-domain session slots held cluster-wide (store/postgres/domain_slots).
            """CREATE TABLE domain_slots (
                domain text NOT NULL,
                slot integer NOT NULL,
                node text NOT NULL,
                token text NOT NULL,
                lease_until float8 NOT NULL,
                PRIMARY KEY (domain, slot)
            )""",
            "CREATE INDEX domain_slots_node ON domain_slots (node)",
        ),
    ),
    (
        5,
        (
            # The TLS memory shared by every node (store/postgres/tls_memory): hosts whose
            # TLS handshake failed and MTA-STS fetches held off after a failure. Each write
            # prunes expired rows by `until`.
            """CREATE TABLE broken_tls (
                host text NOT NULL,
                port integer NOT NULL,
                until float8 NOT NULL,
                PRIMARY KEY (host, port)
            )""",
            "CREATE INDEX broken_tls_until ON broken_tls (until)",
            """CREATE TABLE sts_fetch_holdoffs (
                domain text PRIMARY KEY,
                policy_id text NOT NULL,
                until float8 NOT NULL,
                failure text NOT NULL,
                detail text NOT NULL
            )""",
            "CREATE INDEX sts_fetch_holdoffs_until ON sts_fetch_holdoffs (until)",
        ),
    ),
    (
        6,
        (
            # The running nodes, one row per node id (store/postgres/nodes): a second live
            # node under an id in use refuses to start.
            """CREATE TABLE nodes (
                node_id text PRIMARY KEY,
                instance text NOT NULL,
                host text NOT NULL,
                pid integer NOT NULL,
                started_at float8 NOT NULL,
                heartbeat_at float8 NOT NULL
            )""",
        ),
    ),
    (
        7,
        (
            # TLS-RPT reports we send (RFC 8460; tlsrpt/, store/*/tls_reports): per-day
            # session tallies summed by key (added in the same transaction as the attempt's
            # events), and the reports built from them, one per (day, policy domain): the
            # unique key is what lets only one node of a cluster send a domain's report.
            """CREATE TABLE tlsrpt_tallies (
                day text NOT NULL,
                policy_domain text NOT NULL,
                policy_type text NOT NULL,
                policy_hash text NOT NULL,
                policy text NOT NULL,
                receiving_mx text NOT NULL,
                receiving_ip text NOT NULL,
                result_type text NOT NULL,
                sessions bigint NOT NULL,
                PRIMARY KEY (day, policy_domain, policy_type, policy_hash, receiving_mx,
                    receiving_ip, result_type)
            )""",
            """CREATE TABLE tlsrpt_reports (
                report_id text PRIMARY KEY,
                day text NOT NULL,
                policy_domain text NOT NULL,
                created_at float8 NOT NULL,
                report text NOT NULL,
                UNIQUE (day, policy_domain)
            )""",
            """CREATE TABLE tlsrpt_report_targets (
                report_id text NOT NULL,
                uri text NOT NULL,
                state text NOT NULL,
                detail text,
                updated_at float8 NOT NULL,
                PRIMARY KEY (report_id, uri)
            )""",
        ),
    ),
    (
        8,
        (
            # TLS-RPT reports we received (RFC 8460; store/postgres/received_reports), as on
            # SQLite (its version 10): unique on (organization, report_id), so a resend, or
            # two nodes reading the same held report, is stored once. The grants
            # tls_reports/modify and tls_reports/view come with this version; no existing
            # key gets them.
            """CREATE TABLE tlsrpt_received (
                id text COLLATE "C" PRIMARY KEY,
                organization text NOT NULL,
                report_id text NOT NULL,
                start_time float8 NOT NULL,
                end_time float8 NOT NULL,
                policy_domains text NOT NULL,
                successful bigint NOT NULL,
                failed bigint NOT NULL,
                contact_info text NOT NULL,
                received_at float8 NOT NULL,
                source text NOT NULL CHECK (source IN ('mail', 'api')),
                message_id text,
                report text NOT NULL,
                UNIQUE (organization, report_id)
            )""",
        ),
    ),
    # Version 9 was never used: migrations apply in list order, and a gap is allowed.
    (
        10,
        (
            # The suppression list (store/postgres/suppressions): one row per recipient (the
            # address lower-cased whole) and type; byte order for the search's cursor.
            """CREATE TABLE suppressions (
                recipient text COLLATE "C" NOT NULL,
                type text COLLATE "C" NOT NULL
                    CHECK (type IN ('transactional', 'non_transactional')),
                source text NOT NULL,
                description text NOT NULL,
                created float8 NOT NULL,
                updated float8 NOT NULL,
                PRIMARY KEY (recipient, type)
            )""",
            "CREATE INDEX suppressions_updated ON suppressions (updated)",
            # suppression_lists/view is a grant added later: every key that may manage the
            # list may also read it.
            """UPDATE api_keys SET grants = grants || ' suppression_lists/view'
                WHERE ' ' || grants || ' ' LIKE '% suppression_lists/manage %'""",
        ),
    ),
    (
        11,
        (
            # Queue administration (model/queue_admin.py), as SQLite's version 13: the
            # operator's mark on a message ('hold': `queue release` releases only these,
            # never local held mail; 'bounce': the dispatcher fails it with a DSN) ...
            """ALTER TABLE messages ADD COLUMN admin_mark text
                CHECK (admin_mark IN ('hold', 'bounce'))""",
            # ... and the standing suspensions of destination domains, which every node
            # reads at each claim; `until` NULL: until resumed.
            """CREATE TABLE queue_suspensions (
                domain text COLLATE "C" PRIMARY KEY,
                created_at float8 NOT NULL,
                until float8,
                reason text NOT NULL DEFAULT '',
                created_by text NOT NULL DEFAULT ''
            )""",
            # The read grant 'queue/view' (GET /queue, /queue/suspensions) is new: a key
            # that could manage the queue may read it too; no other key gets it.
            """UPDATE api_keys SET grants = grants || ' queue/view'
                WHERE ' ' || grants || ' ' LIKE '% queue/manage %'""",
        ),
    ),
    (
        12,
        (
            # Retention (store/postgres/retention), as SQLite's version 14: the purger
            # finds messages in a final state, and idempotency keys, from the oldest
            # without reading the tables. Space comes back through autovacuum.
            """CREATE INDEX IF NOT EXISTS messages_final ON messages (next_attempt_at)
                WHERE state IN ('done', 'cancelled')""",
            "CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at)",
        ),
    ),
    (
        13,
        (
            # The sending domains' DKIM private keys, as SQLite's version 15: sealed with
            # AES-256-GCM under the cluster's [dkim] key-encryption key (dkim/sealing.py), so
            # a key made through one node's API signs on every node.
            """CREATE TABLE dkim_keys (
                domain text COLLATE "C" NOT NULL,
                selector text COLLATE "C" NOT NULL,
                sealed bytea NOT NULL,
                created_at float8 NOT NULL,
                PRIMARY KEY (domain, selector)
            )""",
        ),
    ),
    (
        15,
        (
            # As SQLite's version 17: the held messages the door found the marks of a
            # TLS-RPT report on, written in the message's transaction; the intake reads only
            # these. Held mail the intake has not read yet (past its cursor) is marked.
            """CREATE TABLE tlsrpt_marks (
                message_id text COLLATE "C" PRIMARY KEY
            )""",
            """INSERT INTO tlsrpt_marks (message_id)
                SELECT id FROM messages WHERE state = 'held' AND id > COALESCE(
                    (SELECT payload::jsonb ->> 'after' FROM documents
                        WHERE kind = 'tlsrpt_intake' AND id = 'held'), '')""",
        ),
    ),
    (
        16,
        (
            # As SQLite's version 18: transmission records are purged by age from the oldest,
            # and GET /api/v1/transmissions reads only the scheduled ones (not_before ahead).
            "CREATE INDEX IF NOT EXISTS documents_updated ON documents (kind, updated_at)",
            """CREATE INDEX IF NOT EXISTS documents_not_before
                ON documents (kind, ((payload::jsonb ->> 'not_before')::float8))""",
        ),
    ),
    (
        17,
        (
            # The ids of the key-encryption keys each node's keyring holds, comma-separated,
            # renewed with the heartbeat: `sealpost dkim reseal` checks every live node has
            # the current one. '' = not published (a node of an older version).
            "ALTER TABLE nodes ADD COLUMN IF NOT EXISTS kek_ids text NOT NULL DEFAULT ''",
        ),
    ),
)

NEWEST = MIGRATIONS[-1][0]


async def current_version(conn: asyncpg.Connection) -> int:
    """The version the database is at; 0 for an empty database."""
    if not await conn.fetchval(sql.VERSION_TABLE_EXISTS):
        return 0
    return int(await conn.fetchval(sql.SELECT_VERSION) or 0)


async def migrate(conn: asyncpg.Connection) -> tuple[int, int]:
    """Bring the schema up to date; returns the versions before and after.

    Safe when several nodes (or ``sealpost store migrate``) run it at once: they queue on the
    advisory lock, and each reads the version only once it holds it.
    """
    async with conn.transaction():
        await conn.execute(sql.LOCK_MIGRATIONS)
        await conn.execute(sql.CREATE_VERSION_TABLE)
        before = int(await conn.fetchval(sql.SELECT_VERSION) or 0)
        if before > NEWEST:
            raise StoreError(
                f"queue database schema version {before} is newer than this Sealpost "
                f"understands ({NEWEST}); upgrade Sealpost"
            )
        for version, statements in MIGRATIONS:
            if version <= before:
                continue
            for statement in statements:
                await conn.execute(statement)
            await conn.execute(sql.INSERT_VERSION, version)
    return before, max(before, NEWEST)
