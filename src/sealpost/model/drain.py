"""What a drain did (SIGTERM: finish the work in progress, then exit), as one summary line.

A single-process server logs it as it exits; with ``[server] workers`` each worker sends its
tally to the supervisor on its report pipe (``to_wire``/``from_wire``), which adds them up
and logs the one line for the whole server.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DrainTally:
    sessions_drained: int = 0  # SMTP sessions open at SIGTERM that ended cleanly (421 4.3.2)
    sessions_cut: int = 0  # still in a transaction when the drain time ran out
    refused: int = 0  # new connections answered 421 4.3.2 during the drain
    deliveries_finished: int = 0  # outbound deliveries in flight at SIGTERM that finished
    deliveries_cut: int = 0  # ... that the drain time cut (due again at the next start)
    seconds: float = 0.0

    def __add__(self, other: DrainTally) -> DrainTally:
        return DrainTally(
            self.sessions_drained + other.sessions_drained,
            self.sessions_cut + other.sessions_cut,
            self.refused + other.refused,
            self.deliveries_finished + other.deliveries_finished,
            self.deliveries_cut + other.deliveries_cut,
            max(self.seconds, other.seconds),
        )

    def line(self) -> str:
        return (
            f"stopped: {self.sessions_drained} SMTP session(s) drained, "
            f"{self.sessions_cut} cut, {self.refused} new connection(s) refused with 421; "
            f"{self.deliveries_finished} delivery(ies) finished, {self.deliveries_cut} cut; "
            f"{self.seconds:.1f} s"
        )

    def to_wire(self) -> str:
        return (
            f"drained {self.sessions_drained} {self.sessions_cut} {self.refused} "
            f"{self.deliveries_finished} {self.deliveries_cut} {self.seconds:.3f}"
        )

    @classmethod
    def from_wire(cls, text: str) -> DrainTally | None:
        parts = text.split()
        if len(parts) != 7 or parts[0] != "drained":
            return None
        try:
            *counts, seconds = parts[1:]
            a, b, c, d, e = (int(n) for n in counts)
            return cls(a, b, c, d, e, float(seconds))
        except ValueError:
            return None
