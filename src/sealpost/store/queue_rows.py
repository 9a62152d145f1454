"""What the SQL backends' queues write and read back, whatever the engine: the rows of a new
message, of a batch (a transmission) and of an attempt, and the claims and counts read back.

SQLite and PostgreSQL keep the same columns (``codec``), so everything between a contract
call and its statements is the same in both and lives here; each backend keeps only its
dialect: the statements (``sql``), how they run (``ops``, sync ``sqlite3`` or ``asyncpg``)
and what its writer needs to know (PostgreSQL: take the events lock, send ``NOTIFY``).
A message without recipients is refused here, before anything is written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sealpost.model.document import Document
from sealpost.model.envelope import InboundMessage
from sealpost.model.events import EventRecord
from sealpost.model.idempotency import IdempotencyRecord
from sealpost.model.queue import (
    MESSAGE_STATES,
    Claim,
    InitialState,
    RecipientResult,
    StoredRecipient,
    Submitted,
)
from sealpost.model.tlsrpt_report import TlsTally
from sealpost.store import codec, tls_report_rows
from sealpost.store.claim_facts import ClaimFacts
from sealpost.store.errors import StoreError

log = logging.getLogger("sealpost.store")

Row = codec.MessageRow


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message's ``INSERT_MESSAGE`` row, its ``INSERT_RECIPIENT`` rows and its events;
    ``report_mark``: also a ``tlsrpt_marks`` row (the intake reads only those)."""

    row: Row
    recipients: list[Any]
    events: tuple[Row, ...]
    report_mark: bool = False


@dataclass(frozen=True, slots=True)
class NewBatch:
    """A transmission, written in one transaction (checklist K10)."""

    messages: tuple[NewMessage, ...]
    idempotency: Row | None
    documents: tuple[Row, ...]

    @property
    def has_events(self) -> bool:
        return any(m.events for m in self.messages)

    @property
    def queued(self) -> bool:
        """Some message is due for delivery (not held): the dispatchers are woken."""
        return any(m.row[2] == "queued" for m in self.messages)


@dataclass(frozen=True, slots=True)
class AttemptWrite:
    """One attempt's outcome for the message ``claim`` leased."""

    message_id: str
    token: str
    results: tuple[RecipientResult, ...]
    next_attempt_at: float
    events: tuple[Row, ...]
    tallies: tuple[Row, ...] = ()  # TLS-RPT counts (``tls_report_rows``), summed by key


def new_message(
    message_id: str,
    message: InboundMessage,
    now: float,
    events: Sequence[EventRecord] = (),
    *,
    due: float | None = None,
    state: InitialState = "queued",
    report_mark: bool = False,
) -> NewMessage:
    """The rows of a message created ``now``, due at ``due`` (default ``now``)."""
    if not message.envelope.recipients:
        raise StoreError("a message needs at least one recipient")
    return NewMessage(
        codec.message_row(message_id, message, now, due=due, state=state),
        codec.recipient_rows(message_id, message),
        tuple(codec.event_row(e) for e in events),
        report_mark,
    )


def new_batch(
    items: Sequence[Submitted],
    now: float,
    *,
    not_before: float | None,
    idempotency: IdempotencyRecord | None,
    documents: Sequence[Document],
) -> NewBatch:
    """The rows of ``enqueue_batch``: every message due at ``not_before`` (default ``now``);
    a document without ``updated_at`` is stamped ``now``."""
    due = now if not_before is None else not_before
    return NewBatch(
        tuple(
            new_message(
                i.message_id,
                i.message,
                now,
                i.events,
                due=due,
                state=i.state,
                report_mark=i.report_mark,
            )
            for i in items
        ),
        None if idempotency is None else codec.idempotency_row(idempotency),
        tuple(codec.document_row(d, d.updated_at or now) for d in documents),
    )


def attempt_write(
    claim: Claim,
    results: Sequence[RecipientResult],
    next_attempt_at: float,
    events: Sequence[EventRecord] = (),
    tallies: Sequence[TlsTally] = (),
) -> AttemptWrite:
    return AttemptWrite(
        claim.message.id,
        claim.token,
        tuple(results),
        next_attempt_at,
        tuple(codec.event_row(e) for e in events),
        tls_report_rows.tally_rows(tallies),
    )


def recipient_updates(
    message_id: str, before: Sequence[StoredRecipient], after: Sequence[StoredRecipient]
) -> list[tuple[str, int, str | None, str, int]]:
    """``UPDATE_RECIPIENT`` parameters for the recipients an attempt changed."""
    return [
        (new.status, new.attempts, new.last_reply, message_id, idx)
        for idx, (old, new) in enumerate(zip(before, after, strict=True))
        if old != new
    ]


def claims(leased: Iterable[tuple[str, float, Row, Sequence[Row], ClaimFacts]]) -> list[Claim]:
    """``(token, lease until, message row, recipient rows, what the claim learned)`` as
    claims, in order. A message that does not decode is logged and left out: it stays leased,
    so it cannot block the head of the queue."""
    found: list[Claim] = []
    for token, until, row, recipients, facts in leased:
        try:
            found.append(codec.claim(codec.stored_message(row, recipients), token, until, facts))
        except StoreError as exc:
            log.error("skipping unreadable queued message: %s", exc)
    return found


def state_counts(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    """``COUNT_BY_STATE`` rows as a count for every state (0 where none)."""
    counts = dict.fromkeys(MESSAGE_STATES, 0)
    counts.update({state: int(n) for state, n in rows})
    return counts
