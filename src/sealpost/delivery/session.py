"""One outbound SMTP session to one Target: open it (TLS per the requirement), send, close.

``OutboundSession.open`` connects, greets and secures the session (``session_link``,
``session_tls``); ``tls`` and ``verdict`` say what TLS proved and whether that met the
requirement. ``send`` runs one transaction: RFC 6152 / RFC 6531 / RFC 8689 refusals happen
in the client before anything is written (5.6.3, 5.6.7, 5.6.9, 5.7.30: PERMANENT, never
downgraded); each recipient's outcome comes from its RCPT reply (2xx ok, 4xx TRANSIENT, 5xx
PERMANENT) and, once accepted, from the reply after the final dot. A timeout or a lost
connection makes every unfinished recipient TRANSIENT and the session unusable; when the
dot went out unanswered the message may have been delivered, so it is retried and a
duplicate is accepted (RFC 5321 section 4.5.3.2.6, RFC 1047; checklist K7). Messages after
the first on the same connection start with RSET (connection reuse).
"""

from __future__ import annotations

from sealpost.delivery.session_link import UNUSABLE, ClientSettings, Link, OpenFailure
from sealpost.delivery.session_tls import BrokenTlsHosts, Negotiation
from sealpost.delivery.types import OutboundMessage, Outcome, RecipientOutcome, Target
from sealpost.model.reply import Reply
from sealpost.model.tls_record import TlsRecord
from sealpost.policy.levels import Requirement, Verdict
from sealpost.smtp.client_events import OutgoingMail, TransactionDone

__all__ = ["BrokenTlsHosts", "ClientSettings", "OpenFailure", "OutboundSession"]

UNEXPECTED = Reply.of(451, "4.5.0", "unexpected data from the server")


class OutboundSession:
    """An open session, ready to carry messages; make it with ``OutboundSession.open``."""

    def __init__(self, link: Link, target: Target, tls: TlsRecord, verdict: Verdict) -> None:
        self._link = link
        self.target = target
        self.tls = tls
        self.verdict = verdict
        self._sent = 0

    @classmethod
    async def open(
        cls,
        target: Target,
        requirement: Requirement,
        settings: ClientSettings,
        broken: BrokenTlsHosts,
    ) -> OutboundSession | OpenFailure:
        opened = await Negotiation(target, requirement, settings, broken).run()
        if isinstance(opened, OpenFailure):
            return opened
        return cls(opened.link, target, opened.tls, opened.verdict)

    @property
    def usable(self) -> bool:
        """Can carry another message on this connection."""
        return self._link.usable

    @property
    def offers_requiretls(self) -> bool:
        """The server listed REQUIRETLS in its EHLO reply after STARTTLS (RFC 8689 4.2.1)."""
        extensions = self._link.client.extensions
        return extensions is not None and extensions.requiretls

    @property
    def messages_sent(self) -> int:
        return self._sent

    @property
    def peer_ip(self) -> str:
        """The address this session is connected to (events' ``ip_address``)."""
        return self._link.stream.peer[0]

    async def send(self, message: OutboundMessage) -> list[RecipientOutcome]:
        link = self._link
        if link.stream.buffered:  # the server spoke unasked: never guess which reply is whose
            link.client.abort(UNEXPECTED)
        if not link.usable:
            return [RecipientOutcome(r, Outcome.TRANSIENT, UNUSABLE) for r in message.recipients]
        mail = OutgoingMail(
            message.mail_from,
            message.recipients,
            message.data,
            eight_bit=message.eight_bit,
            smtputf8=message.smtputf8,
            requiretls=message.requiretls,
        )
        events = link.client.transaction(mail, reset_first=self._sent > 0)
        self._sent += 1
        done = await link.run(events, TransactionDone)
        outcomes = []
        for item in done.result.recipients:
            if item.delivered:
                outcome = Outcome.DELIVERED
            elif item.reply.is_permanent:
                outcome = Outcome.PERMANENT
            else:
                outcome = Outcome.TRANSIENT
            outcomes.append(
                RecipientOutcome(item.address, outcome, item.reply, item.unanswered_dot)
            )
        return outcomes

    async def close(self) -> None:
        """QUIT, then close; never raises."""
        await self._link.close()
