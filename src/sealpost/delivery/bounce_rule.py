"""SparkPost's bounce rule: a hard bounce puts the recipient on the suppression list.

Hard means the bounce classes SparkPost suppresses for (``classify``: 10 invalid recipient,
30 generic bounce with no RCPT, 90 unsubscribe), in a ``bounce`` event of a delivery attempt
or an ``out_of_band`` event (a DSN that came back for one of our messages). The entry is
source ``Bounce Rule`` for both types, transactional and non-transactional, as SparkPost
adds them, with the reply as its description. Bounces of our own bounces (null sender) add
nothing: the address was never one a caller sent to.
"""

from __future__ import annotations

from collections.abc import Sequence

from sealpost.model.events import EventRecord
from sealpost.model.suppression import (
    Suppression,
    SuppressionSource,
    SuppressionType,
    recipient_key,
)

HARD_CLASSES = frozenset({"10", "30", "90"})
RULE_EVENTS = frozenset({"bounce", "out_of_band"})
MAX_DESCRIPTION = 1024


def is_hard_bounce(event: EventRecord) -> bool:
    fields = event.fields
    return (
        event.type in RULE_EVENTS
        and str(fields.get("bounce_class", "")) in HARD_CLASSES
        and fields.get("msg_from", None) != ""
        and bool(event.rcpt_to or fields.get("rcpt_to"))
    )


def suppressions_from(events: Sequence[EventRecord], now: float) -> list[Suppression]:
    """The entries the hard bounces among ``events`` add (none for other events)."""
    entries: list[Suppression] = []
    for event in events:
        if not is_hard_bounce(event):
            continue
        fields = event.fields
        recipient = recipient_key(str(event.rcpt_to or fields.get("rcpt_to")))
        reason = str(fields.get("raw_reason") or fields.get("reason") or "hard bounce")
        code = str(fields.get("error_code") or "")
        description = (f"{code}: {reason}" if code else reason)[:MAX_DESCRIPTION]
        entries += [
            Suppression(recipient, kind, SuppressionSource.BOUNCE_RULE, description, now, now)
            for kind in SuppressionType
        ]
    return entries
