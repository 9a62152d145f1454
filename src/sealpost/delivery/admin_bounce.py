"""An operator's bounce (``sealpost queue bounce``, ``POST /api/v1/queue`` with ``"action":
"bounce"``): the dispatcher fails the message's queued recipients instead of delivering, so
the DSN goes to the sender through the one DSN path (``outcomes.AttemptBook``,
``dsn.build_dsn``; RFC 3464, never to a null sender) and each recipient gets a ``bounce``
event with SparkPost's bounce class 25, "Admin Failure"."""

from __future__ import annotations

from dataclasses import replace

from sealpost.delivery.attempt import DomainAttempt
from sealpost.delivery.types import Outcome, RecipientOutcome
from sealpost.model.events import EventRecord
from sealpost.model.reply import Reply

ADMIN_BOUNCE = Reply.of(550, "5.0.0", "Message bounced by the queue administrator")
ADMIN_BOUNCE_CLASS = "25"


def admin_bounce(recipients: list[str]) -> DomainAttempt:
    """The attempt that fails ``recipients`` at once, with no session."""
    return DomainAttempt(
        tuple(RecipientOutcome(r, Outcome.PERMANENT, ADMIN_BOUNCE) for r in recipients)
    )


def as_admin_failure(event: EventRecord) -> EventRecord:
    """A ``bounce`` event of an operator's bounce carries bounce class 25."""
    if event.type != "bounce":
        return event
    return replace(event, fields={**event.fields, "bounce_class": ADMIN_BOUNCE_CLASS})
