"""What the SQL backends' queue administration writes, whatever the engine: a suspension's
``queue_suspensions`` row and the rows of the ``admin`` events (a batch, a suspension, a
resume). SQLite and PostgreSQL keep the same columns (``codec``), so these are built here
once; each backend keeps its statements (``admin_sql``) and how they run (``ops``), as with
``queue_rows``."""

from __future__ import annotations

from sealpost.model.queue_admin import (
    AdminAction,
    Selection,
    Suspension,
    admin_event,
    resume_event,
    suspend_event,
)
from sealpost.store import codec

Row = codec.MessageRow


def suspension_row(suspension: Suspension) -> Row:
    """Parameters for ``UPSERT_SUSPENSION`` (domain, created_at, until, reason, created_by);
    ``codec.suspension`` reads it back."""
    return (
        suspension.domain,
        suspension.created_at,
        suspension.until,
        suspension.reason,
        suspension.created_by,
    )


def batch_event_row(
    action: AdminAction, selection: Selection, count: int, by: str, now: float
) -> Row:
    """The ``admin`` event row of one committed batch of ``action``."""
    return codec.event_row(admin_event(action.value, selection.as_dict(), count, by, now))


def suspend_event_row(suspension: Suspension, now: float) -> Row:
    return codec.event_row(suspend_event(suspension, now))


def resume_event_row(domain: str, now: float, by: str) -> Row:
    return codec.event_row(resume_event(domain, now, by))
