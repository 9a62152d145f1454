"""Turning one attempt's per-domain results into what the store records.

For each recipient: ``delivered`` / ``bounced`` / still ``queued`` with its reply, and one
event (``delivery``, ``bounce`` or ``delay``) carrying the TLS record of the session. A
transient failure past the queue lifetime becomes a bounce (RFC 5321 section 4.5.4.1).
Bounced recipients of a message with a non-null sender get one RFC 3464 DSN; a null sender
never gets one. Local domains without a route keep their mail queued as inbound mail (the
door stores most such mail ``held``, so it never gets here: what does is null-sender mail
and local recipients of messages with other recipients); when that mail is itself a DSN
answering one of our messages, it becomes an ``out_of_band`` event on the message it answers.
Each domain attempt also yields its TLS-RPT tallies (``tls_tallies``), recorded with the
events.
"""

from __future__ import annotations

import re

from sealpost.delivery.attempt import DomainAttempt
from sealpost.delivery.classify import classify
from sealpost.delivery.coverage import AttemptTally, policy_source, tls_outcome
from sealpost.delivery.dsn import DsnAction, DsnRecipient, build_dsn
from sealpost.delivery.dsn_parse import parse_dsn
from sealpost.delivery.schedule import RetrySchedule
from sealpost.delivery.tls_tallies import tallies
from sealpost.delivery.types import Outcome, RecipientOutcome
from sealpost.events.records import attempt_event
from sealpost.model.events import EventRecord
from sealpost.model.queue import RecipientResult, StoredMessage
from sealpost.model.reply import Reply
from sealpost.model.tlsrpt_report import REPORT_LISTENER, TlsTally

LOCAL_RECHECK = 86400.0  # local mail without a route is looked at again daily
_OUR_TRACE = re.compile(rb"\(Sealpost\) with [A-Z0-9]+ id ([0-9a-z]{20})")
BOUNCE_RECORDED = Reply.of(250, "2.0.0", "Bounce report recorded as an out_of_band event")


class AttemptBook:
    def __init__(
        self,
        stored: StoredMessage,
        schedule: RetrySchedule,
        now: float,
        reporting_mta: str,
        *,
        delay_warned: bool = True,
    ) -> None:
        self._stored = stored
        self._schedule = schedule
        self.delay_warned = delay_warned  # the sender already had this message's notice
        self._delayed: list[DsnRecipient] = []
        self._now = now
        self._reporting_mta = reporting_mta
        self._retry_at = schedule.next_attempt(
            stored.created_at, stored.attempts + 1, now, stored.id
        )
        self._results: list[RecipientResult] = []
        self.coverage: list[AttemptTally] = []  # per recipient, for the metrics
        self._events: list[EventRecord] = []
        self._tallies: list[TlsTally] = []
        # TLS report messages are never counted in TLS reports (loop safety, tls_tallies)
        self._counts_tls = stored.message.session.listener != REPORT_LISTENER
        self._bounced: list[DsnRecipient] = []
        self._transient = False
        self._local_hold = False
        self._counts = {
            "delivered": 0,
            "bounced": 0,
            "deferred": 0,
            "held": 0,
            "possible_duplicates": 0,
        }

    # -- intake ---------------------------------------------------------------------------
    def add(self, domain: str, attempt: DomainAttempt) -> None:
        if attempt.local:
            self._local(attempt)
            return
        if self._counts_tls:
            self._tallies.extend(tallies(domain, attempt, self._now))
        for outcome in attempt.outcomes:
            self._recipient(domain, attempt, outcome)

    def _recipient(self, domain: str, attempt: DomainAttempt, outcome: RecipientOutcome) -> None:
        reply = outcome.reply
        kind = outcome.outcome
        if kind is Outcome.TRANSIENT and self._retry_at is None:
            kind = Outcome.PERMANENT
            text = reply.text if reply else "no reply"
            reply = Reply.of(
                reply.code if reply else 451,
                reply.enhanced if reply else "4.4.7",
                f"gave up after the queue lifetime; last error: {text}",
            )
        cls = classify(reply, stage="rcpt")
        status = {Outcome.DELIVERED: "delivered", Outcome.PERMANENT: "bounced"}.get(kind, "queued")
        event_kind = {"delivered": "delivery", "bounced": "bounce"}.get(status, "delay")
        self._results.append(
            RecipientResult(outcome.address, status, str(reply) if reply else None)
        )
        self.coverage.append(
            AttemptTally(
                "deferred" if status == "queued" else status,
                tls_outcome(attempt.tls, attempt.sent, reply),
                policy_source(attempt.tls),
                domain,
            )
        )
        if outcome.possible_duplicate:
            self._counts["possible_duplicates"] += 1
        self._events.append(
            attempt_event(
                event_kind,
                message_id=self._stored.id,
                message=self._stored.message,
                created_at=self._stored.created_at,
                rcpt=outcome.address,
                reply=reply,
                now=self._now,
                num_retries=self._stored.attempts,
                tls=attempt.tls,
                ip_address=attempt.ip,
                routing_domain=domain,
                bounce_class=cls.bounce_class or None,
                tls_failures=tuple(f.value for f in attempt.tls_failures),
                possible_duplicate=outcome.possible_duplicate,
            )
        )
        if status == "bounced":
            self._counts["bounced"] += 1
            enhanced = reply.enhanced if reply and reply.enhanced else "5.0.0"
            self._bounced.append(
                DsnRecipient(
                    outcome.address,
                    DsnAction.FAILED,
                    "5" + enhanced[1:] if enhanced[0] == "4" else enhanced,
                    str(reply) if reply else "",
                    attempt.mx,
                )
            )
        elif status == "queued":
            self._counts["deferred"] += 1
            self._transient = True
            enhanced = reply.enhanced if reply and reply.enhanced else "4.0.0"
            self._delayed.append(
                DsnRecipient(
                    outcome.address,
                    DsnAction.DELAYED,
                    enhanced,
                    str(reply) if reply else "",
                    attempt.mx,
                    self._schedule.expires_at(self._stored.created_at),
                )
            )
        else:
            self._counts["delivered"] += 1

    def _local(self, attempt: DomainAttempt) -> None:
        data = self._stored.message.data
        report = parse_dsn(data) if self._stored.message.envelope.mail_from == "" else None
        # Our own trace header in the returned headers names the message answered (the
        # report's own Received header sits above its body, so only the body is searched).
        original = _OUR_TRACE.search(data.partition(b"\r\n\r\n")[2]) if report else None
        if report is None or original is None:
            self._local_hold = True
            self._counts["held"] += len(attempt.outcomes)
            for outcome in attempt.outcomes:
                self._results.append(RecipientResult(outcome.address, "queued", None))
            return
        answered = original.group(1).decode()
        for block in report.recipients:
            if block.action != "failed":
                continue
            self._events.append(
                EventRecord(
                    "out_of_band",
                    answered,
                    self._now,
                    {
                        "type": "out_of_band",
                        "rcpt_to": block.address.lower(),
                        "raw_rcpt_to": block.address,
                        "error_code": block.diagnostic[:3]
                        if block.diagnostic[:3].isdigit()
                        else "",
                        "raw_reason": block.diagnostic,
                        "reason": block.diagnostic,
                        "bounce_class": classify(
                            Reply.of(550, block.status or None, block.diagnostic), stage="rcpt"
                        ).bounce_class,
                        "reporting_mta": report.reporting_mta,
                        "report_message_id": self._stored.id,
                    },
                    block.address.lower(),
                )
            )
        for outcome in attempt.outcomes:
            self._results.append(
                RecipientResult(outcome.address, "delivered", str(BOUNCE_RECORDED))
            )
            self._counts["delivered"] += 1

    # -- output ---------------------------------------------------------------------------
    def results(self) -> list[RecipientResult]:
        return self._results

    def events(self) -> list[EventRecord]:
        return self._events

    def tls_tallies(self) -> list[TlsTally]:
        """The TLS-RPT sessions of this attempt (recorded with its events)."""
        return self._tallies

    def next_attempt_at(self) -> float:
        if self._transient and self._retry_at is not None:
            return self._retry_at
        if self._local_hold:
            return self._now + LOCAL_RECHECK
        return self._now

    @property
    def delay_notice_due(self) -> bool:
        """A "still trying" notice is owed: deferred recipients, none sent yet, and the
        message is older than ``delay_warning_after`` (Postfix ``delay_warning_time``)."""
        return bool(self._delayed) and self._schedule.should_warn_delay(
            self._stored.created_at, self._now, self.delay_warned
        )

    def dsns(self) -> list[tuple[str, bytes]]:
        notices = []
        if self._bounced:
            notices.append(self._dsn(self._bounced))
        if self.delay_notice_due:
            notices.append(self._dsn(self._delayed))
        sender = self._stored.message.envelope.mail_from
        return [(sender, dsn) for dsn in notices if dsn is not None]

    def _dsn(self, recipients: list[DsnRecipient]) -> bytes | None:
        message = self._stored.message
        return build_dsn(
            reporting_mta=self._reporting_mta,
            original_mail_from=message.envelope.mail_from,
            original_message_id=self._stored.id,
            original_headers=message.data,
            recipients=recipients,
            arrival=self._stored.created_at,
            now=self._now,
            envelope_id=None,
        )

    def summary(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._counts.items() if v)
