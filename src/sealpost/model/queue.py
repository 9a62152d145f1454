"""A queued message as the queue holds it: its recipients' delivery status, a lease on it,
the outcome of one attempt, and the row ``sealpost queue list`` shows.

RFC 5321 section 6.1: once Sealpost answers ``250`` it owns the message; these values are what
the queue keeps of it until every recipient is final (delivered, bounced or cancelled).

States: ``queued`` (the dispatcher claims it when due), ``held`` (mail that stays here, for a
local domain without a route: never claimed, like Postfix's hold queue; ``retry_now`` releases
it to ``queued``, as ``postsuper -H`` does), ``done`` and ``cancelled``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sealpost.model.envelope import InboundMessage
from sealpost.model.events import EventRecord

MessageState = Literal["queued", "held", "done", "cancelled"]
InitialState = Literal["queued", "held"]  # what a message may be stored as
MESSAGE_STATES: tuple[MessageState, ...] = ("queued", "held", "done", "cancelled")
RecipientStatus = Literal["queued", "delivered", "bounced", "cancelled"]


@dataclass(frozen=True, slots=True)
class StoredRecipient:
    address: str
    status: RecipientStatus
    attempts: int = 0
    last_reply: str | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: str
    message: InboundMessage
    created_at: float
    state: MessageState
    next_attempt_at: float
    attempts: int
    recipients: tuple[StoredRecipient, ...]

    @property
    def size(self) -> int:
        return len(self.message.data)


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """One row of ``sealpost queue list``: cheap to read, no message body."""

    id: str
    mail_from: str
    recipient_count: int
    size: int
    created_at: float
    state: MessageState
    next_attempt_at: float
    attempts: int
    listener: str
    tls_version: str | None


@dataclass(frozen=True, slots=True)
class Claim:
    """A lease on a due message: nobody else claims it until ``lease_until``.

    ``suspended``: destination domains of its queued recipients that are suspended
    (``model.queue_admin``): the dispatcher leaves those recipients alone (no attempt is
    counted) and the message waits at least until ``suspended_until`` for them.
    ``bounce``: the operator bounced it; the dispatcher fails its queued recipients with a
    DSN instead of delivering."""

    message: StoredMessage
    token: str
    lease_until: float
    suspended: frozenset[str] = frozenset()
    suspended_until: float = 0.0
    bounce: bool = False


@dataclass(frozen=True, slots=True)
class DomainSlot:
    """One of a destination domain's ``per_domain_concurrency`` session slots, held by a
    dispatcher for one delivery attempt to that domain (``store.contracts.domain_slots``)."""

    domain: str
    index: int
    token: str


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """The outcome of one delivery attempt for one recipient."""

    address: str
    status: RecipientStatus  # "queued" means: deferred, try again
    reply: str | None = None


@dataclass(frozen=True, slots=True)
class Submitted:
    """One message of a batch handed to ``enqueue_batch``, with its injection events and the
    state it is stored in; ``report_mark``: a held message that may be a TLS-RPT report
    (``Spool.enqueue``)."""

    message_id: str
    message: InboundMessage
    events: Sequence[EventRecord] = ()
    state: InitialState = "queued"
    report_mark: bool = False
