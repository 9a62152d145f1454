"""The PostgreSQL statements of retention and erasure (``contracts.retention``; the indexes
``messages_final`` and ``idempotency_created`` come with schema version 12,
``documents_updated`` with 14). Each expiry
deletes at most ``$2`` rows it finds from the oldest through an index."""

from __future__ import annotations

# next_attempt_at of a final message is the time of its last attempt (cancelled: the one
# it would have had). FOR UPDATE SKIP LOCKED: a row another node is changing is left for
# the next batch, never waited for.
EXPIRED_MESSAGES = """SELECT id FROM messages WHERE state IN ('done', 'cancelled')
    AND next_attempt_at < $1 ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED"""
EXPIRED_HELD = """SELECT id FROM messages WHERE state = 'held' AND admin_mark IS NULL
    AND created_at < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED"""
DELETE_RECIPIENTS = "DELETE FROM recipients WHERE message_id = ANY($1::text[])"
DELETE_MESSAGES = "DELETE FROM messages WHERE id = ANY($1::text[])"
DELETE_REPORT_MARKS = "DELETE FROM tlsrpt_marks WHERE message_id = ANY($1::text[])"
DELETE_DELAY_NOTICES = "DELETE FROM documents WHERE kind = 'delay_notice' AND id = ANY($1::text[])"
EXPIRED_EVENTS = """DELETE FROM events WHERE event_id IN
    (SELECT event_id FROM events WHERE timestamp < $1 ORDER BY timestamp LIMIT $2)"""
EXPIRED_IDEMPOTENCY = """DELETE FROM idempotency WHERE key IN
    (SELECT key FROM idempotency WHERE created_at < $1 ORDER BY created_at LIMIT $2)"""
EXPIRED_RECEIVED_REPORTS = """DELETE FROM tlsrpt_received WHERE id IN
    (SELECT id FROM tlsrpt_received WHERE received_at < $1 LIMIT $2)"""
# Transmission records: old, and cancelled or due before the cutoff (never one scheduled
# after it: model.retention.transmission_expired).
EXPIRED_TRANSMISSIONS = """DELETE FROM documents WHERE kind = 'transmission' AND id IN
    (SELECT id FROM documents WHERE kind = 'transmission' AND updated_at < $1
        AND (payload::jsonb ->> 'state' = 'Canceled'
            OR coalesce((payload::jsonb ->> 'not_before')::float8, 0) < $1)
        ORDER BY updated_at LIMIT $2)"""

MESSAGES_TO = """SELECT DISTINCT r.message_id, m.state FROM recipients AS r
    JOIN messages AS m ON m.id = r.message_id WHERE lower(r.address) = $1"""
EVENTS_TO = "SELECT event_id FROM events WHERE rcpt_to = $1"
DELETE_EVENTS = "DELETE FROM events WHERE event_id = ANY($1::bigint[])"
COUNT_SUPPRESSIONS_OF = "SELECT count(*) FROM suppressions WHERE recipient = $1"
DELETE_SUPPRESSIONS_OF = "DELETE FROM suppressions WHERE recipient = $1"
