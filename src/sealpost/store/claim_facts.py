"""What a claim learns besides the message (shared by the backends): whether the operator
bounced it, and which of its destination domains are suspended (``model.queue_admin``).

A message whose queued recipients are ALL at suspended domains is parked, not leased: its
next attempt moves to the earliest end of those suspensions (an open-ended one: a recheck
later), and no attempt is counted. A bounced message is never parked: the operator asked
for it to fail now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CLAIM_ROUNDS = 8  # due-walks per claim while parking suspended mail, so one claim stays short


@dataclass(frozen=True, slots=True)
class ClaimFacts:
    bounce: bool = False
    suspended: frozenset[str] = frozenset()
    suspended_until: float = 0.0
    parked: bool = False

    @classmethod
    def of(cls, domains: Iterable[str], suspended: Mapping[str, float]) -> ClaimFacts:
        """The facts of a (not bounced) message whose queued recipients are at ``domains``,
        under ``suspended`` (domain -> when its parked mail is looked at again)."""
        queued_at = {d.rstrip(".") for d in domains}
        hit = frozenset(d for d in queued_at if d in suspended)
        if not hit:
            return cls()
        until = min(suspended[d] for d in hit)
        return cls(suspended=hit, suspended_until=until, parked=hit == queued_at)
