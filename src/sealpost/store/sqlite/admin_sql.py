"""The SQLite statements of the queue administration (``contracts.queue_admin``): selections
as WHERE clauses over ``messages AS m``, the batch updates, the suspensions table (schema
version 13) and the ``queue summary`` GROUP BY. Built from fixed fragments and ``?``
placeholders only: no value is ever formatted into SQL."""

from __future__ import annotations

from typing import Any

from sealpost.model.queue_admin import AGE_BUCKETS, AdminAction, Selection

# A recipient's domain: what follows its (first) "@", lower-cased.
RCPT_DOMAIN = "lower(substr(r.address, instr(r.address, '@') + 1))"
_AT_DOMAIN = "EXISTS (SELECT 1 FROM recipients AS r WHERE r.message_id = m.id AND r.status = "
_QUEUED_AT = _AT_DOMAIN + f"'queued' AND {RCPT_DOMAIN} = ?)"


def selection_where(selection: Selection, action: AdminAction, now: float) -> tuple[str, list[Any]]:
    """The WHERE clause (over ``messages AS m``) of the messages ``action`` changes."""
    states = selection.states_for(action)
    clauses = [f"m.state IN ({', '.join('?' * len(states))})"] if states else ["0"]
    params: list[Any] = list(states)
    if selection.state == "deferred":
        clauses.append("m.attempts > 0")
    if action is AdminAction.RELEASE:  # only what an operator held, never local held mail
        clauses.append("m.admin_mark = 'hold'")
    if selection.message_id is not None:
        clauses.append("m.id = ?")
        params.append(selection.message_id)
    if selection.sender is not None:
        clauses.append("lower(m.mail_from) = ?")
        params.append(selection.sender)
    if selection.campaign is not None:
        clauses.append("json_extract(m.envelope, '$.annotations.campaign_id') = ?")
        params.append(selection.campaign)
    if selection.older_than is not None:
        clauses.append("m.created_at <= ?")
        params.append(now - selection.older_than)
    if selection.younger_than is not None:
        clauses.append("m.created_at >= ?")
        params.append(now - selection.younger_than)
    if selection.domain is not None:
        clauses.append(_QUEUED_AT)
        params.append(selection.domain)
    return " AND ".join(clauses), params


def count_query(where: str) -> str:
    return f"SELECT count(*) FROM messages AS m WHERE {where}"


def batch_ids_query(where: str) -> str:
    """The next batch's ids in id order, past a cursor (``?`` after the WHERE params)."""
    return f"SELECT m.id FROM messages AS m WHERE {where} AND m.id > ? ORDER BY m.id LIMIT ?"


# One set-based statement per batch: the batch's ids as one JSON array parameter, and the
# states checked again (the writer is the only one, so they still hold).
_IDS = "id IN (SELECT value FROM json_each(?))"
BATCH_UPDATES: dict[AdminAction, tuple[str, ...]] = {
    AdminAction.HOLD: (
        f"UPDATE messages SET state = 'held', admin_mark = 'hold' WHERE {_IDS} "
        "AND state = 'queued'",
    ),
    AdminAction.RELEASE: (
        "UPDATE messages SET state = 'queued', admin_mark = NULL, next_attempt_at = ? "
        f"WHERE {_IDS} AND state = 'held' AND admin_mark = 'hold'",
    ),
    AdminAction.RETRY: (
        f"UPDATE messages SET next_attempt_at = ? WHERE {_IDS} AND state = 'queued'",
    ),
    AdminAction.CANCEL: (
        "UPDATE recipients SET status = 'cancelled' WHERE message_id IN "
        "(SELECT value FROM json_each(?)) AND status = 'queued'",
        f"UPDATE messages SET state = 'cancelled' WHERE {_IDS} AND state IN ('queued', 'held')",
    ),
    AdminAction.BOUNCE: (
        "UPDATE messages SET state = 'queued', admin_mark = 'bounce', next_attempt_at = ? "
        f"WHERE {_IDS} AND state IN ('queued', 'held')",
    ),
}
TAKES_NOW = {AdminAction.RELEASE, AdminAction.RETRY, AdminAction.BOUNCE}

# --- suspensions ----------------------------------------------------------------------------
SUSPENSION_COLUMNS = "domain, created_at, until, reason, created_by"
UPSERT_SUSPENSION = f"""INSERT INTO queue_suspensions ({SUSPENSION_COLUMNS})
    VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (domain) DO UPDATE SET created_at = excluded.created_at,
    until = excluded.until, reason = excluded.reason, created_by = excluded.created_by"""
SELECT_SUSPENSIONS = f"""SELECT {SUSPENSION_COLUMNS} FROM queue_suspensions
    WHERE until IS NULL OR until > ? ORDER BY domain"""
PRUNE_SUSPENSIONS = "DELETE FROM queue_suspensions WHERE until IS NOT NULL AND until <= ?"
DELETE_SUSPENSION = "DELETE FROM queue_suspensions WHERE domain = ?"
# Queued mail whose every queued recipient is at the domain ?2, due before ?1 (park), or
# with a queued recipient there, due after ?1 (flush); ?3 cursor, ?4 limit.
_AT = f"{RCPT_DOMAIN} = ?2"
PARK_IDS = f"""SELECT m.id FROM messages AS m WHERE m.state = 'queued'
    AND m.next_attempt_at < ?1 AND coalesce(m.admin_mark, '') <> 'bounce'
    AND {_AT_DOMAIN}'queued' AND {_AT})
    AND NOT {_AT_DOMAIN}'queued' AND {RCPT_DOMAIN} <> ?2)
    AND m.id > ?3 ORDER BY m.id LIMIT ?4"""
PARK_ROWID = """UPDATE messages SET next_attempt_at = ?, lease_token = NULL, lease_until = NULL
    WHERE rowid = ?"""
FLUSH_IDS = f"""SELECT m.id FROM messages AS m WHERE m.state = 'queued'
    AND m.next_attempt_at > ?1 AND {_AT_DOMAIN}'queued' AND {_AT})
    AND m.id > ?3 ORDER BY m.id LIMIT ?4"""
SET_DUE = f"UPDATE messages SET next_attempt_at = ? WHERE {_IDS} AND state = 'queued'"
SELECT_QUEUED_DOMAINS = f"""SELECT DISTINCT {RCPT_DOMAIN} FROM recipients AS r
    WHERE r.message_id = ? AND r.status = 'queued'"""


def summary_query() -> str:
    """Queued recipients by domain, state and qshape age bucket (one ``?``: now)."""
    cases = " ".join(f"WHEN age < {m * 60} THEN {i}" for i, m in enumerate(AGE_BUCKETS))
    return f"""SELECT domain, st, CASE {cases} ELSE {len(AGE_BUCKETS)} END AS bucket, count(*)
        FROM (SELECT {RCPT_DOMAIN} AS domain, ? - m.created_at AS age,
                CASE WHEN m.state = 'held' THEN 'held' WHEN m.attempts > 0 THEN 'deferred'
                ELSE 'queued' END AS st
            FROM messages AS m JOIN recipients AS r ON r.message_id = m.id
            WHERE m.state IN ('queued', 'held') AND r.status = 'queued')
        GROUP BY domain, st, bucket ORDER BY domain, st, bucket"""
