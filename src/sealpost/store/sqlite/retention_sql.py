"""The SQLite statements of retention and erasure (``contracts.retention``; the index on
``idempotency (created_at)`` comes with schema version 14, ``documents (kind, updated_at)``
with 18). Each expiry SELECT walks an
index from its oldest entry and stops after ``LIMIT`` rows, so a batch costs the same with
a day or a year behind it."""

from __future__ import annotations

# Final messages: their ('done', ...) and ('cancelled', ...) ranges of messages_due, where
# next_attempt_at is the time of the last attempt (or, cancelled, the one it would have had).
EXPIRED_MESSAGES = """SELECT id FROM messages INDEXED BY messages_due
    WHERE state = ? AND next_attempt_at < ? LIMIT ?"""
# Local mail held here (admin_mark NULL: never what an operator held), by arrival.
EXPIRED_HELD = """SELECT id FROM messages INDEXED BY messages_state
    WHERE state = 'held' AND admin_mark IS NULL AND created_at < ? LIMIT ?"""
DELETE_RECIPIENTS = "DELETE FROM recipients WHERE message_id = ?"
DELETE_MESSAGE = "DELETE FROM messages WHERE id = ?"
DELETE_REPORT_MARK = "DELETE FROM tlsrpt_marks WHERE message_id = ?"
DELETE_DELAY_NOTICE = "DELETE FROM documents WHERE kind = 'delay_notice' AND id = ?"
EXPIRED_EVENTS = """DELETE FROM events WHERE event_id IN
    (SELECT event_id FROM events INDEXED BY events_time WHERE timestamp < ? LIMIT ?)"""
EXPIRED_IDEMPOTENCY = """DELETE FROM idempotency WHERE key IN
    (SELECT key FROM idempotency WHERE created_at < ? LIMIT ?)"""
EXPIRED_RECEIVED_REPORTS = """DELETE FROM tlsrpt_received WHERE id IN
    (SELECT id FROM tlsrpt_received WHERE received_at < ? LIMIT ?)"""
# Transmission records: old, and cancelled or due before the cutoff (never one scheduled
# after it: model.retention.transmission_expired). The planner walks documents_updated
# (schema 18; tests/unit/test_store_sqlite.py checks the plan); no INDEXED BY, so a
# statement never fails on a file whose index is missing, it only scans.
EXPIRED_TRANSMISSIONS = """DELETE FROM documents WHERE kind = 'transmission' AND id IN
    (SELECT id FROM documents
        WHERE kind = 'transmission' AND updated_at < ?1
        AND (json_extract(payload, '$.state') = 'Canceled'
            OR coalesce(json_extract(payload, '$.not_before'), 0) < ?1)
        ORDER BY updated_at LIMIT ?2)"""

# Space (auto_vacuum: 0 none, 1 full, 2 incremental).
FREELIST_COUNT = "PRAGMA freelist_count"
INCREMENTAL_VACUUM_STEP = "PRAGMA incremental_vacuum(1)"  # the module steps a pragma once
STORAGE_PRAGMAS = ("page_size", "page_count", "freelist_count", "auto_vacuum")
AUTO_VACUUM_MODES = {0: "none", 1: "full", 2: "incremental"}

# Erasure: found on a read connection (no write lock while the tables are scanned), then
# deleted by id in short write transactions.
MESSAGES_TO = """SELECT DISTINCT r.message_id, m.state FROM recipients AS r
    JOIN messages AS m ON m.id = r.message_id WHERE lower(r.address) = ?"""
EVENTS_TO = "SELECT event_id FROM events INDEXED BY events_rcpt WHERE rcpt_to = ?"
DELETE_EVENT = "DELETE FROM events WHERE event_id = ?"
COUNT_SUPPRESSIONS_OF = "SELECT count(*) FROM suppressions WHERE recipient = ?"
DELETE_SUPPRESSIONS_OF = "DELETE FROM suppressions WHERE recipient = ?"
