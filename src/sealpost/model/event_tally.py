"""Counts of events over time and per recipient domain, as the console's overview and
destinations pages read them (``store.contracts.event_tallies``).

An attempt's TLS *outcome* is one of:

- ``verified``: delivered over TLS whose certificate chain and name were checked and passed;
- ``unverified``: delivered over TLS that was not verified (RFC 7435 opportunistic TLS is
  never presented as verified);
- ``plaintext``: delivered without TLS;
- ``refused``: not delivered (``delay`` or ``bounce``) because the TLS policy in force failed
  (the event carries RFC 8460 ``tlsrpt_failures``);
- ``other``: a delay or bounce for any other reason (connection refused, 4xx, ...).

``attempt_outcome`` is the one definition; the SQL backends compute the same in their
queries and the conformance suite holds them to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["verified", "unverified", "plaintext", "refused", "other"]
OUTCOMES: tuple[Outcome, ...] = ("verified", "unverified", "plaintext", "refused", "other")
ATTEMPT_TYPES = ("delivery", "delay", "bounce")


@dataclass(frozen=True, slots=True)
class EventCount:
    """How many events of ``type`` fell in the bucket starting at ``bucket`` (epoch seconds,
    a multiple of the bucket width)."""

    bucket: float
    type: str
    count: int


@dataclass(frozen=True, slots=True)
class AttemptCount:
    """How many attempts had ``outcome`` under a policy from ``policy_source`` ("" when the
    event names none), in a time bucket (``key`` a float) or for a recipient domain (``key``
    the domain; then also per MX host the session was with, ``peer_name``, "" if none)."""

    key: float | str
    outcome: Outcome
    policy_source: str
    count: int
    peer_name: str = ""


@dataclass(frozen=True, slots=True)
class ReasonCount:
    reason: str
    count: int


def attempt_outcome(kind: str, fields: Mapping[str, Any]) -> Outcome:
    """The TLS outcome of a ``delivery``, ``delay`` or ``bounce`` event."""
    tls = fields.get("tls") or {}
    if kind != "delivery":
        return "refused" if fields.get("tlsrpt_failures") else "other"
    if not tls.get("version"):
        return "plaintext"
    return "verified" if tls.get("verified") is True else "unverified"


def bucket_of(timestamp: float, width: float) -> float:
    """The start of the bucket of ``width`` seconds that holds ``timestamp``."""
    return float(int(timestamp // width) * width)
