"""The body of a webhook POST: ``[{"msys": {"<class>": {...event...}}}]`` (reference 5.1-5.3).

Each event is the events API's view of it (``records.public_view``: ``outbound_tls`` and the
``tls`` object included) except ``timestamp``, which webhooks carry as Unix seconds in a
string (reference 5.2). The class key follows SparkPost's grouping of event types; a ping is
``[{"msys": {}}]``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sealpost.events.records import public_view
from sealpost.model.events import EventRecord

EVENT_CLASSES: dict[str, tuple[str, ...]] = {
    "message_event": (
        "injection",
        "delivery",
        "bounce",
        "delay",
        "policy_rejection",
        "out_of_band",
        "spam_complaint",
        "sms_status",
    ),
    "track_event": ("open", "initial_open", "click", "amp_open", "amp_initial_open", "amp_click"),
    "gen_event": ("generation_failure", "generation_rejection"),
    "unsubscribe_event": ("list_unsubscribe", "link_unsubscribe"),
    "relay_event": (
        "relay_injection",
        "relay_rejection",
        "relay_delivery",
        "relay_tempfail",
        "relay_permfail",
    ),
    "ab_test_event": ("ab_test_completion", "ab_test_cancellation"),
}
CLASS_OF: dict[str, str] = {t: cls for cls, types in EVENT_CLASSES.items() for t in types}
EVENT_TYPES: frozenset[str] = frozenset(CLASS_OF)

PING: list[dict[str, Any]] = [{"msys": {}}]


def class_key(event_type: str) -> str:
    return CLASS_OF.get(event_type, "message_event")


def webhook_event(event: EventRecord) -> dict[str, Any]:
    """One event as a webhook shows it: the events API's fields, Unix-seconds timestamp."""
    view = public_view(event)
    view["timestamp"] = str(int(event.timestamp))
    return view


def batch(events: Sequence[EventRecord]) -> list[dict[str, Any]]:
    return [{"msys": {class_key(e.type): webhook_event(e)}} for e in events]


def encode(body: Any) -> bytes:
    """Compact JSON, ASCII-escaped (so even a lone surrogate cannot fail to encode)."""
    return json.dumps(body, separators=(",", ":")).encode("ascii")
