"""The PostgreSQL statements of the queue administration (``contracts.queue_admin``):
selections as WHERE clauses over ``messages AS m``, the batch updates, the suspensions
table (schema version 11) and the ``queue summary`` GROUP BY. Built from fixed fragments
and numbered placeholders (``sql.Params``) only: no value is ever formatted into SQL."""

from __future__ import annotations

from sealpost.model.queue_admin import AGE_BUCKETS, AdminAction, Selection
from sealpost.store.postgres.sql import Params

RCPT_DOMAIN = "lower(substr(r.address, strpos(r.address, '@') + 1))"
_RCPT = "SELECT 1 FROM recipients AS r WHERE r.message_id = m.id AND r.status = 'queued'"


def selection_where(
    selection: Selection, action: AdminAction, now: float, p: Params, *, lateral: bool = False
) -> str:
    """The WHERE clause (over ``messages AS m``) of the messages ``action`` changes;
    ``lateral``: the queued recipients' domains are ``d.domains`` (``window_query``)."""
    states = selection.states_for(action)
    clauses = [f"m.state = ANY({p.add(list(states))}::text[])"]
    if selection.state == "deferred":
        clauses.append("m.attempts > 0")
    if action is AdminAction.RELEASE:  # only what an operator held, never local held mail
        clauses.append("m.admin_mark = 'hold'")
    if selection.message_id is not None:
        clauses.append(f"m.id = {p.add(selection.message_id)}")
    if selection.sender is not None:
        clauses.append(f"lower(m.mail_from) = {p.add(selection.sender)}")
    if selection.campaign is not None:
        campaign = p.add(selection.campaign)
        clauses.append(f"(m.envelope::json #>> '{{annotations,campaign_id}}') = {campaign}")
    if selection.older_than is not None:
        clauses.append(f"m.created_at <= {p.add(now - selection.older_than)}")
    if selection.younger_than is not None:
        clauses.append(f"m.created_at >= {p.add(now - selection.younger_than)}")
    if selection.domain is not None and lateral:
        clauses.append(f"{p.add(selection.domain)} = ANY(d.domains)")
    elif selection.domain is not None:
        clauses.append(f"EXISTS ({_RCPT} AND {RCPT_DOMAIN} = {p.add(selection.domain)})")
    return " AND ".join(clauses)


def count_query(where: str) -> str:
    return f"SELECT count(*) FROM messages AS m WHERE {where}"


# The queued recipients' domains of the window's message w.id, one index lookup per message.
_DOMAINS = f"""CROSS JOIN LATERAL (SELECT array_agg({RCPT_DOMAIN}) AS domains
    FROM recipients AS r WHERE r.message_id = w.id AND r.status = 'queued') AS d"""


def window_query(where: str, p: Params, states: list[str], after: str, limit: int) -> str:
    """The next window of ``limit`` messages in ``states`` past the cursor ``after``, in id
    order, each with whether it is selected (``where`` built with ``lateral=True``).

    Walking windows by the state index and testing each message by its own row and a
    LATERAL lookup of its recipients keeps one plan whatever the planner's statistics say:
    right after a bulk load they are stale, and the plans a correlated ``EXISTS`` got
    (a hashed subplan over every recipient, per batch) made a 100k-message action take
    minutes."""
    return f"""WITH w AS MATERIALIZED (SELECT id FROM messages
        WHERE state = ANY({p.add(states)}::text[]) AND id > {p.add(after)}
        ORDER BY id LIMIT {p.add(limit)})
    SELECT w.id, coalesce(({where}), false) FROM w JOIN messages AS m ON m.id = w.id
    {_DOMAINS} ORDER BY w.id"""


# One set-based statement per batch ($1: the batch's ids; $2: now where it takes one); the
# states are checked again, since a claim or an attempt may have moved a row meanwhile.
BATCH_UPDATES: dict[AdminAction, tuple[str, ...]] = {
    AdminAction.HOLD: (
        "UPDATE messages SET state = 'held', admin_mark = 'hold' "
        "WHERE id = ANY($1::text[]) AND state = 'queued'",
    ),
    AdminAction.RELEASE: (
        "UPDATE messages SET state = 'queued', admin_mark = NULL, next_attempt_at = $2 "
        "WHERE id = ANY($1::text[]) AND state = 'held' AND admin_mark = 'hold'",
    ),
    AdminAction.RETRY: (
        "UPDATE messages SET next_attempt_at = $2 WHERE id = ANY($1::text[]) AND state = 'queued'",
    ),
    AdminAction.CANCEL: (
        "UPDATE recipients SET status = 'cancelled' WHERE message_id = ANY($1::text[]) "
        "AND status = 'queued'",
        "UPDATE messages SET state = 'cancelled' WHERE id = ANY($1::text[]) "
        "AND state IN ('queued', 'held')",
    ),
    AdminAction.BOUNCE: (
        "UPDATE messages SET state = 'queued', admin_mark = 'bounce', next_attempt_at = $2 "
        "WHERE id = ANY($1::text[]) AND state IN ('queued', 'held')",
    ),
}

# --- suspensions ----------------------------------------------------------------------------
SUSPENSION_COLUMNS = "domain, created_at, until, reason, created_by"
UPSERT_SUSPENSION = f"""INSERT INTO queue_suspensions ({SUSPENSION_COLUMNS})
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (domain) DO UPDATE SET created_at = EXCLUDED.created_at,
    until = EXCLUDED.until, reason = EXCLUDED.reason, created_by = EXCLUDED.created_by"""
SELECT_SUSPENSIONS = f"""SELECT {SUSPENSION_COLUMNS} FROM queue_suspensions
    WHERE until IS NULL OR until > $1 ORDER BY domain"""
PRUNE_SUSPENSIONS = "DELETE FROM queue_suspensions WHERE until IS NOT NULL AND until <= $1"
DELETE_SUSPENSION = "DELETE FROM queue_suspensions WHERE domain = $1"
# Windows of queued mail by id ($3 cursor, $4 limit), each id with whether it is to be
# parked ($1 park time, $2 domain: every queued recipient there, due before the park time)
# or flushed ($1 now, $2 domain: a queued recipient there, due later); see window_query.
_QUEUED_WINDOW = """WITH w AS MATERIALIZED (SELECT id FROM messages
    WHERE state = 'queued' AND id > $3 ORDER BY id LIMIT $4)
    SELECT w.id, coalesce(m.state = 'queued' AND"""
_WINDOW_END = f"false) FROM w JOIN messages AS m ON m.id = w.id {_DOMAINS} ORDER BY w.id"
PARK_IDS = f"""{_QUEUED_WINDOW} m.next_attempt_at < $1
    AND coalesce(m.admin_mark, '') <> 'bounce' AND $2 = ANY(d.domains)
    AND d.domains <@ ARRAY[$2]::text[], {_WINDOW_END}"""
FLUSH_IDS = f"""{_QUEUED_WINDOW} m.next_attempt_at > $1 AND $2 = ANY(d.domains),
    {_WINDOW_END}"""
SET_DUE = "UPDATE messages SET next_attempt_at = $2 WHERE id = ANY($1::text[]) AND state = 'queued'"
# A claimed message parked instead: its lease dropped, due at the suspension's end.
PARK_CLAIMED = """UPDATE messages SET next_attempt_at = $2, lease_token = NULL,
    lease_until = NULL, lease_node = NULL WHERE id = $1"""
SELECT_QUEUED_DOMAINS = f"""SELECT r.message_id, {RCPT_DOMAIN} FROM recipients AS r
    WHERE r.message_id = ANY($1::text[]) AND r.status = 'queued'"""


def summary_query() -> str:
    """Queued recipients by domain, state and qshape age bucket ($1: now)."""
    cases = " ".join(f"WHEN age < {m * 60} THEN {i}" for i, m in enumerate(AGE_BUCKETS))
    return f"""SELECT domain, st, CASE {cases} ELSE {len(AGE_BUCKETS)} END AS bucket, count(*)
        FROM (SELECT {RCPT_DOMAIN} AS domain, $1::float8 - m.created_at AS age,
                CASE WHEN m.state = 'held' THEN 'held' WHEN m.attempts > 0 THEN 'deferred'
                ELSE 'queued' END AS st
            FROM messages AS m JOIN recipients AS r ON r.message_id = m.id
            WHERE m.state IN ('queued', 'held') AND r.status = 'queued') AS q
        GROUP BY domain, st, bucket ORDER BY domain, st, bucket"""
