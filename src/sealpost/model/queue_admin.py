"""What an operator does to many queued messages at once, and the standing suspensions of
destination domains (issue 15, part 4).

A ``Selection`` names messages by recipient domain, sender, campaign, age and state; every
given filter must match. An ``AdminAction`` applies to the messages of a selection that the
action can change (``hold`` takes ``queued`` mail, ``release`` only ADMIN-held mail, ...:
``AdminAction.states``). Admin-held mail is stored ``held`` (never claimed, like local mail)
with the mark ``hold``; ``release`` releases only mail with that mark, so local mail held
for a domain without a route (``model.queue``) stays where it is.

A ``Suspension`` keeps the dispatcher away from one destination domain until it is resumed
or its time runs out (KumoMTA's admin suspend): the domain's mail waits without an attempt
being counted. Each action leaves one ``admin`` event per batch it commits
(``admin_event``), in the same transaction as the change.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Literal

from sealpost.model.events import EventRecord

SelectionState = Literal["queued", "deferred", "held"]
SELECTION_STATES: tuple[SelectionState, ...] = ("queued", "deferred", "held")
ADMIN_EVENT = "admin"  # not a SparkPost event type: Sealpost's own
ADMIN_BATCH = 1000  # messages changed per transaction, so the queue never stalls
ADMIN_BOUNCE_REPLY = "550 5.0.0 Message bounced by the queue administrator"
PARK_RECHECK = 3600.0  # an open-ended suspension parks mail this long, then looks again
_DOMAIN = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,62}\.)*[a-z0-9_-]{1,63}\.?$")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class SelectionError(ValueError):
    """A selection or suspension that cannot be used; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class AdminAction(StrEnum):
    HOLD = "hold"  # queued -> held (marked): never claimed until released
    RELEASE = "release"  # admin-held -> queued, due now (local held mail is not touched)
    RETRY = "retry"  # queued -> due now
    CANCEL = "cancel"  # queued or held -> cancelled: no bounce, no DSN
    BOUNCE = "bounce"  # queued or held -> failed by the dispatcher with a DSN to the sender

    @property
    def states(self) -> tuple[str, ...]:
        """The message states this action changes."""
        return _ACTION_STATES[self]


_ACTION_STATES = {
    AdminAction.HOLD: ("queued",),
    AdminAction.RELEASE: ("held",),
    AdminAction.RETRY: ("queued",),
    AdminAction.CANCEL: ("queued", "held"),
    AdminAction.BOUNCE: ("queued", "held"),
}


def parse_age(value: str | float, field: str = "age") -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``2h``, ``3d`` or ``1w``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _AGE.match(str(value).lower())
        if match is None:
            raise SelectionError(field, f"{field}: {value!r} is not a duration (e.g. 90s, 2h, 3d)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise SelectionError(field, f"{field} must not be negative")
    return seconds


def normalize_domain(value: str, field: str = "domain") -> str:
    domain = value.strip().lower().rstrip(".")
    if not _DOMAIN.match(domain) or len(domain) > 253:
        raise SelectionError(field, f"{field}: {value!r} is not a domain name")
    return domain


@dataclass(frozen=True, slots=True)
class Selection:
    """Messages by recipient domain (any still-queued recipient there), envelope sender
    (exact, case-insensitive), campaign id, age (``older_than``/``younger_than`` seconds
    since arrival), state (``deferred``: queued and tried at least once) and message id.
    Empty filters match everything the action applies to."""

    domain: str | None = None
    sender: str | None = None
    campaign: str | None = None
    older_than: float | None = None
    younger_than: float | None = None
    state: SelectionState | None = None
    message_id: str | None = None  # one message (the web console's per-message buttons)

    @classmethod
    def of(
        cls,
        *,
        domain: str | None = None,
        sender: str | None = None,
        campaign: str | None = None,
        older_than: str | float | None = None,
        younger_than: str | float | None = None,
        state: str | None = None,
        message_id: str | None = None,
    ) -> Selection:
        """A checked selection; ``SelectionError`` names the field that is wrong."""
        if state is not None and state not in SELECTION_STATES:
            raise SelectionError("state", f"state must be one of {', '.join(SELECTION_STATES)}")
        if sender is not None and (not sender.strip() or any(c.isspace() for c in sender)):
            raise SelectionError("sender", 'sender must be one address ("<>" is the null one)')
        if campaign is not None and not campaign.strip():
            raise SelectionError("campaign", "campaign must not be empty")
        if message_id is not None and not message_id.strip():
            raise SelectionError("message_id", "message_id must not be empty")
        return cls(
            domain=None if domain is None else normalize_domain(domain),
            sender=None if sender is None else ("" if sender == "<>" else sender.lower()),
            campaign=campaign,
            older_than=None if older_than is None else parse_age(older_than, "older_than"),
            younger_than=None if younger_than is None else parse_age(younger_than, "younger_than"),
            state=state,  # type: ignore[arg-type]  # checked above
            message_id=message_id,
        )

    def as_dict(self) -> dict[str, Any]:
        """The filters in use, as the admin event and the API answer show them."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def states_for(self, action: AdminAction) -> tuple[str, ...]:
        """The message states the action reaches within this selection."""
        wanted = {"deferred": "queued"}.get(self.state or "", self.state)
        return tuple(s for s in action.states if wanted is None or s == wanted)


@dataclass(frozen=True, slots=True)
class AdminOutcome:
    """What an action did (or, with ``dry_run``, would do): how many messages."""

    action: AdminAction
    selection: Selection
    count: int
    dry_run: bool


@dataclass(frozen=True, slots=True)
class Suspension:
    """Delivery to ``domain`` waits until ``until`` (None: until resumed)."""

    domain: str
    created_at: float
    until: float | None = None
    reason: str = ""
    created_by: str = ""

    def park_until(self, now: float) -> float:
        """When mail parked now for this domain is looked at again."""
        return self.until if self.until is not None else now + PARK_RECHECK

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One cell of ``queue summary``: recipients still queued for ``domain`` in ``state``
    (``queued``, ``deferred`` or ``held``) whose message arrived ``bucket`` minutes ago."""

    domain: str
    state: str
    bucket: int  # index into AGE_BUCKETS
    recipients: int


# Postfix qshape's buckets: upper bounds in minutes, doubling; the last is open-ended.
AGE_BUCKETS: tuple[int, ...] = (5, 10, 20, 40, 80, 160, 320, 640, 1280)
AGE_LABELS: tuple[str, ...] = (*(f"<{m}m" for m in AGE_BUCKETS), f"{AGE_BUCKETS[-1]}m+")


def admin_event(
    action: str, selection: dict[str, Any], count: int, by: str, now: float, **extra: Any
) -> EventRecord:
    """The ``admin`` event of one committed batch (``message_id`` is empty: it names a
    selection, not a message)."""
    fields = {
        "type": ADMIN_EVENT,
        "action": action,
        "selection": selection,
        "count": count,
        "by": by,
        **extra,
    }
    return EventRecord(ADMIN_EVENT, "", now, fields)


def suspend_event(suspension: Suspension, now: float) -> EventRecord:
    """The ``admin`` event of suspending ``suspension.domain``."""
    return admin_event(
        "suspend",
        {"domain": suspension.domain},
        0,
        suspension.created_by,
        now,
        until=suspension.until,
        reason=suspension.reason,
    )


def resume_event(domain: str, now: float, by: str) -> EventRecord:
    """The ``admin`` event of resuming delivery to ``domain``."""
    return admin_event("resume", {"domain": domain}, 0, by, now)
