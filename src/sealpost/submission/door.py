"""The one door for new mail: every listener and the HTTP API call ``submit``.

A key limited to sender domains (``keys create --domain``; ``SessionInfo.sender_domains``)
may only queue a message whose envelope sender and every header From/Sender address are in
those domains (``sender_identity.check_sender``); anything else is refused as a value and
nothing is queued (DESIGN section 9, RFC 6409 section 6.1). It DKIM-signs mail we originate
(authenticated submissions, our own bounces and TLS reports; never mail relayed to us
from outside), for
a restricted key only with a key of one of its domains. It stamps the ``Received:`` trace
header (RFC 5321 section 4.4), gives the message its id, stores it durably with its
injection events (``Spool.enqueue`` returns only after fsync, RFC 5321 section 6.1)
and then wakes the dispatcher. Nothing may acknowledge a message before ``submit`` has
returned.

An authenticated SMTP submission's recipients on the suppression list (``suppression_gate``)
are dropped from the envelope with a ``policy_rejection`` event each, committed with the
message (or alone, when no recipient is left: then nothing is queued); the caller still
answers ``250``, as SparkPost did. The API rejects its suppressed recipients itself, before
``submit_batch``, to answer for each one.

Mail that stays here (``local_hold``: every recipient in a local domain without a route, a
non-null sender) is stored ``held`` in that same transaction, and the dispatcher is not
woken for it: it never claims held mail. A held message that may be a TLS-RPT report
(``report_mark``: a search of its header block, and of its body when it is multipart) is
stored marked, in that same transaction, and wakes the TLS-RPT intake (``on_held``), which
reads only marked mail, after the reply; other held mail is never read again. The injection
event is the same either way (the dispatcher's path never added one for such mail either).
``counts`` tells the periodic summary (``activity``) what the door took in.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from sealpost.events.records import injection_events, policy_rejection_event
from sealpost.model.document import Document
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.events import EventRecord
from sealpost.model.grants import Grant
from sealpost.model.idempotency import IdempotencyRecord
from sealpost.model.ids import new_message_id
from sealpost.model.queue import InitialState, Submitted
from sealpost.model.tlsrpt_report import REPORT_LISTENER
from sealpost.store.contracts.keys import KeyStore
from sealpost.store.contracts.queue import Spool
from sealpost.submission.activity import DoorCounts
from sealpost.submission.local_hold import LocalHold
from sealpost.submission.received import received_header
from sealpost.submission.report_mark import may_be_report
from sealpost.submission.sender_identity import ForeignSender, check_sender
from sealpost.submission.smtp_api_header import BadSmtpApi, read_smtp_api
from sealpost.submission.suppression_gate import (
    SuppressionStore,
    is_checked,
    mail_type,
    suppressed_of,
)

log = logging.getLogger("sealpost")


class Signer(Protocol):
    """DkimSigner, or SigningKeys (config keys plus verified sending domains' keys).
    ``domains`` (not None) limits the signing domains (d=) to those."""

    def sign(self, data: bytes, domains: frozenset[str] | None = None) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: str
    held: bool = False  # stored held: it stays here (local_hold)
    suppressed: int = 0  # recipients dropped: on the suppression list (policy_rejection)
    queued: bool = True  # False: every recipient was suppressed, only the events were stored


def _originated_here(session: SessionInfo) -> bool:
    return session.auth_user is not None or session.listener in ("api", "dsn", REPORT_LISTENER)


def _refusal(message: InboundMessage) -> ForeignSender | None:
    domains = message.session.sender_domains
    return check_sender(message.data, message.envelope.mail_from, domains)


class Submission:
    """Signs what we originate, stamps, stores, wakes."""

    def __init__(
        self,
        store: Spool,
        clock: Callable[[], float] = time.time,
        signer: Signer | None = None,
        hostname: str = "localhost",
        local_hold: LocalHold | None = None,
        suppressions: SuppressionStore | None = None,
        keys: KeyStore | None = None,
    ) -> None:
        self._store = store
        self._suppressions = suppressions
        self._keys = keys  # the grants behind X-MSYS-API options.skip_suppression
        self._clock = clock
        self._signer = signer
        self._hostname = hostname
        self._hold = local_hold or LocalHold()
        self._wake: Callable[[], None] = lambda: None
        self._held: Callable[[], None] = lambda: None
        self._tally: Callable[[str, int], None] = lambda listener, count: None
        self.accepted = 0
        self.held = 0  # of those accepted, stored held
        self.refused = 0  # refused as a value (a sender the key may not use)
        self.suppressed = 0  # recipients dropped because they are on the suppression list

    def update_local_hold(self, local_hold: LocalHold) -> None:
        """Local domains and routes from a reloaded config (SIGHUP), from the next message."""
        self._hold = local_hold

    @property
    def counts(self) -> DoorCounts:
        """What the door took in since it was made (for the periodic summary)."""
        return DoorCounts(self.accepted, self.held, self.refused)

    def on_queued(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` after each message is stored (the dispatcher's wake-up)."""
        self._wake = wake

    def on_held(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` after a message is stored held and marked as a possible TLS-RPT
        report (the intake's wake-up: it reads marked mail after the reply, never inside
        this door)."""
        self._held = wake

    def on_accepted(self, tally: Callable[[str, int], None]) -> None:
        """Call ``tally(listener, count)`` once messages are stored (the metrics)."""
        self._tally = tally

    async def submit(self, message: InboundMessage) -> Accepted | ForeignSender | BadSmtpApi:
        """Durably queue ``message``; raises ``StoreError`` when it could not be stored.
        A restricted key's message naming a sender it may not use is returned refused, as is
        an authenticated injection whose ``X-MSYS-API`` header cannot be used; a usable one
        is applied and removed (``smtp_api_header``) before anything else looks at it."""
        skip = False
        if message.session.auth_user is not None and message.session.listener != "api":
            read = read_smtp_api(message)
            if isinstance(read, BadSmtpApi):
                self.refused += 1
                return read
            message, fields = read
            if fields is not None and fields.skip_suppression:
                skip = await self._may_skip_suppression(message.session.auth_user)
        refused = _refusal(message)
        if refused is not None:
            self.refused += 1
            return refused
        return await self._enqueue(message, skip_suppression=skip)

    async def _may_skip_suppression(self, key_id: str) -> bool:
        """``options.skip_suppression`` counts only for a key holding
        ``suppression_lists/manage`` (it could delete the entries and send anyway)."""
        record = await self._keys.find_key(key_id) if self._keys is not None else None
        if record is not None and record.allows(Grant.SUPPRESSION_LISTS_MANAGE):
            return True
        log.info(
            "X-MSYS-API options.skip_suppression ignored: key %s lacks the grant "
            "suppression_lists/manage",
            key_id,
        )
        return False

    async def _enqueue(
        self, message: InboundMessage, *, skip_suppression: bool = False
    ) -> Accepted:
        now = self._clock()
        message_id = new_message_id(now)
        rejected = [] if skip_suppression else await self._suppressed(message)
        rejections = [policy_rejection_event(message_id, message, r, now) for r in rejected]
        if rejected:
            self.suppressed += len(rejected)
            dropped = set(rejected)
            keep = tuple(r for r in message.envelope.recipients if r not in dropped)
            if not keep:  # SparkPost answers 250 all the same; only the events are stored
                assert self._suppressions is not None
                await self._suppressions.add_events(rejections)
                return Accepted(message_id, suppressed=len(rejected), queued=False)
            message = replace(message, envelope=replace(message.envelope, recipients=keep))
        stamped = self._stamp(message_id, message)
        held = self._hold.holds(stamped)
        marked = held and may_be_report(message.data)  # as sent: our trace names no report
        await self._store.enqueue(
            message_id,
            stamped,
            now,
            [*rejections, *injection_events(message_id, stamped, now)],
            state="held" if held else "queued",
            report_mark=marked,
        )
        self.accepted += 1
        self._tally(message.session.listener, 1)
        if held:
            self.held += 1
            if marked:
                self._held()
        else:
            self._wake()
        return Accepted(message_id, held, suppressed=len(rejected))

    async def _suppressed(self, message: InboundMessage) -> list[str]:
        """The recipients of an SMTP submission that are on the suppression list (the API
        checks its transmissions itself, to answer for each recipient)."""
        if self._suppressions is None or message.session.listener == "api":
            return []
        if not is_checked(message):
            return []
        kind = mail_type(message.annotations)
        return await suppressed_of(self._suppressions, message.envelope.recipients, kind)

    async def submit_batch(
        self,
        messages: Sequence[InboundMessage],
        *,
        not_before: float | None = None,
        idempotency: Callable[[list[str]], IdempotencyRecord] | None = None,
        documents: Callable[[list[str]], Sequence[Document]] | None = None,
        events: Sequence[EventRecord] = (),
    ) -> list[str] | ForeignSender:
        """Queue many messages (one API transmission) in ONE transaction; returns their ids.

        ``idempotency`` and ``documents`` are built from the ids (the response and the
        transmission record name them) and are committed with the messages, all or nothing;
        ``DuplicateError`` when the idempotency key was used already. ``not_before``
        schedules the batch (``options.start_time``). ``events`` that belong to no message
        of the batch (the ``policy_rejection`` of a suppressed recipient) commit with it.
        Refused (nothing queued) when any message names a sender its key may not use."""
        for message in messages:
            refused = _refusal(message)
            if refused is not None:
                self.refused += 1
                return refused
        now = self._clock()
        items: list[Submitted] = []
        for message in messages:
            message_id = new_message_id(now)
            stamped = self._stamp(message_id, message)
            injected = injection_events(message_id, stamped, now)
            state: InitialState = "held" if self._hold.holds(stamped) else "queued"
            marked = state == "held" and may_be_report(message.data)
            items.append(Submitted(message_id, stamped, injected, state, marked))
        if events and items:
            items[0] = replace(items[0], events=[*events, *items[0].events])
        ids = [item.message_id for item in items]
        await self._store.enqueue_batch(
            items,
            now,
            not_before=not_before,
            idempotency=idempotency(ids) if idempotency else None,
            documents=documents(ids) if documents else (),
        )
        self.accepted += len(items)
        for listener, count in Counter(i.message.session.listener for i in items).items():
            self._tally(listener, count)
        held = sum(1 for item in items if item.state == "held")
        self.held += held
        if held < len(items):
            self._wake()
        if any(item.report_mark for item in items):
            self._held()
        return ids

    def _stamp(self, message_id: str, message: InboundMessage) -> InboundMessage:
        data = message.data
        session = message.session
        if self._signer is not None and _originated_here(session):
            data = self._signer.sign(data, session.sender_domains)
        trace = received_header(message.session, message.envelope, message_id)
        return replace(message, data=trace + data)

    async def submit_dsn(self, recipient: str, data: bytes) -> Accepted:
        """Queue a bounce we generated: null sender (RFC 5321 section 4.5.5), one recipient."""
        session = SessionInfo(
            listener="dsn",
            client_ip="127.0.0.1",
            client_port=0,
            helo=self._hostname,
            local_hostname=self._hostname,
        )
        envelope = Envelope(
            mail_from="", recipients=(recipient,), body="7BIT" if data.isascii() else "8BITMIME"
        )
        return await self._enqueue(InboundMessage(envelope, session, data))
