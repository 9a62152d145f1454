"""The webhook delivery worker: follow the event stream, batch, POST, retry (reference 5.4).

One task per active webhook, so one receiver's failures never hold up another's. Each task
repeats ``step``: read the webhook and its state; if a batch is pending and due, rebuild it
(events after the cursor up to the batch's last event id: events never change) and POST it
again with the same batch id; otherwise read up to ``batch_size`` new events after the
cursor, record them as the pending batch (durably, before the POST) and POST them. A 2xx
moves the cursor past the batch; a failure schedules a retry (``backoff.RetryPolicy``) and
after ``give_up_after`` the batch is dropped and recorded as such. Delivery is therefore
at least once: a crash between the POST and the cursor write re-sends that batch, with the
same ``X-MessageSystems-Batch-ID``. Every POST clears the webhook's hosts through the egress
rule again (``Sender``): a stored target whose name later resolves to a refused address is
not contacted, and the attempt is recorded as the failure ``target_refused``.

Across a cluster (several nodes on one PostgreSQL store) every node runs this worker, but a
webhook's batches are sent by one node at a time: ``step`` takes the store's lease on the
webhook's cursor (``WebhookStateStore.lease_webhook``) before it reads the state, and renews
it once half of it has run out, so a batch goes out once per event across the cluster. A node
that finds another node's live lease looks again every ``lease_recheck`` seconds and takes
over once that lease expired (its holder died) or was given back (its holder stopped:
``stop`` releases what this node held). The lease (``lease``, 60 s) must stay well above a
POST's ``timeout``, so that a lease never runs out between the check and the cursor write.
On SQLite and memory the lease is always this process's.

The clock and the sleep are injected so tests drive ``step`` without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import httpx

from sealpost.config.model import Config
from sealpost.model.egress import TargetGuard
from sealpost.model.events import EventQuery, EventRecord
from sealpost.model.webhook_delivery import BatchStatus, DeliveryState, FailureCode, PendingBatch
from sealpost.store.contracts.documents import DocumentStore
from sealpost.store.contracts.events import EventStore
from sealpost.store.contracts.webhook_state import WebhookStateStore
from sealpost.webhooks import definition, payload
from sealpost.webhooks.backoff import RetryPolicy
from sealpost.webhooks.definition import Webhook
from sealpost.webhooks.sender import PostResult, Sender
from sealpost.webhooks.state import delete_state, load_state, save_state

log = logging.getLogger("sealpost.webhooks")


class WorkerStore(DocumentStore, EventStore, WebhookStateStore, Protocol):
    """What the worker uses of the store: the webhook definitions and their delivery state,
    and the event stream it follows."""


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    batch_size: int = 100
    poll_interval: float = 1.0  # seconds between looks for new events when nothing wakes us
    timeout: float = 10.0  # per POST, token fetch included
    max_concurrent: int = 10  # POSTs in flight across all webhooks
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    status_retention: float = 86400.0  # batch status kept this long (SparkPost: 24 h)
    status_limit: int = 200  # and at most this many entries per webhook
    stop_timeout: float = 15.0
    lease: float = 60.0  # seconds a node holds a webhook's cursor (cluster mode)
    lease_recheck: float = 5.0  # seconds between looks at a cursor another node holds


class WebhookWorker:
    """``start()`` in the server's event loop, ``wake()`` when events or webhooks change,
    ``await stop()`` at shutdown."""

    def __init__(
        self,
        store: WorkerStore,
        *,
        guard: TargetGuard | None = None,
        ca_file: Path | None = None,
        settings: WorkerSettings | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or WorkerSettings()
        self.clock = clock
        self._sleep = sleep
        self.sender = Sender(
            guard=guard,
            ca_file=ca_file,
            timeout=self.settings.timeout,
            max_concurrent=self.settings.max_concurrent,
            clock=clock,
            transport=transport,
        )
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._known: frozenset[str] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._leased_until: dict[str, float] = {}  # webhooks whose cursor this node holds
        self._observe: Callable[[str, float | None], None] = lambda result, lag: None
        self._others_until: dict[str, float] = {}  # held by another node: look again then

    # -- lifecycle ------------------------------------------------------------------------

    def on_batch(self, observe: Callable[[str, float | None], None]) -> None:
        """Call ``observe(result, lag)`` after each batch POST (the metrics): ``delivered``
        with the seconds from its oldest event to the 2xx, ``failed`` (retried later) or
        ``dropped`` (given up) with None."""
        self._observe = observe

    def start(self) -> None:
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    def wake(self) -> None:
        """New events or changed webhooks: every task looks again now."""
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    async def stop(self) -> None:
        self._stopping.set()
        self.wake()
        tasks = [t for t in (self._supervisor, *self._tasks.values()) if t is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.settings.stop_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        self._tasks.clear()
        for webhook_id in list(self._leased_until):  # another node takes over at once
            try:
                await self.store.release_webhook(webhook_id)
            except Exception:
                log.warning("webhook %s: could not give back its lease", webhook_id)
        self._leased_until.clear()
        await self.sender.close()

    async def _wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``; return early on ``wake()`` or ``stop()``."""
        if self._stopping.is_set() or seconds <= 0:
            return
        woken = asyncio.ensure_future(self._wakeup.wait())
        stopped = asyncio.ensure_future(self._stopping.wait())
        slept = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait({woken, stopped, slept}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (woken, stopped, slept):
                fut.cancel()

    async def _supervise(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.sync()
            except Exception:
                log.exception("webhook worker: could not read the webhook list")
            await self._wait(self.settings.poll_interval)

    async def sync(self) -> None:
        """One task per active webhook; forget the state of deleted ones."""
        docs = await self.store.list_documents(definition.KIND)
        active = {d.id for d in docs if d.payload.get("active", True)}
        for webhook_id in active:
            task = self._tasks.get(webhook_id)
            if task is None or task.done():
                self._tasks[webhook_id] = asyncio.get_running_loop().create_task(
                    self._follow(webhook_id), name=f"webhook-{webhook_id}"
                )
        known = frozenset(d.id for d in docs)
        if known != self._known:  # a webhook went away (or first look): drop orphan state
            for webhook_id in await self.store.webhook_state_ids():
                if webhook_id not in known:
                    await delete_state(self.store, webhook_id)
                    self.sender.tokens.forget_webhook(webhook_id)
            self._known = known

    async def _follow(self, webhook_id: str) -> None:
        while not self._stopping.is_set():
            try:
                delay = await self.step(webhook_id)
            except Exception:
                log.exception("webhook %s: delivery step failed", webhook_id)
                delay = self.settings.poll_interval
            if delay is None:
                return
            await self._wait(delay)

    # -- one step -------------------------------------------------------------------------

    async def _hold_lease(self, webhook_id: str, now: float) -> float | None:
        """None when this node holds the webhook's cursor (taken or renewed now, or held for
        more than half the lease still); else seconds until it is worth asking again."""
        ttl = self.settings.lease
        if self._leased_until.get(webhook_id, 0.0) - now > ttl / 2:
            return None
        recheck = self._others_until.get(webhook_id, 0.0)
        if recheck > now:
            return recheck - now
        if await self.store.lease_webhook(webhook_id, now, ttl):
            self._leased_until[webhook_id] = now + ttl
            self._others_until.pop(webhook_id, None)
            return None
        self._leased_until.pop(webhook_id, None)
        self._others_until[webhook_id] = now + self.settings.lease_recheck
        return self.settings.lease_recheck

    async def _events(self, hook: Webhook, state: DeliveryState, limit: int) -> list[EventRecord]:
        query = EventQuery(
            types=list(hook.events),
            after=state.cursor,
            from_time=state.since if state.cursor is None else None,
            limit=limit,
        )
        return await self.store.search_events(query)

    async def step(self, webhook_id: str) -> float | None:
        """Deliver (or retry) at most one batch. Returns seconds until the next step is
        worth taking (0: more is waiting), or None when the webhook is gone or inactive."""
        doc = await self.store.get_document(definition.KIND, webhook_id)
        if doc is None:
            await delete_state(self.store, webhook_id)
            self._leased_until.pop(webhook_id, None)
            return None
        hook = Webhook.from_payload(doc.payload)
        if not hook.active:
            return None
        now = self.clock()
        wait = await self._hold_lease(webhook_id, now)
        if wait is not None:  # another node sends this webhook's batches
            return wait
        state = await load_state(self.store, webhook_id)
        if state is None:
            state = DeliveryState(webhook_id, since=hook.created_at or now)
            await save_state(self.store, state, now)
        pending = state.pending
        if pending is not None:
            if pending.next_attempt_at > now:
                return pending.next_attempt_at - now
            found = await self._events(hook, state, pending.size)
            events = [e for e in found if (e.event_id or 0) <= pending.last_event_id]
            if not events:  # the filter changed under it: nothing left to send
                await save_state(self.store, self._advance(state, pending), now)
                return 0.0
        else:
            events = await self._events(hook, state, self.settings.batch_size)
            if not events:
                return self.settings.poll_interval
            pending = PendingBatch(
                batch_id=uuid.uuid4().hex,
                last_event_id=int(events[-1].event_id or 0),
                size=len(events),
                attempts=0,
                first_attempt_at=now,
                next_attempt_at=now,
            )
            state = replace(state, pending=pending)
            await save_state(self.store, state, now)
        result = await self.sender.post(
            hook, payload.encode(payload.batch(events)), pending.batch_id
        )
        oldest = min(e.timestamp for e in events)
        return await self._settle(hook, state, pending, result, oldest)

    def _advance(self, state: DeliveryState, pending: PendingBatch) -> DeliveryState:
        return replace(state, cursor=pending.last_event_id, pending=None)

    def _status(
        self, pending: PendingBatch, attempts: int, result: PostResult, now: float
    ) -> BatchStatus:
        return BatchStatus(
            pending.batch_id, now, attempts, result.status, result.failure, result.latency_ms
        )

    async def _settle(
        self,
        hook: Webhook,
        state: DeliveryState,
        pending: PendingBatch,
        result: PostResult,
        oldest: float,
    ) -> float:
        now = self.clock()
        attempts = pending.attempts + 1
        cfg = self.settings
        state = state.recorded(
            self._status(pending, attempts, result, now),
            now=now,
            retention=cfg.status_retention,
            limit=cfg.status_limit,
        )
        target = definition.redact_target(hook.target)
        if result.ok:
            state = replace(self._advance(state, pending), last_successful=now)
            await save_state(self.store, state, now)
            self._observe("delivered", now - oldest)
            return 0.0
        due = cfg.retry.next_attempt(attempts, pending.first_attempt_at, now)
        state = replace(state, last_failure=now)
        if due is None:
            log.warning(
                "webhook %s (%s): batch %s of %d event(s) dropped after %d attempts: %s",
                hook.id,
                target,
                pending.batch_id,
                pending.size,
                attempts,
                result.detail,
            )
            dropped = BatchStatus(
                pending.batch_id, now, attempts, result.status, FailureCode.DROPPED, 0
            )
            state = state.recorded(
                dropped, now=now, retention=cfg.status_retention, limit=cfg.status_limit
            )
            await save_state(self.store, self._advance(state, pending), now)
            self._observe("dropped", None)
            return 0.0
        self._observe("failed", None)
        log.info(
            "webhook %s (%s): batch %s attempt %d failed (%s); next in %.0f s",
            hook.id,
            target,
            pending.batch_id,
            attempts,
            result.detail,
            due - now,
        )
        state = replace(state, pending=replace(pending, attempts=attempts, next_attempt_at=due))
        await save_state(self.store, state, now)
        return due - now

    # -- for the API ------------------------------------------------------------------------

    async def ping(self, hook: Webhook) -> PostResult:
        """POST ``[{"msys": {}}]`` (creation / target change check)."""
        return await self.sender.post(hook, payload.encode(payload.PING), uuid.uuid4().hex)


def from_config(
    store: WorkerStore, config: Config, guard: TargetGuard, settings: WorkerSettings | None = None
) -> WebhookWorker:
    """A worker trusting ``config.delivery.ca_file`` besides the system CAs, sending only
    where the egress ``guard`` allows."""
    return WebhookWorker(store, guard=guard, ca_file=config.delivery.ca_file, settings=settings)
