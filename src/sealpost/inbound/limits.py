"""Connection and authentication guards shared by every inbound listener.

Checklist G7 / H2: connections per client IP are capped (Postfix
``smtpd_client_connection_count_limit``, answered ``421 4.7.0``) as is the whole server's
connection count, and repeated AUTH failures from one IP lock that IP out for a window
(mox: 10 per window, 1 s delay per failure). Pure bookkeeping: the caller passes the clock.

Two rules keep the per-IP limit from refusing well-behaved clients:
- ``exempt`` networks (``[server] limit_exempt``) skip the per-IP count and rate, as
  Postfix's ``smtpd_client_event_limit_exceptions`` exempts ``$mynetworks``; they still
  count towards the server's total.
- A connection holds its per-IP slot for its SMTP session only (``session_over``). Once it
  has answered QUIT (or its closing 421) it does no more work, and a client that opens its
  next connection at once must not find its old one still counted while the close is
  processed; the connection still counts towards the total until it is really gone.

Both guards count in this process by default. With several worker processes
(``[server] workers``) they are given the ``LimitBoard`` the supervisor shared between them
(``shared_limits``), so the limits hold for the whole server, not per worker.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from sealpost.inbound.shared_limits import LimitBoard, Refusal
from sealpost.model.reply import Reply

TOO_MANY_FROM_IP = Reply.of(421, "4.7.0", "Error: too many connections from your address")
TOO_MANY_TOTAL = Reply.of(421, "4.3.2", "Error: too many connections, try again later")
TOO_FAST_FROM_IP = Reply.of(421, "4.7.0", "Error: too many connections per minute from you")
RATE_WINDOW = 60.0
log = logging.getLogger("sealpost.inbound")
_REPLIES = {
    Refusal.TOTAL: TOO_MANY_TOTAL,
    Refusal.FULL: TOO_MANY_TOTAL,  # the shared table cannot count this IP: try later
    Refusal.PER_IP: TOO_MANY_FROM_IP,
    Refusal.RATE: TOO_FAST_FROM_IP,
}

# The metrics' name for each refusal (``sealpost_smtp_connections_refused{limit=...}``).
REFUSAL_LIMITS = {
    TOO_MANY_TOTAL: "total",
    TOO_MANY_FROM_IP: "per_ip",
    TOO_FAST_FROM_IP: "rate_per_ip",
}


_EXEMPT_MEMORY = 4096  # addresses whose exemption is remembered before starting over


def _in_any(ip: str, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """Whether ``ip`` is in one of ``networks`` (IPv4-mapped IPv6 counts as IPv4)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


@dataclass(slots=True)
class ConnectionLimiter:
    """Counts open connections per IP and in total, and new connections per IP per minute;
    refuses past any limit (``rate_per_ip`` 0: no rate limit)."""

    max_total: int
    max_per_ip: int
    rate_per_ip: int = 0
    exempt: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    total: int = 0
    per_ip: dict[str, int] = field(default_factory=dict)
    recent: dict[str, deque[float]] = field(default_factory=dict)
    board: LimitBoard | None = None  # shared by the worker processes; None: this process
    _exempt_seen: dict[str, bool] = field(default_factory=dict)  # is_exempt's answers
    worker: int = 0  # this process's column of ``board``

    @classmethod
    def with_exempt(
        cls,
        max_total: int,
        max_per_ip: int,
        rate_per_ip: int,
        exempt: Iterable[str],
        board: LimitBoard | None = None,
        worker: int = 0,
    ) -> ConnectionLimiter:
        networks = tuple(ipaddress.ip_network(n) for n in exempt)
        return cls(max_total, max_per_ip, rate_per_ip, networks, board=board, worker=worker)

    def update_limits(self, new: ConnectionLimiter) -> None:
        """Take ``new``'s limits and exempt networks (a reloaded config); the counts of
        open connections stay, so no connection is dropped or forgotten."""
        self.max_total, self.max_per_ip = new.max_total, new.max_per_ip
        self.rate_per_ip, self.exempt = new.rate_per_ip, new.exempt
        self._exempt_seen.clear()  # answers about the old networks

    def is_exempt(self, ip: str) -> bool:
        """Whether ``ip`` is in an exempt network (IPv4-mapped IPv6 counts as IPv4)."""
        if not self.exempt:
            return False
        known = self._exempt_seen.get(ip)
        if known is None:  # parsed once per address: twice per connection otherwise
            if len(self._exempt_seen) >= _EXEMPT_MEMORY:
                self._exempt_seen.clear()
            known = self._exempt_seen[ip] = _in_any(ip, self.exempt)
        return known

    def acquire(self, ip: str, now: float = 0.0) -> Reply | None:
        """Reserve a slot for ``ip``; a reply to send before closing when refused."""
        if self.board is not None:
            refusal = self.board.acquire(
                ip,
                worker=self.worker,
                exempt=self.is_exempt(ip),
                now=now,
                max_total=self.max_total,
                max_per_ip=self.max_per_ip,
                rate_per_ip=self.rate_per_ip,
            )
            return None if refusal is None else _REPLIES[refusal]
        if self.total >= self.max_total:
            return TOO_MANY_TOTAL
        if self.is_exempt(ip):
            self.total += 1
            return None
        count = self.per_ip.get(ip, 0)
        if count >= self.max_per_ip:
            return TOO_MANY_FROM_IP
        if self.rate_per_ip and not self._admit(ip, now):
            return TOO_FAST_FROM_IP
        self.per_ip[ip] = count + 1
        self.total += 1
        return None

    def _admit(self, ip: str, now: float) -> bool:
        times = self.recent.setdefault(ip, deque())
        while times and times[0] <= now - RATE_WINDOW:
            times.popleft()
        if len(times) >= self.rate_per_ip:
            return False
        times.append(now)
        if len(self.recent) > 4 * self.max_total:  # bound memory under a many-IP flood
            self._sweep(now)
        return True

    def _sweep(self, now: float) -> None:
        for key in [k for k, t in self.recent.items() if not t or t[-1] <= now - RATE_WINDOW]:
            del self.recent[key]

    def session_over(self, ip: str) -> None:
        """The SMTP session of one of ``ip``'s connections has ended: free its per-IP slot
        (call once per connection, before ``release(ip, ip_slot=False)``)."""
        if not self.is_exempt(ip):
            self._drop_ip(ip)

    def release(self, ip: str, ip_slot: bool = True) -> None:
        """The connection is gone; ``ip_slot`` False when ``session_over`` freed that already."""
        if self.board is not None:
            self.board.drop_total(worker=self.worker)
            if ip_slot and not self.is_exempt(ip):
                self.board.drop_ip(ip, worker=self.worker)
            return
        if self.total > 0:
            self.total -= 1
        if ip_slot and not self.is_exempt(ip):
            self._drop_ip(ip)

    def _drop_ip(self, ip: str) -> None:
        if self.board is not None:
            self.board.drop_ip(ip, worker=self.worker)
            return
        count = self.per_ip.get(ip, 0)
        if count <= 1:
            self.per_ip.pop(ip, None)
        else:
            self.per_ip[ip] = count - 1


@dataclass(slots=True)
class AuthFailureGuard:
    """Sliding window of AUTH failures per IP; an IP over the limit is locked out."""

    max_failures: int
    window: float
    failures: dict[str, deque[float]] = field(default_factory=dict)
    board: LimitBoard | None = None  # shared by the worker processes; None: this process

    def _recent(self, ip: str, now: float) -> deque[float]:
        times = self.failures.get(ip)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self.failures[ip]
        return times

    def locked_out(self, ip: str, now: float) -> bool:
        if self.board is not None:
            return self.board.locked_out(ip, now, self.max_failures)
        return len(self._recent(ip, now)) >= self.max_failures

    def record_failure(self, ip: str, now: float) -> None:
        if self.board is not None:
            if not self.board.record_failure(ip, now):  # no slot to count it: fail safe
                log.warning("AUTH failure from %s not counted: the limit table is full", ip)
            return
        times = self.failures.setdefault(ip, deque())
        times.append(now)
        # Bound memory per IP: only the last max_failures timestamps matter.
        while len(times) > self.max_failures:
            times.popleft()
