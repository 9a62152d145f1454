"""Every SQL statement of the PostgreSQL backend, by name (the DDL lives in ``schema``).

Statements with optional filters are built here from fixed fragments and numbered ``$n``
placeholders (``Params``): no value is ever formatted into SQL. Transaction control
(``BEGIN``, ``SAVEPOINT``, ``COMMIT``) stays with the code that owns the transaction
(``writer``, ``database``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sealpost.model.events import EventQuery
from sealpost.model.suppression import SuppressionQuery

# --- locks and notifications ----------------------------------------------------------------
# Advisory lock keys (one 64-bit key space per database): "sealpost" in ASCII, then a kind.
MIGRATIONS_LOCK = 0x7365616C706F7301
EVENTS_LOCK = 0x7365616C706F7302
LOCK_MIGRATIONS = f"SELECT pg_advisory_xact_lock({MIGRATIONS_LOCK})"
LOCK_EVENTS = f"SELECT pg_advisory_xact_lock({EVENTS_LOCK})"
QUEUE_CHANNEL = "sealpost_queue"  # LISTEN/NOTIFY: new mail was committed
NOTIFY_QUEUE = f"NOTIFY {QUEUE_CHANNEL}"
CONFIG_CHANNEL = "sealpost_config"  # LISTEN/NOTIFY: a setting (payload: its kind) changed
# RFC 5321 section 6.1: COMMIT returns only once the WAL is flushed to disk. The server's
# default is on; the writer sets it on its own session so a role or database default of
# "off" (or "local" with a standby) cannot weaken an acknowledged write.
DURABLE_SESSION = "SET synchronous_commit = on"

# --- schema version -------------------------------------------------------------------------
VERSION_TABLE_EXISTS = "SELECT to_regclass('schema_version') IS NOT NULL"
CREATE_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)"
SELECT_VERSION = "SELECT max(version) FROM schema_version"
INSERT_VERSION = "INSERT INTO schema_version (version) VALUES ($1)"

# --- messages -------------------------------------------------------------------------------
INSERT_MESSAGE = """INSERT INTO messages (id, created_at, state, next_attempt_at, attempts,
    mail_from, rcpt_count, listener, tls_version, size, envelope, session, data)
    VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8, $9, $10, $11, $12)"""
# A held message that may be a TLS-RPT report (schema version 15): the intake's reading list.
INSERT_REPORT_MARK = "INSERT INTO tlsrpt_marks (message_id) VALUES ($1)"
SELECT_REPORT_MARKED = """SELECT k.message_id FROM tlsrpt_marks k
    JOIN messages m ON m.id = k.message_id
    WHERE k.message_id > $1 AND m.state = 'held' ORDER BY k.message_id LIMIT $2"""
INSERT_RECIPIENT = """INSERT INTO recipients (message_id, idx, address, status)
    VALUES ($1, $2, $3, 'queued')"""
MESSAGE_COLUMNS = (
    "id, created_at, state, next_attempt_at, attempts, mail_from, envelope, session, data"
)
SELECT_MESSAGE = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
SELECT_RECIPIENTS = """SELECT address, status, attempts, last_reply FROM recipients
    WHERE message_id = $1 ORDER BY idx"""
SELECT_RECIPIENTS_OF = """SELECT message_id, address, status, attempts, last_reply
    FROM recipients WHERE message_id = ANY($1::text[]) ORDER BY message_id, idx"""
SUMMARY_COLUMNS = """id, mail_from, rcpt_count, size, created_at, state, next_attempt_at,
    attempts, listener, tls_version"""
COUNT_BY_STATE = "SELECT state, count(*) FROM messages GROUP BY state"
# The metrics' queue depth: ranges of the index messages_state (state, id), so the cost
# follows the waiting mail, never the done history. Ids sort by arrival (model/ids.py).
COUNT_IN_STATE = "SELECT count(*) FROM messages WHERE state = $1"
OLDEST_IN_STATE = "SELECT created_at FROM messages WHERE state = $1 ORDER BY id LIMIT 1"

# Due order from the partial index messages_due (held mail is not in it); rows another node
# (or this one) has locked are skipped, not waited for, and an expired lease counts as no
# lease: its holder crashed or lost the database, and the message is taken over (security
# checklist K11). The new lease carries this node's id. RETURNING order is unspecified: the
# caller sorts.
CLAIM_DUE = f"""UPDATE messages AS m
    SET lease_token = replace(gen_random_uuid()::text, '-', ''), lease_until = $3,
        lease_node = $4
    FROM (SELECT id FROM messages
          WHERE state = 'queued' AND next_attempt_at <= $1
            AND (lease_until IS NULL OR lease_until < $1)
          ORDER BY next_attempt_at, id LIMIT $2
          FOR UPDATE SKIP LOCKED) AS due
    WHERE m.id = due.id
    RETURNING m.lease_token, {", ".join(f"m.{c.strip()}" for c in MESSAGE_COLUMNS.split(","))},
        m.admin_mark"""
SELECT_LEASE = "SELECT state, lease_token FROM messages WHERE id = $1 FOR UPDATE"
UPDATE_RECIPIENT = """UPDATE recipients SET status = $1, attempts = $2, last_reply = $3
    WHERE message_id = $4 AND idx = $5"""
FINISH_ATTEMPT = """UPDATE messages SET state = $1, attempts = attempts + 1,
    next_attempt_at = $2, lease_token = NULL, lease_until = NULL, lease_node = NULL
    WHERE id = $3"""
RELEASE_LEASE = """UPDATE messages SET lease_token = NULL, lease_until = NULL, lease_node = NULL
    WHERE id = $1 AND lease_token = $2"""
# A node's leases: its own id, or one of its workers' (``node/1``).
RELEASE_NODE_LEASES = """UPDATE messages SET lease_token = NULL, lease_until = NULL,
    lease_node = NULL WHERE lease_node = $1 OR left(lease_node, length($1) + 1) = $1 || '/'"""
RELEASE_OWNER_LEASES = """UPDATE messages SET lease_token = NULL, lease_until = NULL,
    lease_node = NULL WHERE lease_node = $1"""
# Due now; a held message is released to the queue (Postfix `postsuper -H`).
RETRY_NOW = """UPDATE messages SET state = 'queued', next_attempt_at = $1
    WHERE id = $2 AND state IN ('queued', 'held')"""
CANCEL_MESSAGE = """UPDATE messages SET state = 'cancelled'
    WHERE id = $1 AND state IN ('queued', 'held')"""
CANCEL_RECIPIENTS = """UPDATE recipients SET status = 'cancelled'
    WHERE message_id = $1 AND status = 'queued'"""

# --- idempotency ----------------------------------------------------------------------------
INSERT_IDEMPOTENCY = """INSERT INTO idempotency (key, fingerprint, response, created_at)
    VALUES ($1, $2, $3, $4)"""
SELECT_IDEMPOTENCY = "SELECT key, fingerprint, response, created_at FROM idempotency WHERE key = $1"

# --- api keys -------------------------------------------------------------------------------
KEY_COLUMNS = "id, label, salt, digest, created_at, revoked_at, sender_domains, grants"
INSERT_KEY = f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
SELECT_KEY = f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"
SELECT_KEYS = f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
REVOKE_KEY = "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"

# --- events ---------------------------------------------------------------------------------
INSERT_EVENT = """INSERT INTO events (type, message_id, rcpt_to, timestamp, fields)
    VALUES ($1, $2, $3, $4, $5::json)"""
EVENT_COLUMNS = "event_id, type, message_id, rcpt_to, timestamp, fields::text"


class Params:
    """Values of a statement under construction; ``add`` returns the placeholder."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def list_query(*, state: str | None, after: str | None, limit: int) -> tuple[str, list[Any]]:
    """The ``list`` statement with only the filters in use, so the id index stays usable."""
    p = Params()
    where = []
    if state is not None:
        where.append(f"state = {p.add(state)}")
    if after is not None:
        where.append(f"id > {p.add(after)}")
    statement = f"SELECT {SUMMARY_COLUMNS} FROM messages"
    if where:
        statement += " WHERE " + " AND ".join(where)
    return f"{statement} ORDER BY id LIMIT {p.add(limit)}", p.values


def events_query(
    *, after: int | None, types: Sequence[str], message_id: str | None, limit: int
) -> tuple[str, list[Any]]:
    """The ``list_events`` statement with only the filters in use."""
    p = Params()
    where = []
    if after is not None:
        where.append(f"event_id > {p.add(after)}")
    if types:
        where.append(f"type = ANY({p.add(list(types))}::text[])")
    if message_id is not None:
        where.append(f"message_id = {p.add(message_id)}")
    statement = f"SELECT {EVENT_COLUMNS} FROM events"
    if where:
        statement += " WHERE " + " AND ".join(where)
    return f"{statement} ORDER BY event_id LIMIT {p.add(limit)}", p.values


def event_search(query: EventQuery, *, count: bool) -> tuple[str, list[Any]]:
    """The ``search_events`` statement (``count``: the ``count_events`` one, which ignores
    the cursor and the limit) and its parameters."""
    p = Params()
    clauses: list[str] = []

    def any_of(column: str, values: Sequence[str]) -> None:
        if values:
            clauses.append(f"{column} = ANY({p.add(list(values))}::text[])")

    any_of("type", query.types)
    any_of("message_id", query.message_ids)
    any_of("rcpt_to", [r.lower() for r in query.recipients])
    any_of("fields->>'transmission_id'", query.transmission_ids)
    any_of("fields->>'campaign_id'", query.campaign_ids)
    any_of("lower(fields->>'msg_from')", [s.lower() for s in query.senders])
    if query.from_time is not None:
        clauses.append(f"timestamp >= {p.add(query.from_time)}")
    if query.to_time is not None:
        clauses.append(f"timestamp <= {p.add(query.to_time)}")
    if not count and query.after is not None:
        past = "<" if query.newest_first else ">"
        clauses.append(f"event_id {past} {p.add(query.after)}")
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    if count:
        return f"SELECT count(*) FROM events{where}", p.values
    limit = p.add(max(query.limit, 0))
    order = "event_id DESC" if query.newest_first else "event_id"
    return f"SELECT {EVENT_COLUMNS} FROM events{where} ORDER BY {order} LIMIT {limit}", p.values


# --- policies -------------------------------------------------------------------------------
SELECT_POLICY = "SELECT payload FROM policies WHERE key = $1"
UPSERT_POLICY = """INSERT INTO policies (key, payload) VALUES ($1, $2)
    ON CONFLICT (key) DO UPDATE SET payload = excluded.payload"""

# --- documents ------------------------------------------------------------------------------
DOCUMENT_COLUMNS = "kind, id, payload, updated_at"
UPSERT_DOCUMENT = f"""INSERT INTO documents ({DOCUMENT_COLUMNS}) VALUES ($1, $2, $3, $4)
    ON CONFLICT (kind, id) DO UPDATE SET payload = excluded.payload,
    updated_at = excluded.updated_at"""
INSERT_DOCUMENT = f"""INSERT INTO documents ({DOCUMENT_COLUMNS}) VALUES ($1, $2, $3, $4)
    ON CONFLICT (kind, id) DO NOTHING"""
SELECT_DOCUMENT = f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = $1 AND id = $2"
SELECT_DOCUMENTS = f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE kind = $1 ORDER BY id"
# Through documents_not_before (schema 14): the expression must read as the index's does.
SELECT_SCHEDULED_DOCUMENTS = f"""SELECT {DOCUMENT_COLUMNS} FROM documents
    WHERE kind = $1 AND (payload::jsonb ->> 'not_before')::float8 > $2 ORDER BY id"""
DOCUMENT_EXISTS = "SELECT 1 FROM documents WHERE kind = $1 AND id = $2"
DELETE_DOCUMENT = "DELETE FROM documents WHERE kind = $1 AND id = $2"
# ConfigChanges: per kind, how many documents and the sum of their updated_at in milliseconds
CONFIG_FINGERPRINTS = """SELECT kind, count(*), sum(floor(updated_at * 1000)::bigint)
    FROM documents WHERE kind = ANY($1::text[]) GROUP BY kind"""
NOTIFY_CONFIG = f"SELECT pg_notify('{CONFIG_CHANNEL}', $1)"  # at COMMIT, to every node

# --- webhook delivery state -----------------------------------------------------------------
WEBHOOK_STATE_COLUMNS = """webhook_id, since, cursor, pending_batch_id, pending_last_event_id,
    pending_size, pending_attempts, pending_first_attempt_at, pending_next_attempt_at,
    last_successful, last_failure"""
UPSERT_WEBHOOK_STATE = f"""INSERT INTO webhook_state ({WEBHOOK_STATE_COLUMNS}, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
    ON CONFLICT (webhook_id) DO UPDATE SET since = excluded.since, cursor = excluded.cursor,
    pending_batch_id = excluded.pending_batch_id,
    pending_last_event_id = excluded.pending_last_event_id,
    pending_size = excluded.pending_size, pending_attempts = excluded.pending_attempts,
    pending_first_attempt_at = excluded.pending_first_attempt_at,
    pending_next_attempt_at = excluded.pending_next_attempt_at,
    last_successful = excluded.last_successful, last_failure = excluded.last_failure,
    updated_at = excluded.updated_at"""
SELECT_WEBHOOK_STATE = f"SELECT {WEBHOOK_STATE_COLUMNS} FROM webhook_state WHERE webhook_id = $1"
SELECT_WEBHOOK_STATE_IDS = "SELECT webhook_id FROM webhook_state ORDER BY webhook_id"
DELETE_WEBHOOK_STATE = "DELETE FROM webhook_state WHERE webhook_id = $1"
# The row comes back only when the insert or the update happened: the lease was free, is this
# node's ($2) already, or had expired ($4 = now). Otherwise another node holds it: no row.
LEASE_WEBHOOK = """INSERT INTO webhook_leases (webhook_id, node, lease_until) VALUES ($1, $2, $3)
    ON CONFLICT (webhook_id) DO UPDATE SET node = EXCLUDED.node, lease_until = EXCLUDED.lease_until
    WHERE webhook_leases.node = EXCLUDED.node OR webhook_leases.lease_until <= $4
    RETURNING node"""
RELEASE_WEBHOOK_LEASE = "DELETE FROM webhook_leases WHERE webhook_id = $1 AND node = $2"
DELETE_WEBHOOK_LEASE = "DELETE FROM webhook_leases WHERE webhook_id = $1"

BATCH_STATUS_COLUMNS = "batch_id, ts, attempts, response_code, failure_code, latency_ms"
INSERT_BATCH_STATUS = f"""INSERT INTO webhook_batch_status (webhook_id, seq, {BATCH_STATUS_COLUMNS})
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"""
SELECT_BATCH_STATUS = f"""SELECT {BATCH_STATUS_COLUMNS} FROM webhook_batch_status
    WHERE webhook_id = $1 ORDER BY seq"""
DELETE_BATCH_STATUS = "DELETE FROM webhook_batch_status WHERE webhook_id = $1"

# The lowest slot of the domain that is free or whose lease expired ($6 = now), below the
# limit ($5). Two nodes racing for the same slot: the second's insert waits for the first's
# commit, then its ON CONFLICT update finds a live lease and returns no row (it asks again).
TAKE_DOMAIN_SLOT = """INSERT INTO domain_slots (domain, slot, node, token, lease_until)
    SELECT $1, s, $2, $3, $4 FROM generate_series(0, $5 - 1) AS s
    WHERE NOT EXISTS (SELECT 1 FROM domain_slots d
        WHERE d.domain = $1 AND d.slot = s AND d.lease_until > $6)
    ORDER BY s LIMIT 1
    ON CONFLICT (domain, slot) DO UPDATE SET node = EXCLUDED.node, token = EXCLUDED.token,
        lease_until = EXCLUDED.lease_until
    WHERE domain_slots.lease_until <= $6
    RETURNING slot"""
FREE_DOMAIN_SLOT = "DELETE FROM domain_slots WHERE domain = $1 AND slot = $2 AND token = $3"
RELEASE_NODE_DOMAIN_SLOTS = """DELETE FROM domain_slots
    WHERE node = $1 OR left(node, length($1) + 1) = $1 || '/'"""
RELEASE_OWNER_DOMAIN_SLOTS = "DELETE FROM domain_slots WHERE node = $1"

# --- TLS memory (schema version 5), shared by every node ------------------------------------
UPSERT_BROKEN_TLS = """INSERT INTO broken_tls (host, port, until) VALUES ($1, $2, $3)
    ON CONFLICT (host, port) DO UPDATE SET until = EXCLUDED.until"""
SELECT_BROKEN_TLS = "SELECT until FROM broken_tls WHERE host = $1 AND port = $2 AND until > $3"
PRUNE_BROKEN_TLS = "DELETE FROM broken_tls WHERE until <= $1"
UPSERT_STS_HOLDOFF = """INSERT INTO sts_fetch_holdoffs (domain, policy_id, until, failure, detail)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (domain) DO UPDATE SET policy_id = EXCLUDED.policy_id, until = EXCLUDED.until,
    failure = EXCLUDED.failure, detail = EXCLUDED.detail"""
SELECT_STS_HOLDOFF = """SELECT policy_id, until, failure, detail FROM sts_fetch_holdoffs
    WHERE domain = $1 AND until > $2"""
PRUNE_STS_HOLDOFFS = "DELETE FROM sts_fetch_holdoffs WHERE until <= $1"
DELETE_STS_HOLDOFF = "DELETE FROM sts_fetch_holdoffs WHERE domain = $1"

# --- running nodes (schema version 6) -------------------------------------------------------
NODE_COLUMNS = "node_id, instance, host, pid, started_at, heartbeat_at, kek_ids"
# The row comes back only when the id was free, is this instance's already, its holder's
# heartbeat is older than $8 (= heartbeat_at - stale_after), or its holder is $9 (known dead).
# kek_ids (schema version 17): comma-separated key-encryption key ids, '' = not published.
REGISTER_NODE = f"""INSERT INTO nodes ({NODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (node_id) DO UPDATE SET instance = EXCLUDED.instance, host = EXCLUDED.host,
        pid = EXCLUDED.pid, started_at = EXCLUDED.started_at,
        heartbeat_at = EXCLUDED.heartbeat_at, kek_ids = EXCLUDED.kek_ids
    WHERE nodes.instance = EXCLUDED.instance OR nodes.heartbeat_at <= $8
        OR nodes.instance = $9
    RETURNING instance"""
SELECT_NODE = f"SELECT {NODE_COLUMNS} FROM nodes WHERE node_id = $1"
SELECT_NODES = f"SELECT {NODE_COLUMNS} FROM nodes ORDER BY node_id"
NODE_HEARTBEAT = """UPDATE nodes SET heartbeat_at = $3, kek_ids = COALESCE($4, kek_ids)
    WHERE node_id = $1 AND instance = $2"""
UNREGISTER_NODE = "DELETE FROM nodes WHERE node_id = $1 AND instance = $2"


# --- TLS-RPT reports we send (RFC 8460; schema version 7) -----------------------------------------
_TALLY_KEY = "day, policy_domain, policy_type, policy_hash, receiving_mx, receiving_ip, result_type"
_TALLY_COLUMNS = """day, policy_domain, policy_type, policy_hash, policy, receiving_mx,
    receiving_ip, result_type, sessions"""
UPSERT_TLS_TALLY = f"""INSERT INTO tlsrpt_tallies ({_TALLY_COLUMNS})
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT ({_TALLY_KEY})
    DO UPDATE SET sessions = tlsrpt_tallies.sessions + EXCLUDED.sessions"""
SELECT_TLS_TALLIES = f"""SELECT {_TALLY_COLUMNS} FROM tlsrpt_tallies WHERE day = $1
    ORDER BY {_TALLY_KEY}"""
INSERT_TLS_REPORT = """INSERT INTO tlsrpt_reports
    (report_id, day, policy_domain, created_at, report)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"""
INSERT_TLS_TARGET = """INSERT INTO tlsrpt_report_targets
    (report_id, uri, state, detail, updated_at)
    VALUES ($1, $2, $3, $4, $5)"""
UPDATE_TLS_TARGET = """UPDATE tlsrpt_report_targets SET state = $3, detail = $4, updated_at = $5
    WHERE report_id = $1 AND uri = $2"""
_REPORT_COLUMNS = "report_id, day, policy_domain, created_at, report"
SELECT_TLS_REPORTS = f"""SELECT {_REPORT_COLUMNS} FROM tlsrpt_reports
    ORDER BY day DESC, policy_domain LIMIT $1"""
SELECT_TLS_REPORTS_OF_DAY = f"""SELECT {_REPORT_COLUMNS} FROM tlsrpt_reports WHERE day = $1
    ORDER BY policy_domain LIMIT $2"""
SELECT_TLS_TARGETS = """SELECT report_id, uri, state, detail, updated_at
    FROM tlsrpt_report_targets WHERE report_id = $1 ORDER BY uri"""
DELETE_TLS_TALLIES_BEFORE = "DELETE FROM tlsrpt_tallies WHERE day < $1"
DELETE_TLS_TARGETS_BEFORE = """DELETE FROM tlsrpt_report_targets WHERE report_id IN
    (SELECT report_id FROM tlsrpt_reports WHERE day < $1)"""
DELETE_TLS_REPORTS_BEFORE = "DELETE FROM tlsrpt_reports WHERE day < $1"

# --- received TLS-RPT reports (schema version 8) --------------------------------------------
RECEIVED_REPORT_COLUMNS = """id, organization, report_id, start_time, end_time, policy_domains,
    successful, failed, contact_info, received_at, source, message_id, report"""
INSERT_RECEIVED_REPORT = f"""INSERT INTO tlsrpt_received ({RECEIVED_REPORT_COLUMNS})
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    ON CONFLICT (organization, report_id) DO NOTHING"""
SELECT_RECEIVED_REPORT = f"SELECT {RECEIVED_REPORT_COLUMNS} FROM tlsrpt_received WHERE id = $1"
SELECT_RECEIVED_REPORT_BY_SENDER = f"""SELECT {RECEIVED_REPORT_COLUMNS} FROM tlsrpt_received
    WHERE organization = $1 AND report_id = $2"""
# list_received_reports adds its filters to this (store/postgres/received_reports.py); a
# policy domain matches a whole word of the space-separated policy_domains. {n} is the
# parameter number.
SELECT_RECEIVED_REPORTS = f"SELECT {RECEIVED_REPORT_COLUMNS} FROM tlsrpt_received WHERE true"
RECEIVED_REPORT_HAS_DOMAIN = "strpos(' ' || policy_domains || ' ', ' ' || ${n} || ' ') > 0"

# --- suppression list (schema version 10) ---------------------------------------------------
SUPPRESSION_COLUMNS = "recipient, type, source, description, created, updated"
# One statement per bulk write: the entries as arrays (a key given once: see last_wins).
UPSERT_SUPPRESSIONS = f"""INSERT INTO suppressions ({SUPPRESSION_COLUMNS})
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[],
        $6::float8[])
    ON CONFLICT (recipient, type) DO UPDATE SET source = excluded.source,
    description = excluded.description, updated = excluded.updated"""
INSERT_SUPPRESSIONS_IF_NEW = f"""INSERT INTO suppressions ({SUPPRESSION_COLUMNS})
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[],
        $6::float8[])
    ON CONFLICT (recipient, type) DO NOTHING"""
SELECT_SUPPRESSIONS_OF = f"""SELECT {SUPPRESSION_COLUMNS} FROM suppressions
    WHERE recipient = $1 ORDER BY type"""
DELETE_SUPPRESSIONS = "DELETE FROM suppressions WHERE recipient = $1"
DELETE_SUPPRESSION = "DELETE FROM suppressions WHERE recipient = $1 AND type = $2"
SUPPRESSED_AMONG = """SELECT recipient FROM suppressions
    WHERE recipient = ANY($1::text[]) AND type = $2"""


def suppression_filter(query: SuppressionQuery) -> tuple[str, list[Any]]:
    """The WHERE clause (or "") and parameters of a search, without cursor and limit."""
    clauses: list[str] = []
    params: list[Any] = []

    def arg(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    if query.updated_from is not None:
        clauses.append(f"updated >= {arg(query.updated_from)}")
    if query.updated_to is not None:
        clauses.append(f"updated <= {arg(query.updated_to)}")
    if query.types:
        clauses.append(f"type = ANY({arg([t.value for t in query.types])}::text[])")
    if query.sources:
        clauses.append(f"source = ANY({arg([s.value for s in query.sources])}::text[])")
    if query.domain is not None:
        suffix = "@" + query.domain
        clauses.append(f"right(recipient, {arg(len(suffix))}) = {arg(suffix)}")
    return " AND ".join(clauses), params


def suppression_search(query: SuppressionQuery) -> tuple[str, list[Any]]:
    """A page of the search, walking the primary key from ``query.after``."""
    where, params = suppression_filter(query)
    if query.after is not None:
        params.extend(query.after)
        cursor = f"(recipient, type) > (${len(params) - 1}, ${len(params)})"
        where = f"{where} AND {cursor}" if where else cursor
    sql = f"SELECT {SUPPRESSION_COLUMNS} FROM suppressions"
    if where:
        sql += f" WHERE {where}"
    params.append(query.limit)
    return f"{sql} ORDER BY recipient, type LIMIT ${len(params)}", params


def suppression_count(query: SuppressionQuery) -> tuple[str, list[Any]]:
    where, params = suppression_filter(query)
    return "SELECT count(*) FROM suppressions" + (f" WHERE {where}" if where else ""), params


# -- sending domains' DKIM keys (sealed) -------------------------------------------------------

UPSERT_DKIM_KEY = """INSERT INTO dkim_keys (domain, selector, sealed, created_at)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (domain, selector) DO UPDATE SET
        sealed = excluded.sealed, created_at = excluded.created_at"""
SELECT_DKIM_KEY = "SELECT sealed FROM dkim_keys WHERE domain = $1 AND selector = $2"
SELECT_DKIM_KEYS = "SELECT domain, selector, sealed FROM dkim_keys ORDER BY domain, selector"
REPLACE_DKIM_KEY = (
    "UPDATE dkim_keys SET sealed = $3 WHERE domain = $1 AND selector = $2 AND sealed = $4"
)
DELETE_DKIM_KEY = "DELETE FROM dkim_keys WHERE domain = $1 AND selector = $2"
