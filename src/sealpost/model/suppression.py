"""The suppression list (SparkPost's): recipients mail is not sent to, per type of mail.

An entry is keyed by the recipient address lower-cased whole (local part included: SparkPost
matches suppressions without regard to case) and its ``type``: ``transactional`` entries stop
mail sent with ``options.transactional``, ``non_transactional`` entries stop the rest. A
recipient suppressed for both has two entries, as in SparkPost. ``source`` says who added it
(an operator through the API, or Sealpost's own bounce rule); ``created`` and ``updated`` are
wall-clock seconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class SuppressionType(StrEnum):
    TRANSACTIONAL = "transactional"
    NON_TRANSACTIONAL = "non_transactional"


class SuppressionSource(StrEnum):
    """SparkPost's sources. Sealpost adds ``Manually Added`` (API) and ``Bounce Rule`` (hard
    bounces) itself; the others are accepted from stores copied from elsewhere."""

    SPAM_COMPLAINT = "Spam Complaint"
    LIST_UNSUBSCRIBE = "List Unsubscribe"
    BOUNCE_RULE = "Bounce Rule"
    UNSUBSCRIBE_LINK = "Unsubscribe Link"
    MANUALLY_ADDED = "Manually Added"
    COMPLIANCE = "Compliance"


@dataclass(frozen=True, slots=True)
class Suppression:
    recipient: str  # normalised: see ``recipient_key``
    type: SuppressionType
    source: SuppressionSource
    description: str
    created: float
    updated: float

    @property
    def key(self) -> tuple[str, str]:
        return (self.recipient, self.type.value)


@dataclass(frozen=True, slots=True)
class SuppressionQuery:
    """Filters of the suppression list search; every given filter must match (lists: any).
    Results are ordered by (recipient, type); ``after`` is the key of the last entry of the
    previous page."""

    updated_from: float | None = None
    updated_to: float | None = None
    types: tuple[SuppressionType, ...] = ()
    sources: tuple[SuppressionSource, ...] = ()
    domain: str | None = None  # lower-case; matches the part after the last "@"
    after: tuple[str, str] | None = None
    limit: int = 1000


def recipient_key(address: str) -> str:
    """The address as the list keys it: surrounding space removed, lower-cased whole."""
    return address.strip().lower()


def last_wins(entries: Iterable[Suppression]) -> list[Suppression]:
    """One entry per key, the last given for it (a bulk write names a key once)."""
    found: dict[tuple[str, str], Suppression] = {}
    for entry in entries:
        found[entry.key] = entry
    return list(found.values())
