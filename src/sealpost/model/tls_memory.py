"""What outbound delivery remembers about peers' TLS for a while, shared by every node on a
store: a failed MTA-STS policy fetch held off (RFC 8461 section 3.3: at most one fetch per
five minutes per policy id)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FetchHoldoff:
    """The MTA-STS policy fetch for ``policy_id`` failed; no new fetch until ``until`` (wall
    clock, seconds since the epoch). ``failure`` is the RFC 8460 result type to report
    (``TlsFailure`` value), ``detail`` why."""

    policy_id: str
    until: float
    failure: str
    detail: str
