"""The sans-I/O SMTP client: operations in, bytes to write and completion events out.

RFC 5321: greeting (section 3.1), EHLO with HELO after a 5xx (section 3.2), MAIL / RCPT /
DATA (section 3.3), RSET, QUIT; a ``421`` to any command means the server is closing
(section 3.8), so everything unanswered gets that reply. Replies are read strictly
(``client_replies``), and a positive reply of an unexpected code is a protocol error: a
message is delivered only on a ``250`` after the final dot.
RFC 2920 (PIPELINING): RSET, MAIL, every RCPT and DATA go out in one write, DATA last;
each reply is matched to its command in order; if DATA gets ``354`` although no recipient
was accepted, only the final dot is sent (section 3.1), then RSET. Without PIPELINING one
command is written per reply.
RFC 3207 section 4.2: after ``220`` to STARTTLS every byte already received is discarded
(checklist B1: CVE-2021-38371 and kin), what EHLO said is forgotten and EHLO is sent again
once the handshake is done. RFC 4954 / RFC 4616: AUTH PLAIN only inside verified TLS
(checklist B5). RFC 6152 / RFC 6531: 8-bit or UTF-8 content never goes to a server that did
not offer 8BITMIME / SMTPUTF8 (no downgrade: refused with 5.6.3, 5.6.7 or 5.6.9). RFC 8689
section 4.2.1: a REQUIRETLS message needs verified TLS and a peer offering REQUIRETLS, else
5.7.30. RFC 1870: SIZE is declared and a message over the server's limit is refused with
5.3.4. Checklist I3: envelope addresses are checked before anything is written.
"""

from __future__ import annotations

import base64
from collections import deque
from enum import Enum

from sealpost.model.reply import Reply
from sealpost.smtp.client_encoding import command, encode_data, helo_problem, mail_parameters
from sealpost.smtp.client_events import (
    AuthDone,
    Event,
    Greeted,
    Hello,
    OutgoingMail,
    QuitDone,
    ResetDone,
    Send,
    StartTlsDone,
    Step,
    TransactionDone,
)
from sealpost.smtp.client_extensions import Extensions
from sealpost.smtp.client_replies import MAX_REPLY_LINE, ReplyFault, ReplyReader
from sealpost.smtp.client_transaction import RSET, Pending, TransactionState

GONE = Reply.of(451, "4.4.2", "connection already closed")
NO_REPLY = Reply.of(451, "4.4.2", "no reply from the server")
_SUCCESS = {
    Step.GREETING: {220},
    Step.EHLO: {250},
    Step.HELO: {250},
    Step.STARTTLS: {220},
    Step.AUTH: {235},
    Step.RSET: {250},
    Step.MAIL: {250},
    Step.RCPT: {250, 251},
    Step.DATA: {354},
    Step.MESSAGE: {250},
}


class ClientStateError(RuntimeError):
    """An operation was started while another one was still running."""


class _Op(Enum):
    GREET = "greet"
    HELLO = "hello"
    STARTTLS = "starttls"
    AUTH = "auth"
    RESET = "reset"
    TRANSACTION = "transaction"
    QUIT = "quit"


class SmtpClient:
    """One SMTP client session; starts waiting for the server's greeting."""

    def __init__(self, helo_name: str, *, max_reply_line: int = MAX_REPLY_LINE) -> None:
        problem = helo_problem(helo_name)
        if problem is not None:
            raise ValueError(f"invalid EHLO name: {problem}")
        self._helo = helo_name
        self._reader = ReplyReader(max_reply_line)
        self._pending: deque[Pending] = deque([Pending(Step.GREETING)])
        self._op: _Op | None = _Op.GREET
        self._txn: TransactionState | None = None
        self._extensions: Extensions | None = None
        self._tls = False
        self._verified = False
        self._awaiting_tls = False
        self._closed = False
        self._fault: str | None = None
        self._auth_sent = False

    # -- state ----------------------------------------------------------------------------
    @property
    def extensions(self) -> Extensions | None:
        """What the last successful EHLO/HELO offered (None before it, and after STARTTLS)."""
        return self._extensions

    @property
    def tls_active(self) -> bool:
        return self._tls

    @property
    def fault(self) -> str | None:
        """Why the session cannot go on (a protocol error, or an ``abort``), or None."""
        return self._fault

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def usable(self) -> bool:
        """Idle, and able to start another operation on this connection."""
        return not (self._closed or self._fault or self._awaiting_tls) and self._op is None

    @property
    def waiting_for(self) -> Step | None:
        """The command whose reply comes next (the driver picks its timeout from it)."""
        return self._pending[0].step if self._pending else None

    # -- operations -----------------------------------------------------------------------
    def ehlo(self) -> list[Event]:
        if not self._begin(_Op.HELLO):
            return self._finish_with(GONE)
        return self._send(Step.EHLO, command(f"EHLO {self._helo}"))

    def starttls(self) -> list[Event]:
        if not self._begin(_Op.STARTTLS):
            return self._finish_with(GONE)
        return self._send(Step.STARTTLS, b"STARTTLS\r\n")

    def tls_established(self, *, verified: bool) -> list[Event]:
        """The handshake after ``220`` succeeded: forget what EHLO said and say EHLO again."""
        if not self._awaiting_tls:
            raise ClientStateError("no STARTTLS was accepted")
        self._awaiting_tls = False
        self._tls, self._verified = True, verified
        self._extensions = None
        self._reader.clear()
        return self.ehlo()

    def auth_plain(self, username: str, password: str) -> list[Event]:
        """AUTH PLAIN with an initial response; refused here unless TLS is verified (B5)."""
        if not self._begin(_Op.AUTH):
            return self._finish_with(GONE)
        self._auth_sent = False
        ext = self._extensions or Extensions.none()
        if not (self._tls and self._verified):
            refusal = Reply.of(530, "5.7.0", "credentials withheld: TLS is not verified")
        elif "PLAIN" not in ext.auth_mechanisms:
            refusal = Reply.of(504, "5.5.4", "the server does not offer AUTH PLAIN")
        elif "\0" in username or "\0" in password:
            refusal = Reply.of(501, "5.5.4", "NUL in credentials")
        else:
            token = base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")
            self._auth_sent = True
            return self._send(Step.AUTH, command(f"AUTH PLAIN {token}"), secret=True)
        return self._complete(AuthDone(refusal, sent=False))

    def reset(self) -> list[Event]:
        if not self._begin(_Op.RESET):
            return self._finish_with(GONE)
        return self._send(Step.RSET, RSET)

    def quit(self) -> list[Event]:
        if not self._begin(_Op.QUIT):
            return self._finish_with(GONE)
        return self._send(Step.QUIT, b"QUIT\r\n")

    def transaction(self, mail: OutgoingMail, *, reset_first: bool = False) -> list[Event]:
        """Send one message; ``reset_first`` puts RSET ahead of MAIL (connection reuse)."""
        alive = self._begin(_Op.TRANSACTION)
        wire, size = encode_data(mail.data)
        txn = self._txn = TransactionState(mail, wire)
        if not alive:
            return self._finish_with(GONE)
        ext = self._extensions or Extensions.none()
        verified = self._tls and self._verified
        refusal, params = mail_parameters(mail, ext, size, verified_tls=verified)
        commands = txn.commands(refusal, params, reset_first=reset_first)
        if not commands:
            return self._finish_transaction()
        if ext.pipelining:
            self._pending.extend(pending for pending, _ in commands)
            return [Send(b"".join(line for _, line in commands))]
        txn.plan.extend(commands)
        return self._send_next()

    def abort(self, reply: Reply) -> list[Event]:
        """The connection failed (timeout, reset, EOF): end the running operation with
        ``reply`` for everything unanswered; the session cannot be used any more."""
        self._fault = self._fault or reply.text
        if self._op is None:
            return []
        return self._finish_with(reply)

    # -- input ----------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[Event]:
        """Bytes from the server; returns what to write and the completions."""
        if self._awaiting_tls or self._closed or self._fault is not None:
            return []  # plaintext after 220 to STARTTLS is never read (B1)
        self._reader.feed(data)
        events: list[Event] = []
        while not (self._awaiting_tls or self._closed or self._fault):
            item = self._reader.next_reply()
            if item is None:
                break
            if isinstance(item, ReplyFault):
                events += self._protocol_error(item.detail)
            elif not self._pending:
                events += self._protocol_error("reply without a command outstanding")
            else:
                events += self._on_reply(self._pending.popleft(), item)
        if self._awaiting_tls:
            self._reader.clear()
        return events

    # -- internals ------------------------------------------------------------------------
    def _begin(self, op: _Op) -> bool:
        if self._op is not None or self._awaiting_tls:
            raise ClientStateError(f"cannot start {op.value}: {self._op or 'TLS'} in progress")
        self._op = op
        return not (self._closed or self._fault)

    def _send(self, step: Step, line: bytes, *, secret: bool = False) -> list[Event]:
        self._pending.append(Pending(step))
        return [Send(line, secret)]

    def _complete(self, event: Event) -> list[Event]:
        self._op = None
        self._pending.clear()
        return [event]

    def _finish_with(self, reply: Reply) -> list[Event]:
        op = self._op
        if op is _Op.TRANSACTION:
            return self._finish_transaction(reply)
        if op is _Op.GREET:
            return self._complete(Greeted(reply))
        if op is _Op.HELLO:
            return self._complete(Hello(reply, None))
        if op is _Op.STARTTLS:
            return self._complete(StartTlsDone(reply))
        if op is _Op.AUTH:
            return self._complete(AuthDone(reply, sent=self._auth_sent))
        if op is _Op.RESET:
            return self._complete(ResetDone(reply))
        self._closed = True
        return self._complete(QuitDone(reply))

    def _protocol_error(self, detail: str) -> list[Event]:
        self._fault = detail
        if self._op is None:
            return []
        return self._finish_with(Reply.of(451, "4.5.0", f"protocol error from server: {detail}"))

    def _on_reply(self, pending: Pending, reply: Reply) -> list[Event]:
        step = pending.step
        if step is Step.QUIT:
            self._closed = True
            return self._complete(QuitDone(reply))
        if reply.code == 421:  # RFC 5321 section 3.8: the server closes the channel
            self._closed = True
            return self._finish_with(reply)
        if reply.is_positive and reply.code not in _SUCCESS[step]:
            return self._protocol_error(f"unexpected reply {reply.code} to {step.value}")
        if step is Step.GREETING:
            return self._complete(Greeted(reply))
        if step is Step.EHLO:
            if reply.is_positive:
                self._extensions = Extensions.parse(reply)
                return self._complete(Hello(reply, self._extensions))
            if reply.is_permanent:  # RFC 5321 section 3.2: fall back to HELO
                return self._send(Step.HELO, command(f"HELO {self._helo}"))
            return self._complete(Hello(reply, None))
        if step is Step.HELO:
            name = reply.lines[0].split(" ", 1)[0]
            self._extensions = Extensions.none(name) if reply.is_positive else None
            return self._complete(Hello(reply, self._extensions))
        if step is Step.STARTTLS:
            self._awaiting_tls = reply.code == 220
            return self._complete(StartTlsDone(reply))
        if step is Step.AUTH:
            return self._complete(AuthDone(reply, sent=True))
        if step is Step.RSET and self._op is _Op.RESET:
            return self._complete(ResetDone(reply))
        return self._on_transaction_reply(pending, reply)

    def _on_transaction_reply(self, pending: Pending, reply: Reply) -> list[Event]:
        assert self._txn is not None
        payload = self._txn.record(pending, reply)
        if payload is not None:  # the 354 to DATA
            self._pending.append(Pending(Step.MESSAGE))
            return [Send(payload)]
        return [] if self._pending else self._send_next()

    def _send_next(self) -> list[Event]:
        assert self._txn is not None
        following = self._txn.next_command()
        if following is None:
            return self._finish_transaction()
        self._pending.append(following[0])
        return [Send(following[1])]

    def _finish_transaction(self, lost: Reply = NO_REPLY) -> list[Event]:
        txn = self._txn
        assert txn is not None
        self._txn = None
        return self._complete(TransactionDone(txn.result(lost)))
