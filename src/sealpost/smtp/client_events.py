"""What the sans-I/O SMTP client and its I/O driver exchange.

Each operation the driver starts (``SmtpClient.ehlo``, ``starttls``, ``transaction``, ...)
returns events; ``Send`` asks for bytes to be written, and exactly one completion event
(``Greeted``, ``Hello``, ``StartTlsDone``, ``AuthDone``, ``ResetDone``, ``TransactionDone``,
``QuitDone``) ends it, carrying the server's reply or a synthesized one when the exchange
could not finish (timeout, lost connection, garbage from the server, local refusal).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sealpost.model.reply import Reply
from sealpost.smtp.client_extensions import Extensions


class Step(Enum):
    """What a reply answers."""

    GREETING = "greeting"
    EHLO = "EHLO"
    HELO = "HELO"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"
    RSET = "RSET"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"
    MESSAGE = "end of data"  # the reply after the final dot
    QUIT = "QUIT"


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One transaction: the envelope and the message text (any line endings, unstuffed)."""

    mail_from: str  # "" is the null sender
    recipients: tuple[str, ...]
    data: bytes
    eight_bit: bool = False  # needs BODY=8BITMIME (also inferred from non-ASCII data)
    smtputf8: bool = False  # needs SMTPUTF8 (also inferred from non-ASCII addresses)
    requiretls: bool = False  # RFC 8689: verified TLS and a REQUIRETLS peer, else refused


@dataclass(frozen=True, slots=True)
class Send:
    """Write these bytes (several Sends in one list may go out in one write)."""

    data: bytes
    secret: bool = False  # carries credentials: never log it

    def __repr__(self) -> str:
        if self.secret:
            return "Send(<credentials>)"
        shown = self.data if len(self.data) <= 80 else self.data[:80] + b"..."
        return f"Send({shown!r}, {len(self.data)} octets)"


@dataclass(frozen=True, slots=True)
class Greeted:
    reply: Reply


@dataclass(frozen=True, slots=True)
class Hello:
    """EHLO (or HELO after a 5xx to EHLO) finished; ``extensions`` None when refused."""

    reply: Reply
    extensions: Extensions | None


@dataclass(frozen=True, slots=True)
class StartTlsDone:
    """``reply.code == 220``: do the handshake now, then call ``tls_established``."""

    reply: Reply


@dataclass(frozen=True, slots=True)
class AuthDone:
    reply: Reply
    sent: bool  # False: refused locally, the credentials never left this process


@dataclass(frozen=True, slots=True)
class ResetDone:
    reply: Reply


@dataclass(frozen=True, slots=True)
class QuitDone:
    reply: Reply


@dataclass(frozen=True, slots=True)
class RecipientReply:
    """The reply that decides one recipient's fate in a transaction."""

    address: str
    reply: Reply
    after_data: bool  # the reply came after the final dot (or the dot went unanswered)
    unanswered_dot: bool = False  # the dot went out and no reply came: maybe delivered (K7)

    @property
    def delivered(self) -> bool:
        return self.after_data and self.reply.is_positive


@dataclass(frozen=True, slots=True)
class TransactionResult:
    recipients: tuple[RecipientReply, ...]  # in the order given
    mail: Reply | None  # None: MAIL was never sent (refused locally) or never answered
    data: Reply | None  # the reply to DATA when not 354, else the reply after the dot
    data_sent: bool  # the message text went out (a lost reply may mean it was delivered)


@dataclass(frozen=True, slots=True)
class TransactionDone:
    result: TransactionResult


Completion = Greeted | Hello | StartTlsDone | AuthDone | ResetDone | TransactionDone | QuitDone
Event = Send | Completion
