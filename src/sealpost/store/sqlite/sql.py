"""Every SQL statement of the SQLite backend, by name (the schema's own DDL lives in the
numbered migrations of ``schema``).

A statement with optional filters is built here too (``list_query``, ``events_query``,
``event_search``), from fixed fragments and ``?`` placeholders only: no value is ever
formatted into SQL. Transaction control (``BEGIN``, ``SAVEPOINT``) stays with the code that
owns the transaction (``writer``, ``database``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sealpost.model.events import EventQuery
from sealpost.model.suppression import SuppressionQuery

# --- connections ----------------------------------------------------------------------------
# RFC 5321 section 6.1 ("MUST NOT lose" an acknowledged message): WAL journal with
# synchronous=FULL, so each COMMIT fsyncs the WAL before it returns.
# A new file only (before its first table; see schema version 14). Not sent to an existing
# file: there it changes nothing but still needs room to write, and a server starting on a
# full disk must open its queue (docs/operations.md, Disk space).
NEW_FILE_PRAGMAS = ("PRAGMA auto_vacuum=INCREMENTAL",)
WRITER_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=OFF",
    # Each write of a batch runs in its own SAVEPOINT (``writer``), whose undo copies of the
    # pages it changes go to a sub-journal; on the default temp_store that spills to a new
    # temporary file past 64 KiB (access, open, write, unlink: ~40 a second per worker under
    # load). In memory it is emptied at each RELEASE, so it stays one write's pages. Measured:
    # 4-13% more msgs/s in case c (docs/benchmarks.md, 2026-12-04).
    "PRAGMA temp_store=MEMORY",
)
READER_PRAGMAS = (
    "PRAGMA busy_timeout=10000",
    "PRAGMA query_only=ON",
)
# _read_now's connection, used on the event loop's thread: never wait for a lock there.
INLINE_READER_PRAGMAS = (
    "PRAGMA busy_timeout=0",
    "PRAGMA query_only=ON",
)
JOURNAL_MODE = "PRAGMA journal_mode"

# --- schema version -------------------------------------------------------------------------
CREATE_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
SELECT_VERSION = "SELECT max(version) FROM schema_version"
INSERT_VERSION = "INSERT INTO schema_version (version) VALUES (?)"

# --- messages -------------------------------------------------------------------------------
INSERT_MESSAGE = """INSERT INTO messages (id, created_at, state, next_attempt_at, attempts,
    mail_from, rcpt_count, listener, tls_version, size, envelope, session, data)
    VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)"""
# A held message that may be a TLS-RPT report (schema version 17): the intake's reading list.
INSERT_REPORT_MARK = "INSERT INTO tlsrpt_marks (message_id) VALUES (?)"
SELECT_REPORT_MARKED = """SELECT k.message_id FROM tlsrpt_marks k
    JOIN messages m ON m.id = k.message_id
    WHERE k.message_id > ? AND m.state = 'held' ORDER BY k.message_id LIMIT ?"""
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
# The metrics' queue depth: ranges of the index messages_state (state, id), so the cost
# follows the waiting mail, never the done history. Ids sort by arrival (model/ids.py).
COUNT_IN_STATE = "SELECT count(*) FROM messages WHERE state = ?"
OLDEST_IN_STATE = "SELECT created_at FROM messages WHERE state = ? ORDER BY id LIMIT 1"

# Held messages sit in their own ('held', ...) range of messages_due: the walk never sees them.
SELECT_DUE = """SELECT rowid FROM messages INDEXED BY messages_due
    WHERE state = 'queued' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
    ORDER BY next_attempt_at LIMIT ?"""
SET_LEASE = """UPDATE messages SET lease_token = ?, lease_until = ? WHERE rowid = ?
    RETURNING id, admin_mark"""
SELECT_LEASE = "SELECT state, lease_token FROM messages WHERE id = ?"
UPDATE_RECIPIENT = """UPDATE recipients SET status = ?, attempts = ?, last_reply = ?
    WHERE message_id = ? AND idx = ?"""
FINISH_ATTEMPT = """UPDATE messages SET state = ?, attempts = attempts + 1, next_attempt_at = ?,
    lease_token = NULL, lease_until = NULL WHERE id = ?"""
RELEASE_LEASE = """UPDATE messages SET lease_token = NULL, lease_until = NULL
    WHERE id = ? AND lease_token = ?"""
RELEASE_ALL_LEASES = """UPDATE messages SET lease_token = NULL, lease_until = NULL
    WHERE lease_token IS NOT NULL"""
# One worker's leases: their tokens start with its prefix (``ops.claim``).
RELEASE_PREFIXED_LEASES = """UPDATE messages SET lease_token = NULL, lease_until = NULL
    WHERE lease_token IS NOT NULL AND substr(lease_token, 1, length(?1)) = ?1"""
# Due now; a held message is released to the queue (Postfix `postsuper -H`).
RETRY_NOW = """UPDATE messages SET state = 'queued', next_attempt_at = ?
    WHERE id = ? AND state IN ('queued', 'held')"""
CANCEL_MESSAGE = """UPDATE messages SET state = 'cancelled'
    WHERE id = ? AND state IN ('queued', 'held')"""
CANCEL_RECIPIENTS = """UPDATE recipients SET status = 'cancelled'
    WHERE message_id = ? AND status = 'queued'"""


def list_query(*, state: bool, after: bool) -> str:
    """The ``list`` statement with only the filters in use, so the id index stays usable."""
    where = [clause for clause, used in (("state = ?", state), ("id > ?", after)) if used]
    sql = f"SELECT {SUMMARY_COLUMNS} FROM messages"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY id LIMIT ?"


# --- idempotency ----------------------------------------------------------------------------
INSERT_IDEMPOTENCY = (
    "INSERT INTO idempotency (key, fingerprint, response, created_at) VALUES (?, ?, ?, ?)"
)
SELECT_IDEMPOTENCY = "SELECT key, fingerprint, response, created_at FROM idempotency WHERE key = ?"

# --- api keys -------------------------------------------------------------------------------
KEY_COLUMNS = "id, label, salt, digest, created_at, revoked_at, sender_domains, grants"
INSERT_KEY = f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
SELECT_KEY = f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?"
SELECT_KEYS = f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
REVOKE_KEY = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"

# --- events ---------------------------------------------------------------------------------
INSERT_EVENT = """INSERT INTO events (type, message_id, rcpt_to, timestamp, fields)
    VALUES (?, ?, ?, ?, ?)"""
EVENT_COLUMNS = "event_id, type, message_id, rcpt_to, timestamp, fields"


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


def event_search(query: EventQuery, *, count: bool) -> tuple[str, list[Any]]:
    """The ``search_events`` statement (``count``: the ``count_events`` one, which ignores
    the cursor and the limit) and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []

    def any_of(column: str, values: Sequence[str]) -> None:
        if values:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)

    any_of("type", query.types)
    any_of("message_id", query.message_ids)
    any_of("rcpt_to", [r.lower() for r in query.recipients])
    any_of("json_extract(fields, '$.transmission_id')", query.transmission_ids)
    any_of("json_extract(fields, '$.campaign_id')", query.campaign_ids)
    any_of("lower(json_extract(fields, '$.msg_from'))", [s.lower() for s in query.senders])
    if query.from_time is not None:
        clauses.append("timestamp >= ?")
        params.append(query.from_time)
    if query.to_time is not None:
        clauses.append("timestamp <= ?")
        params.append(query.to_time)
    if not count and query.after is not None:
        clauses.append("event_id < ?" if query.newest_first else "event_id > ?")
        params.append(query.after)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    if count:
        return f"SELECT count(*) FROM events{where}", params
    order = "event_id DESC" if query.newest_first else "event_id"
    sql = f"SELECT {EVENT_COLUMNS} FROM events{where} ORDER BY {order} LIMIT ?"
    return sql, [*params, max(query.limit, 0)]


# --- policies -------------------------------------------------------------------------------
SELECT_POLICY = "SELECT payload FROM policies WHERE key = ?"
UPSERT_POLICY = """INSERT INTO policies (key, payload) VALUES (?, ?)
    ON CONFLICT (key) DO UPDATE SET payload = excluded.payload"""

# --- documents ------------------------------------------------------------------------------
DOCUMENT_COLUMNS = "kind, id, payload, updated_at"
UPSERT_DOCUMENT = f"""INSERT INTO documents ({DOCUMENT_COLUMNS}) VALUES (?, ?, ?, ?)
    ON CONFLICT (kind, id) DO UPDATE SET payload = excluded.payload,
    updated_at = excluded.updated_at"""
INSERT_DOCUMENT = f"""INSERT INTO documents ({DOCUMENT_COLUMNS}) VALUES (?, ?, ?, ?)
    ON CONFLICT (kind, id) DO NOTHING"""
SELECT_DOCUMENT = f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = ? AND id = ?"
SELECT_DOCUMENTS = f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = ? ORDER BY id"
# Through documents_not_before (schema 16): the expression must read as the index's does,
# and no ORDER BY id, or SQLite walks the primary key (every document of the kind) instead.
SELECT_SCHEDULED_DOCUMENTS = f"""SELECT {DOCUMENT_COLUMNS} FROM documents
    WHERE kind = ? AND json_extract(payload, '$.not_before') > ?"""
DOCUMENT_EXISTS = "SELECT 1 FROM documents WHERE kind = ? AND id = ?"
DELETE_DOCUMENT = "DELETE FROM documents WHERE kind = ? AND id = ?"
# ConfigChanges: per kind, how many documents and the sum of their updated_at in milliseconds
CONFIG_FINGERPRINTS = """SELECT kind, count(*), sum(CAST(updated_at * 1000 AS INTEGER))
    FROM documents WHERE kind IN (SELECT value FROM json_each(?)) GROUP BY kind"""

# --- webhook delivery state -----------------------------------------------------------------
WEBHOOK_STATE_COLUMNS = """webhook_id, since, cursor, pending_batch_id, pending_last_event_id,
    pending_size, pending_attempts, pending_first_attempt_at, pending_next_attempt_at,
    last_successful, last_failure"""
UPSERT_WEBHOOK_STATE = f"""INSERT INTO webhook_state ({WEBHOOK_STATE_COLUMNS}, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (webhook_id) DO UPDATE SET since = excluded.since, cursor = excluded.cursor,
    pending_batch_id = excluded.pending_batch_id,
    pending_last_event_id = excluded.pending_last_event_id,
    pending_size = excluded.pending_size, pending_attempts = excluded.pending_attempts,
    pending_first_attempt_at = excluded.pending_first_attempt_at,
    pending_next_attempt_at = excluded.pending_next_attempt_at,
    last_successful = excluded.last_successful, last_failure = excluded.last_failure,
    updated_at = excluded.updated_at"""
SELECT_WEBHOOK_STATE = f"SELECT {WEBHOOK_STATE_COLUMNS} FROM webhook_state WHERE webhook_id = ?"
SELECT_WEBHOOK_STATE_IDS = "SELECT webhook_id FROM webhook_state ORDER BY webhook_id"
DELETE_WEBHOOK_STATE = "DELETE FROM webhook_state WHERE webhook_id = ?"

BATCH_STATUS_COLUMNS = "batch_id, ts, attempts, response_code, failure_code, latency_ms"
INSERT_BATCH_STATUS = f"""INSERT INTO webhook_batch_status (webhook_id, seq, {BATCH_STATUS_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""
SELECT_BATCH_STATUS = f"""SELECT {BATCH_STATUS_COLUMNS} FROM webhook_batch_status
    WHERE webhook_id = ? ORDER BY seq"""
DELETE_BATCH_STATUS = "DELETE FROM webhook_batch_status WHERE webhook_id = ?"

# --- TLS memory (schema version 8) ----------------------------------------------------------
UPSERT_BROKEN_TLS = """INSERT INTO broken_tls (host, port, until) VALUES (?, ?, ?)
    ON CONFLICT (host, port) DO UPDATE SET until = excluded.until"""
SELECT_BROKEN_TLS = "SELECT until FROM broken_tls WHERE host = ? AND port = ? AND until > ?"
PRUNE_BROKEN_TLS = "DELETE FROM broken_tls WHERE until <= ?"
UPSERT_STS_HOLDOFF = """INSERT INTO sts_fetch_holdoffs (domain, policy_id, until, failure, detail)
    VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id, until = excluded.until,
    failure = excluded.failure, detail = excluded.detail"""
SELECT_STS_HOLDOFF = """SELECT policy_id, until, failure, detail FROM sts_fetch_holdoffs
    WHERE domain = ? AND until > ?"""
PRUNE_STS_HOLDOFFS = "DELETE FROM sts_fetch_holdoffs WHERE until <= ?"
DELETE_STS_HOLDOFF = "DELETE FROM sts_fetch_holdoffs WHERE domain = ?"


# --- TLS-RPT reports we send (RFC 8460; schema version 9) -----------------------------------------
_TALLY_KEY = "day, policy_domain, policy_type, policy_hash, receiving_mx, receiving_ip, result_type"
_TALLY_COLUMNS = """day, policy_domain, policy_type, policy_hash, policy, receiving_mx,
    receiving_ip, result_type, sessions"""
UPSERT_TLS_TALLY = f"""INSERT INTO tlsrpt_tallies ({_TALLY_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT ({_TALLY_KEY})
    DO UPDATE SET sessions = tlsrpt_tallies.sessions + excluded.sessions"""
SELECT_TLS_TALLIES = f"""SELECT {_TALLY_COLUMNS} FROM tlsrpt_tallies WHERE day = ?
    ORDER BY {_TALLY_KEY}"""
INSERT_TLS_REPORT = """INSERT INTO tlsrpt_reports
    (report_id, day, policy_domain, created_at, report)
    VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"""
INSERT_TLS_TARGET = """INSERT INTO tlsrpt_report_targets
    (report_id, uri, state, detail, updated_at)
    VALUES (?, ?, ?, ?, ?)"""
UPDATE_TLS_TARGET = """UPDATE tlsrpt_report_targets SET state = ?3, detail = ?4, updated_at = ?5
    WHERE report_id = ?1 AND uri = ?2"""
_REPORT_COLUMNS = "report_id, day, policy_domain, created_at, report"
SELECT_TLS_REPORTS = f"""SELECT {_REPORT_COLUMNS} FROM tlsrpt_reports
    ORDER BY day DESC, policy_domain LIMIT ?"""
SELECT_TLS_REPORTS_OF_DAY = f"""SELECT {_REPORT_COLUMNS} FROM tlsrpt_reports WHERE day = ?
    ORDER BY policy_domain LIMIT ?"""
SELECT_TLS_TARGETS = """SELECT report_id, uri, state, detail, updated_at
    FROM tlsrpt_report_targets WHERE report_id = ? ORDER BY uri"""
DELETE_TLS_TALLIES_BEFORE = "DELETE FROM tlsrpt_tallies WHERE day < ?"
DELETE_TLS_TARGETS_BEFORE = """DELETE FROM tlsrpt_report_targets WHERE report_id IN
    (SELECT report_id FROM tlsrpt_reports WHERE day < ?)"""
DELETE_TLS_REPORTS_BEFORE = "DELETE FROM tlsrpt_reports WHERE day < ?"

# --- received TLS-RPT reports (schema version 10) -------------------------------------------
RECEIVED_REPORT_COLUMNS = """id, organization, report_id, start_time, end_time, policy_domains,
    successful, failed, contact_info, received_at, source, message_id, report"""
INSERT_RECEIVED_REPORT = f"""INSERT INTO tlsrpt_received ({RECEIVED_REPORT_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (organization, report_id) DO NOTHING"""
SELECT_RECEIVED_REPORT = f"SELECT {RECEIVED_REPORT_COLUMNS} FROM tlsrpt_received WHERE id = ?"
SELECT_RECEIVED_REPORT_BY_SENDER = f"""SELECT {RECEIVED_REPORT_COLUMNS} FROM tlsrpt_received
    WHERE organization = ? AND report_id = ?"""
# list_received_reports adds its filters to this (store/sqlite/received_reports.py); a policy domain
# matches a whole word of the space-separated policy_domains.
SELECT_RECEIVED_REPORTS = f"SELECT {RECEIVED_REPORT_COLUMNS} FROM tlsrpt_received WHERE 1 = 1"
RECEIVED_REPORT_HAS_DOMAIN = "instr(' ' || policy_domains || ' ', ' ' || ? || ' ') > 0"

# --- suppression list (schema version 12) ---------------------------------------------------
SUPPRESSION_COLUMNS = "recipient, type, source, description, created, updated"
UPSERT_SUPPRESSION = f"""INSERT INTO suppressions ({SUPPRESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (recipient, type) DO UPDATE SET source = excluded.source,
    description = excluded.description, updated = excluded.updated"""
INSERT_SUPPRESSION_IF_NEW = f"""INSERT INTO suppressions ({SUPPRESSION_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (recipient, type) DO NOTHING"""
SELECT_SUPPRESSIONS_OF = f"""SELECT {SUPPRESSION_COLUMNS} FROM suppressions
    WHERE recipient = ? ORDER BY type"""
DELETE_SUPPRESSIONS = "DELETE FROM suppressions WHERE recipient = ?"
DELETE_SUPPRESSION = "DELETE FROM suppressions WHERE recipient = ? AND type = ?"
SUPPRESSED_CHUNK = 500  # recipients per suppressed_among statement


def suppressed_query(count: int) -> str:
    """Which of ``count`` recipients (then the type) have an entry of that type."""
    marks = ", ".join("?" * count)
    return f"SELECT recipient FROM suppressions WHERE recipient IN ({marks}) AND type = ?"


def suppression_filter(query: SuppressionQuery) -> tuple[str, list[Any]]:
    """The WHERE clause (or "") and parameters of a search, without cursor and limit."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.updated_from is not None:
        clauses.append("updated >= ?")
        params.append(query.updated_from)
    if query.updated_to is not None:
        clauses.append("updated <= ?")
        params.append(query.updated_to)
    if query.types:
        clauses.append(f"type IN ({', '.join('?' * len(query.types))})")
        params.extend(t.value for t in query.types)
    if query.sources:
        clauses.append(f"source IN ({', '.join('?' * len(query.sources))})")
        params.extend(s.value for s in query.sources)
    if query.domain is not None:
        suffix = "@" + query.domain
        clauses.append("substr(recipient, -?) = ?")
        params.extend((len(suffix), suffix))
    return " AND ".join(clauses), params


def suppression_search(query: SuppressionQuery) -> tuple[str, list[Any]]:
    """A page of the search, walking the primary key from ``query.after``."""
    where, params = suppression_filter(query)
    if query.after is not None:
        where = f"{where} AND (recipient, type) > (?, ?)" if where else "(recipient, type) > (?, ?)"
        params.extend(query.after)
    sql = f"SELECT {SUPPRESSION_COLUMNS} FROM suppressions"
    if where:
        sql += f" WHERE {where}"
    return f"{sql} ORDER BY recipient, type LIMIT ?", [*params, query.limit]


def suppression_count(query: SuppressionQuery) -> tuple[str, list[Any]]:
    where, params = suppression_filter(query)
    return "SELECT count(*) FROM suppressions" + (f" WHERE {where}" if where else ""), params


# -- sending domains' DKIM keys (sealed) -------------------------------------------------------

UPSERT_DKIM_KEY = """INSERT INTO dkim_keys (domain, selector, sealed, created_at)
    VALUES (?, ?, ?, ?)
    ON CONFLICT (domain, selector) DO UPDATE SET
        sealed = excluded.sealed, created_at = excluded.created_at"""
SELECT_DKIM_KEY = "SELECT sealed FROM dkim_keys WHERE domain = ? AND selector = ?"
SELECT_DKIM_KEYS = "SELECT domain, selector, sealed FROM dkim_keys ORDER BY domain, selector"
REPLACE_DKIM_KEY = (
    "UPDATE dkim_keys SET sealed = ? WHERE domain = ? AND selector = ? AND sealed = ?"
)
DELETE_DKIM_KEY = "DELETE FROM dkim_keys WHERE domain = ? AND selector = ?"
