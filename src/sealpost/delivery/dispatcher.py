"""The dispatcher: claims due messages, delivers each to its domains, records the outcome.

Per message: its still-queued recipients are grouped by domain and each domain is tried
concurrently, bounded by a global and a per-domain limit of sessions. The per-recipient
results, the next attempt time and every event are committed in ONE store transaction
(``record_attempt``), so a crash re-sends only to recipients not yet recorded (checklist
K6) and no event is lost or invented; the attempt's TLS-RPT tallies go in that same
transaction. Bounces (RFC 3464 DSNs) are queued before the attempt
is recorded: a crash in between may send a duplicate bounce, never lose one. Claims are
leases; a worker that dies leaves its messages to be claimed again (K11).
After the record, the hard bounces among the attempt's events go on the suppression list
(``bounce_rule``, SparkPost's "Bounce Rule"), so the next send to them is refused.

The operator's queue administration reaches the dispatcher through the claim
(``model.queue_admin``): recipients at a suspended domain are not tried (no attempt is
counted for them) and their message waits until the suspension ends; a message the operator
bounced is failed at once with a DSN (``admin_bounce``) instead of being delivered.

The dispatcher looks at the queue when this process queues mail (``wake``), when the store
says some node did (``QueueWakeups``: LISTEN/NOTIFY on PostgreSQL, so a node delivers mail
another node accepted at once), and every ``poll_interval`` in any case (retries come due,
and a notification is a hint that can be missed).

``per_domain_concurrency`` is enforced twice: by a semaphore in the process (no more than
its share of the attempts to a domain at once) and by the slots (``DomainSlots``), which
count the attempts of every process: the store's on PostgreSQL (every node of the cluster
and every worker of each), the workers' shared table on SQLite (``shared_slots``). An
attempt that finds every slot of its domain held elsewhere waits (backing off up to
``SLOT_WAIT_MAX``) until one is freed or expires.

With ``[server] workers`` above 1 every worker runs a dispatcher on the same queue (leases
keep each message with one of them) and takes its share of ``concurrency`` and of
``per_domain_concurrency`` (``DispatcherSettings.workers``: the limit divided by the workers,
rounded up), so the workers split a busy domain evenly instead of the first to claim taking
every slot while the others back off; the slots keep the server's total at the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sealpost.delivery.admin_bounce import admin_bounce, as_admin_failure
from sealpost.delivery.attempt import DomainAttempt, DomainDelivery
from sealpost.delivery.bounce_rule import suppressions_from
from sealpost.delivery.coverage import AttemptTally
from sealpost.delivery.outcomes import AttemptBook
from sealpost.delivery.schedule import RetrySchedule
from sealpost.delivery.types import OutboundMessage
from sealpost.model.queue import Claim, DomainSlot, StoredMessage
from sealpost.store.contracts.delay_notices import DelayNotices
from sealpost.store.contracts.domain_slots import DomainSlots
from sealpost.store.contracts.queue import DeliveryQueue
from sealpost.store.contracts.suppressions import SuppressionList
from sealpost.store.contracts.wakeups import QueueWakeups

log = logging.getLogger("sealpost.delivery")

DsnSender = Callable[[str, bytes], Awaitable[None]]  # (recipient, message bytes)
SLOT_WAIT_MIN = 0.05  # seconds before asking again for a domain slot other nodes hold
SLOT_WAIT_MAX = 1.0
SLOT_ERRORS = 3  # store failures in a row before an attempt goes on without a slot


class DispatchStore(DeliveryQueue, DelayNotices, DomainSlots, Protocol):
    """What the dispatcher uses of the store: leases and attempts, the delay notices
    already sent (one per message), and the per-domain session slots."""


@dataclass(frozen=True, slots=True)
class DispatcherSettings:
    concurrency: int = 100
    per_domain_concurrency: int = 20
    lease: float = 3600.0
    poll_interval: float = 1.0
    reporting_mta: str = "localhost"
    batch: int = 200
    workers: int = 1  # dispatchers sharing the limits (one per worker process)

    def share(self, limit: int) -> int:
        """This dispatcher's part of a limit the workers share (rounded up, at least 1)."""
        return max(1, -(-limit // max(1, self.workers)))


class Dispatcher:
    def __init__(
        self,
        store: DispatchStore,
        delivery: DomainDelivery,
        schedule: RetrySchedule,
        settings: DispatcherSettings,
        send_dsn: DsnSender,
        clock: Callable[[], float] = time.time,
        housekeeping: Callable[[], None] = lambda: None,
        wakeups: QueueWakeups | None = None,
        suppressions: SuppressionList | None = None,
        slots: DomainSlots | None = None,
    ) -> None:
        self._store = store
        self._slots: DomainSlots = store if slots is None else slots
        self._delivery = delivery
        self._schedule = schedule
        self._settings = settings
        self._send_dsn = send_dsn
        self._clock = clock
        self._housekeeping = housekeeping
        self._wakeups = wakeups
        self._suppressions = suppressions  # where hard bounces go (``bounce_rule``)
        self._wake = asyncio.Event()
        self._sessions = asyncio.Semaphore(settings.share(settings.concurrency))
        per_domain = settings.share(settings.per_domain_concurrency)
        self._per_domain: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(per_domain)
        )
        self._inflight: set[asyncio.Task[None]] = set()
        self.attempts = 0
        self._tally: Callable[[Sequence[AttemptTally]], None] = lambda tallies: None

    def update_schedule(self, schedule: RetrySchedule) -> None:
        """Retry timings from a reloaded config (SIGHUP): applied from the next attempt."""
        self._schedule = schedule

    def on_recorded(self, tally: Callable[[Sequence[AttemptTally]], None]) -> None:
        """Call ``tally`` with each recorded attempt's per-recipient tallies (the metrics)."""
        self._tally = tally

    @property
    def in_flight(self) -> int:
        """Deliveries claimed and not yet finished."""
        return len(self._inflight)

    def abandon(self) -> None:
        """The drain time ran out: cancel the deliveries in flight. Their leases stay until
        they expire or the next start releases them; nothing acknowledged is lost."""
        for task in list(self._inflight):
            task.cancel()

    def wake(self) -> None:
        """New mail is queued: look now instead of at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; in-flight deliveries finish their attempt."""
        limit = self._settings.share(self._settings.concurrency) * 2
        listening = (
            asyncio.get_running_loop().create_task(self._listen(self._wakeups))
            if self._wakeups is not None
            else None
        )
        try:
            await self._deliver_until(stop, limit)
        finally:
            if listening is not None:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening
        if self._inflight:
            await asyncio.wait(list(self._inflight))

    async def _deliver_until(self, stop: asyncio.Event, limit: int) -> None:
        while not stop.is_set():
            # Cleared before the claim, not after: mail queued while claiming wakes the next
            # pass instead of waiting for the poll.
            self._wake.clear()
            self._housekeeping()  # e.g. close idle cached connections
            room = limit - len(self._inflight)
            claimed = await self._claim(min(room, self._settings.batch)) if room > 0 else []
            for claim in claimed:
                task = asyncio.get_running_loop().create_task(self._guarded(claim))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            if claimed and len(claimed) == min(room, self._settings.batch):
                await asyncio.sleep(0)
                continue
            await self._idle(stop)

    async def _listen(self, wakeups: QueueWakeups) -> None:
        """Wake the run loop whenever the store says mail was queued, by any node."""
        while True:
            try:
                if await wakeups.wait_for_mail(self._settings.poll_interval):
                    self._wake.set()
            except Exception:  # the poll still runs; try listening again after one
                log.warning("cannot listen for new mail; polling", exc_info=True)
                await asyncio.sleep(self._settings.poll_interval)

    async def run_once(self) -> int:
        """Claim what is due now and deliver it all (tests and one-shot runs)."""
        claimed = await self._claim(self._settings.batch)
        await asyncio.gather(*(self._guarded(c) for c in claimed))
        return len(claimed)

    async def _claim(self, limit: int) -> list[Claim]:
        try:
            return await self._store.claim_due(self._clock(), limit, self._settings.lease)
        except Exception:
            log.exception("claiming due messages failed")
            return []

    async def _idle(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        if self._inflight:
            waiters.append(
                asyncio.ensure_future(
                    asyncio.wait(list(self._inflight), return_when="FIRST_COMPLETED")
                )
            )
        _done, pending = await asyncio.wait(
            waiters, timeout=self._settings.poll_interval, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in pending:
            waiter.cancel()

    async def _guarded(self, claim: Claim) -> None:
        try:
            await self.process(claim)
        except Exception:
            log.exception("delivery of %s failed; it will be retried", claim.message.id)
            try:
                await self._store.release(claim)
            except Exception:
                log.exception("could not release %s", claim.message.id)

    async def process(self, claim: Claim) -> None:
        stored = claim.message
        pending = [r.address for r in stored.recipients if r.status == "queued"]
        by_domain: dict[str, list[str]] = defaultdict(list)
        waiting = False  # recipients at a suspended domain: not tried, no attempt counted
        for rcpt in pending:
            domain = rcpt.rpartition("@")[2].lower().rstrip(".")
            if domain in claim.suspended and not claim.bounce:
                waiting = True
                continue
            by_domain[domain].append(rcpt)
        if claim.bounce:  # the operator's bounce: fail them all, with the DSN, no session
            attempts = [admin_bounce(rcpts) for rcpts in by_domain.values()]
        else:
            attempts = await asyncio.gather(
                *(self._domain(stored, domain, rcpts) for domain, rcpts in by_domain.items())
            )
        now = self._clock()
        book = AttemptBook(
            stored, self._schedule, now, self._settings.reporting_mta, delay_warned=False
        )
        for domain, attempt in zip(by_domain, attempts, strict=True):
            book.add(domain, attempt)
        # Only deferred recipients past delay_warning_after can owe a notice: the store is
        # asked whether it went out already then, not after every delivered message.
        if book.delay_notice_due and await self._store.delay_notice_sent(stored.id):
            book.delay_warned = True
        for recipient, dsn in book.dsns():
            await self._send_dsn(recipient, dsn)
        if book.delay_notice_due:  # remembered, so the sender is told once per message
            await self._store.record_delay_notice(stored.id, now)
        events = book.events()
        if claim.bounce:
            events = [as_admin_failure(e) for e in events]
        next_attempt = book.next_attempt_at()
        if waiting:  # not before the suspension ends (or is looked at again)
            next_attempt = max(next_attempt, claim.suspended_until)
        await self._store.record_attempt(
            claim, book.results(), next_attempt, events, book.tls_tallies()
        )
        self.attempts += 1
        self._tally(book.coverage)
        log.info("attempt %s: %s", stored.id, book.summary())
        await self._suppress_hard_bounces(book, now)

    async def _suppress_hard_bounces(self, book: AttemptBook, now: float) -> None:
        """SparkPost's bounce rule, after the attempt is recorded: a failure here costs one
        entry (logged), never the attempt's record. An entry already there is kept."""
        entries = suppressions_from(book.events(), now) if self._suppressions else []
        if not entries or self._suppressions is None:
            return
        try:
            await self._suppressions.put_suppressions(entries, keep_existing=True)
        except Exception:
            log.warning("could not add hard bounces to the suppression list", exc_info=True)

    async def _domain(self, stored: StoredMessage, domain: str, rcpts: list[str]) -> DomainAttempt:
        envelope = stored.message.envelope
        message = OutboundMessage(
            message_id=stored.id,
            mail_from=envelope.mail_from,
            recipients=tuple(rcpts),
            data=stored.message.data,
            eight_bit=envelope.body == "8BITMIME",
            smtputf8=envelope.smtputf8,
            requiretls=envelope.requiretls,
            tls_minimum=envelope.tls_minimum,
        )
        async with self._sessions, self._per_domain[domain]:
            slot = await self._domain_slot(domain)
            try:
                return await self._delivery.deliver(domain, message)
            finally:
                if slot is not None:
                    await self._free_slot(slot)

    async def _domain_slot(self, domain: str) -> DomainSlot | None:
        """One of the domain's store-wide slots, waiting while other nodes hold them all.
        None when the store fails ``SLOT_ERRORS`` times in a row (it is unreachable: the
        attempt goes on under the process's own limit, and its outcome cannot be recorded
        either until the store is back)."""
        wait, errors = SLOT_WAIT_MIN, 0
        limit, ttl = self._settings.per_domain_concurrency, self._settings.lease
        while True:
            try:
                slot = await self._slots.take_domain_slot(domain, limit, self._clock(), ttl)
            except Exception:  # e.g. a PostgreSQL deadlock between two nodes' batches
                errors += 1
                if errors >= SLOT_ERRORS:
                    log.warning("cannot take a session slot for %s; going on", domain)
                    return None
                slot = None
            if slot is not None:
                return slot
            await asyncio.sleep(wait)
            wait = min(wait * 2, SLOT_WAIT_MAX)

    async def _free_slot(self, slot: DomainSlot) -> None:
        try:
            await self._slots.free_domain_slot(slot)
        except Exception:  # it expires with its lease
            log.warning("cannot free the session slot of %s", slot.domain, exc_info=True)
