"""Rows to values and back for the SQL backends (SQLite and PostgreSQL keep the same columns):
the JSON shapes of envelope and session.

``envelope`` holds the transaction parameters (RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 8689
REQUIRETLS, RFC 1870 SIZE) and extra headers; the recipients live in their own table so each
one's delivery status is updated in place. ``session`` holds ``SessionInfo`` with its
``TlsRecord`` (the ``TlsRecord.to_dict`` shape, read back with ``from_dict``). A row that does
not decode raises ``StoreError``, never a half-built message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.document import Document
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.events import EventRecord
from sealpost.model.grants import in_order, parse_grant
from sealpost.model.idempotency import IdempotencyRecord
from sealpost.model.queue import Claim, InitialState, MessageSummary, StoredMessage, StoredRecipient
from sealpost.model.queue_admin import SummaryRow, Suspension
from sealpost.model.suppression import Suppression, SuppressionSource, SuppressionType
from sealpost.model.tls_record import TlsRecord
from sealpost.model.webhook_delivery import BatchStatus, DeliveryState, FailureCode, PendingBatch
from sealpost.store.claim_facts import ClaimFacts
from sealpost.store.errors import StoreError

MessageRow = tuple[Any, ...]


def message_row(
    message_id: str,
    message: InboundMessage,
    now: float,
    *,
    due: float | None = None,
    state: InitialState = "queued",
) -> MessageRow:
    """Parameters for ``INSERT_MESSAGE``: created ``now``, in ``state``, due at ``due``
    (default ``now``)."""
    envelope = message.envelope
    session = message.session
    envelope_json = {
        "body": envelope.body,
        "smtputf8": envelope.smtputf8,
        "requiretls": envelope.requiretls,
        "declared_size": envelope.declared_size,
        "extra_headers": list(message.extra_headers),
        "tls_minimum": envelope.tls_minimum,
        "annotations": dict(message.annotations),
    }
    session_json: dict[str, Any] = {
        "listener": session.listener,
        "client_ip": session.client_ip,
        "client_port": session.client_port,
        "helo": session.helo,
        "esmtp": session.esmtp,
        "auth_user": session.auth_user,
        "tls": session.tls.to_dict() if session.tls else None,
        "local_hostname": session.local_hostname,
    }
    if session.sender_domains is not None:
        session_json["sender_domains"] = sorted(session.sender_domains)
    return (
        message_id,
        now,
        state,
        now if due is None else due,
        envelope.mail_from,
        len(envelope.recipients),
        session.listener,
        session.tls.version if session.tls else None,
        len(message.data),
        json.dumps(envelope_json, separators=(",", ":")),
        json.dumps(session_json, separators=(",", ":")),
        message.data,
    )


def _domains(value: Any) -> frozenset[str] | None:
    return None if value is None else frozenset(str(d) for d in value)


def recipient_rows(message_id: str, message: InboundMessage) -> list[tuple[str, int, str]]:
    """Parameters for ``INSERT_RECIPIENT``, one per envelope recipient, in order."""
    return [(message_id, i, a) for i, a in enumerate(message.envelope.recipients)]


def stored_message(row: MessageRow, recipients: Sequence[MessageRow]) -> StoredMessage:
    """A ``SELECT_MESSAGE`` row and its ``SELECT_RECIPIENTS`` rows as a ``StoredMessage``."""
    message_id, created_at, state, next_attempt_at, attempts, mail_from, env, ses, data = row
    try:
        stored_recipients = tuple(StoredRecipient(*r) for r in recipients)
        envelope_json = json.loads(env)
        session_json = json.loads(ses)
        envelope = Envelope(
            mail_from=mail_from,
            recipients=tuple(r.address for r in stored_recipients),
            body=envelope_json["body"],
            smtputf8=envelope_json["smtputf8"],
            requiretls=envelope_json["requiretls"],
            declared_size=envelope_json["declared_size"],
            tls_minimum=envelope_json.get("tls_minimum"),
        )
        session = SessionInfo(
            listener=session_json["listener"],
            client_ip=session_json["client_ip"],
            client_port=session_json["client_port"],
            helo=session_json["helo"],
            esmtp=session_json["esmtp"],
            auth_user=session_json["auth_user"],
            tls=TlsRecord.from_dict(session_json["tls"]),
            local_hostname=session_json["local_hostname"],
            sender_domains=_domains(session_json.get("sender_domains")),
        )
        message = InboundMessage(
            envelope=envelope,
            session=session,
            data=bytes(data),
            extra_headers=tuple(envelope_json["extra_headers"]),
            annotations=envelope_json.get("annotations") or {},
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"message {message_id} is corrupt in the store: {exc!r}") from exc
    return StoredMessage(
        id=message_id,
        message=message,
        created_at=created_at,
        state=state,
        next_attempt_at=next_attempt_at,
        attempts=attempts,
        recipients=stored_recipients,
    )


def claim(stored: StoredMessage, token: str, until: float, facts: ClaimFacts) -> Claim:
    """The lease on ``stored`` with what the claim learned (bounce, suspended domains)."""
    return Claim(stored, token, until, facts.suspended, facts.suspended_until, facts.bounce)


def suspension(row: MessageRow) -> Suspension:
    """A ``queue_suspensions`` row (domain, created_at, until, reason, created_by)."""
    domain, created_at, until, reason, created_by = row
    return Suspension(
        domain, float(created_at), None if until is None else float(until), reason, created_by
    )


def summary_row(row: MessageRow) -> SummaryRow:
    """A ``queue summary`` row (domain, state, bucket, recipients)."""
    return SummaryRow(str(row[0]), str(row[1]), int(row[2]), int(row[3]))


def summary(row: MessageRow) -> MessageSummary:
    """A ``list_query`` row as a ``MessageSummary``."""
    return MessageSummary(*row)


def key_record(row: MessageRow) -> ApiKeyRecord:
    """An ``api_keys`` row as an ``ApiKeyRecord``.

    A grant name this version does not know grants nothing (fail closed), like a name that
    is not there."""
    key_id, label, salt, digest, created_at, revoked_at, domains, grants = row
    held = frozenset(g for g in map(parse_grant, grants.split()) if g is not None)
    return ApiKeyRecord(
        key_id,
        label,
        bytes(salt),
        bytes(digest),
        created_at,
        revoked_at,
        tuple(domains.split()),
        held,
    )


def key_row(record: ApiKeyRecord) -> MessageRow:
    """Parameters for ``INSERT_KEY``."""
    return (
        record.id,
        record.label,
        record.salt,
        record.digest,
        record.created_at,
        record.revoked_at,
        " ".join(record.sender_domains),
        " ".join(in_order(record.grants)),
    )


def event_row(event: EventRecord) -> MessageRow:
    """Parameters for ``INSERT_EVENT``."""
    return (event.type, event.message_id, event.rcpt_to, event.timestamp, json_text(event.fields))


def event_record(row: MessageRow) -> EventRecord:
    """A ``SELECT EVENT_COLUMNS`` row as an ``EventRecord``."""
    event_id, kind, message_id, rcpt_to, timestamp, fields = row
    try:
        decoded = json.loads(fields)
    except ValueError as exc:
        raise StoreError(f"event {event_id} is corrupt: {exc}") from exc
    return EventRecord(kind, message_id, timestamp, decoded, rcpt_to, event_id)


def json_text(value: Any) -> str:
    """A payload, response or document as compact JSON (``str`` for what JSON lacks)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def document_row(document: Document, updated_at: float) -> MessageRow:
    """Parameters for ``UPSERT_DOCUMENT``."""
    return (document.kind, document.id, json_text(document.payload), updated_at)


def document(row: MessageRow) -> Document:
    """A ``SELECT_DOCUMENT`` row as a ``Document``."""
    kind, doc_id, payload, updated_at = row
    return Document(kind, doc_id, json.loads(payload), updated_at)


def idempotency_row(record: IdempotencyRecord) -> MessageRow:
    """Parameters for ``INSERT_IDEMPOTENCY``."""
    return (record.key, record.fingerprint, json_text(record.response), record.created_at)


def idempotency_record(row: MessageRow) -> IdempotencyRecord:
    """A ``SELECT_IDEMPOTENCY`` row as an ``IdempotencyRecord``."""
    key, fingerprint, response, created_at = row
    return IdempotencyRecord(key, fingerprint, json.loads(response), created_at)


def webhook_state_row(state: DeliveryState, now: float) -> MessageRow:
    """Parameters for ``UPSERT_WEBHOOK_STATE``."""
    p = state.pending
    pending = (
        (p.batch_id, p.last_event_id, p.size, p.attempts, p.first_attempt_at, p.next_attempt_at)
        if p is not None
        else (None,) * 6
    )
    return (
        state.webhook_id,
        state.since,
        state.cursor,
        *pending,
        state.last_successful,
        state.last_failure,
        now,
    )


def batch_status_rows(state: DeliveryState) -> list[MessageRow]:
    """Parameters for ``INSERT_BATCH_STATUS``, one per history entry, oldest first."""
    return [
        (
            state.webhook_id,
            seq,
            s.batch_id,
            s.ts,
            s.attempts,
            s.response_code,
            s.failure_code.value if s.failure_code is not None else None,
            s.latency_ms,
        )
        for seq, s in enumerate(state.history)
    ]


def delivery_state(row: MessageRow, statuses: Sequence[MessageRow]) -> DeliveryState:
    """A ``SELECT_WEBHOOK_STATE`` row and its ``SELECT_BATCH_STATUS`` rows."""
    webhook_id, since, cursor, batch_id, *pending, last_successful, last_failure = row
    try:
        history = tuple(
            BatchStatus(batch, ts, attempts, code, FailureCode(failure) if failure else None, ms)
            for batch, ts, attempts, code, failure, ms in statuses
        )
    except ValueError as exc:
        raise StoreError(f"webhook {webhook_id}: batch status is corrupt: {exc}") from exc
    return DeliveryState(
        webhook_id=webhook_id,
        since=since,
        cursor=cursor,
        pending=PendingBatch(batch_id, *pending) if batch_id is not None else None,
        last_successful=last_successful,
        last_failure=last_failure,
        history=history,
    )


def suppression_row(entry: Suppression) -> MessageRow:
    """Parameters for the suppression statements, in ``SUPPRESSION_COLUMNS`` order."""
    return (
        entry.recipient,
        entry.type.value,
        entry.source.value,
        entry.description,
        entry.created,
        entry.updated,
    )


def suppression(row: MessageRow) -> Suppression:
    recipient, kind, source, description, created, updated = row
    try:
        return Suppression(
            recipient,
            SuppressionType(kind),
            SuppressionSource(source),
            description,
            float(created),
            float(updated),
        )
    except ValueError as exc:
        raise StoreError(f"suppression of {recipient!r} does not decode: {exc}") from exc
