"""What ``sealpost store copy`` moves: the tables of the SQL backends and their columns.

SQLite and PostgreSQL keep the same typed tables with the same columns (``store.codec``
reads both), so a copy is table by table, row by row, every value as stored: message ids,
states, recipients' statuses and attempts, due times, event ids (in order), API keys as their
salt and digest (never re-hashed), the webhooks' delivery state, documents (sending domains,
webhooks, templates), the MTA-STS policy cache (RFC 8461 section 5.1), idempotency records,
the TLS memory, the TLS-RPT tallies and reports sent, the TLS-RPT reports received and
the held messages marked as possible reports, the suppression list, the sending domains'
DKIM keys (sealed: the target's nodes need the same ``[dkim]`` key-encryption key), the
operator's marks on messages (held, bounced) and the domain suspensions.

Not copied: leases (``lease_token``, ``lease_until``, PostgreSQL's ``lease_node``, the
webhook leases and domain slots) and the registry of running nodes; a copy is made while
every server is stopped, so no lease is live.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Table:
    """One table to copy: its ``name``, the ``kind`` a person reads, the ``columns`` copied,
    in ``order`` (a key, so events keep their order and batches are stable)."""

    name: str
    kind: str
    columns: tuple[str, ...]
    order: str

    def select(self) -> str:
        return f"SELECT {', '.join(self.columns)} FROM {self.name} ORDER BY {self.order}"


TABLES: tuple[Table, ...] = (
    Table(
        "messages",
        "messages",
        (
            "id",
            "created_at",
            "state",
            "next_attempt_at",
            "attempts",
            "mail_from",
            "rcpt_count",
            "listener",
            "tls_version",
            "size",
            "envelope",
            "session",
            "data",
            "admin_mark",
        ),
        "id",
    ),
    Table(
        "recipients",
        "recipients",
        ("message_id", "idx", "address", "status", "attempts", "last_reply"),
        "message_id, idx",
    ),
    Table(
        "events",
        "events",
        ("event_id", "type", "message_id", "rcpt_to", "timestamp", "fields"),
        "event_id",
    ),
    Table(
        "api_keys",
        "API keys",
        (
            "id",
            "label",
            "salt",
            "digest",
            "created_at",
            "revoked_at",
            "sender_domains",
            "grants",
        ),
        "id",
    ),
    Table("documents", "documents", ("kind", "id", "payload", "updated_at"), "kind, id"),
    Table(
        "webhook_state",
        "webhook states",
        (
            "webhook_id",
            "since",
            "cursor",
            "pending_batch_id",
            "pending_last_event_id",
            "pending_size",
            "pending_attempts",
            "pending_first_attempt_at",
            "pending_next_attempt_at",
            "last_successful",
            "last_failure",
            "updated_at",
        ),
        "webhook_id",
    ),
    Table(
        "webhook_batch_status",
        "webhook batch statuses",
        (
            "webhook_id",
            "seq",
            "batch_id",
            "ts",
            "attempts",
            "response_code",
            "failure_code",
            "latency_ms",
        ),
        "webhook_id, seq",
    ),
    Table("policies", "cached policies", ("key", "payload"), "key"),
    Table(
        "idempotency",
        "idempotency records",
        ("key", "fingerprint", "response", "created_at"),
        "key",
    ),
    Table(
        "dkim_keys",
        "sending domains' DKIM keys (sealed)",
        ("domain", "selector", "sealed", "created_at"),
        "domain, selector",
    ),
    Table("broken_tls", "TLS-broken hosts", ("host", "port", "until"), "host, port"),
    Table(
        "sts_fetch_holdoffs",
        "MTA-STS fetch hold-offs",
        ("domain", "policy_id", "until", "failure", "detail"),
        "domain",
    ),
    Table(
        "tlsrpt_tallies",
        "TLS-RPT session tallies",
        (
            "day",
            "policy_domain",
            "policy_type",
            "policy_hash",
            "policy",
            "receiving_mx",
            "receiving_ip",
            "result_type",
            "sessions",
        ),
        "day, policy_domain, policy_type, policy_hash, receiving_mx, receiving_ip, result_type",
    ),
    Table(
        "tlsrpt_reports",
        "TLS-RPT reports sent",
        ("report_id", "day", "policy_domain", "created_at", "report"),
        "report_id",
    ),
    Table(
        "tlsrpt_report_targets",
        "TLS-RPT report targets",
        ("report_id", "uri", "state", "detail", "updated_at"),
        "report_id, uri",
    ),
    Table(
        "tlsrpt_received",
        "received TLS reports",
        (
            "id",
            "organization",
            "report_id",
            "start_time",
            "end_time",
            "policy_domains",
            "successful",
            "failed",
            "contact_info",
            "received_at",
            "source",
            "message_id",
            "report",
        ),
        "id",
    ),
    Table(
        "tlsrpt_marks",
        "held messages marked as possible TLS reports",
        ("message_id",),
        "message_id",
    ),
    Table(
        "suppressions",
        "suppression list entries",
        ("recipient", "type", "source", "description", "created", "updated"),
        "recipient, type",
    ),
    Table(
        "queue_suspensions",
        "queue suspensions",
        ("domain", "created_at", "until", "reason", "created_by"),
        "domain",
    ),
)
