"""What an ``Idempotency-Key`` request produced, kept with the messages it queued so a repeat
of the request returns the same response instead of sending twice (checklist K10)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """What an ``Idempotency-Key`` request produced: a repeat returns ``response`` again."""

    key: str
    fingerprint: str  # hash of the request that used the key: same key, other body -> 422
    response: Mapping[str, Any]
    created_at: float
