"""The inbound SMTP state machine: bytes in, events out, no I/O.

RFC 5321 section 4.1.4 (command order: EHLO/HELO, then MAIL, RCPT, DATA; 503 otherwise),
section 4.1.1.5 (RSET) and 4.1.4 (EHLO resets the transaction). RFC 2920: with PIPELINING
replies to a group go out together; DATA ends a group. Without PIPELINING, or before it
was offered, a command followed by more input is a synchronization error (554 5.5.0, as
Postfix ``smtpd_forbid_unauth_pipelining``; checklist F2). RFC 3207 section 4.2: after
the TLS handshake all earlier state is forgotten, and bytes sent after STARTTLS in the
clear are never executed (CVE-2011-0411, checklist A1). RFC 4954 section 4: AUTH only
over TLS here, once per session, never inside a transaction. RFC 5321 section 4.5.3.1.10:
too many recipients is 452, not 552. RFC 5321 sections 3.8 and 4.2.2: a server going down
answers 421 (here 421 4.3.2) and closes; ``shutdown`` does so at once when no transaction is
in progress, else right after the transaction's final reply (a drain).
"""

from __future__ import annotations

from enum import Enum

from sealpost.model.envelope import Envelope
from sealpost.model.reply import Reply
from sealpost.model.tls_record import TlsRecord
from sealpost.smtp import replies
from sealpost.smtp.commands import CommandHandlers
from sealpost.smtp.data import DataLimits, DataReader
from sealpost.smtp.events import (
    Authenticate,
    AuthOutcome,
    Close,
    Event,
    MessageReady,
    Send,
    ServerPolicy,
    StartTls,
)
from sealpost.smtp.grammar import split_command
from sealpost.smtp.lines import Framing, InputBuffer
from sealpost.smtp.sasl import Challenge, Credentials, SaslExchange, SaslFault, Step

__all__ = [
    "AuthOutcome",
    "Authenticate",
    "Close",
    "Event",
    "MessageReady",
    "Send",
    "ServerPolicy",
    "ServerSession",
    "StartTls",
]

WAIT_BUFFER_LIMIT = 64 * 1024  # input piled up while an answer is pending: abuse beyond
_JUNK = frozenset({"NOOP", "RSET", "HELP", "VRFY", "EXPN"})


class _Wait(Enum):
    TLS = "handshake"
    AUTH = "credentials check"
    STORE = "durable store"


class ServerSession(CommandHandlers):
    """One inbound SMTP connection. Every method returns the events to perform, in order;
    after a Close event every method returns ``[]``."""

    def __init__(self, policy: ServerPolicy, *, tls: TlsRecord | None = None) -> None:
        super().__init__(policy, tls)
        self._input = InputBuffer(policy.max_command_line)
        self._limits = DataLimits(
            policy.max_message_size,
            policy.max_text_line,
            policy.max_header_line,
            policy.max_header_lines,
        )
        self._data: DataReader | None = None
        self._sasl: SaslExchange | None = None
        self._wait: _Wait | None = None
        self._started = False
        self._junk = 0
        self._errors = 0
        self._auth_failures = 0
        self._draining = False

    # -- read-only state -------------------------------------------------------------

    @property
    def helo(self) -> str | None:
        return self._helo

    @property
    def esmtp(self) -> bool:
        return self._esmtp

    @property
    def tls(self) -> TlsRecord | None:
        return self._tls

    @property
    def auth_user(self) -> str | None:
        return self._auth_user

    @property
    def sender_domains(self) -> frozenset[str] | None:
        """The authenticated key's sender domains; None when any domain may be used."""
        return self._sender_domains

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def in_data(self) -> bool:
        return self._data is not None

    @property
    def waiting(self) -> bool:
        return self._wait is not None

    @property
    def in_transaction(self) -> bool:
        """MAIL given and its transaction not yet answered (or an exchange pending)."""
        return (
            self._txn is not None
            or self._data is not None
            or self._wait is not None
            or self._sasl is not None
        )

    # -- the driver's calls ------------------------------------------------------------

    def start(self) -> list[Event]:
        if self._closed or self._started:
            return []
        self._started = True
        return [Send(replies.greeting(self._policy.hostname))]

    def feed(self, data: bytes) -> list[Event]:
        if self._closed or not data or self._wait is _Wait.TLS:
            return []  # during the handshake every plaintext byte is dropped (RFC 3207)
        self._input.append(data)
        if self._wait is not None:
            if len(self._input) > WAIT_BUFFER_LIMIT:
                return self._abort([], replies.input_overflow(self._policy.hostname))
            return []
        return self._pump([])

    def tls_established(self, record: TlsRecord) -> list[Event]:
        if self._closed or self._wait is not _Wait.TLS:
            return []
        self._wait = None
        self._tls = record
        self._helo, self._esmtp, self._txn = None, False, None
        self._auth_user, self._sender_domains, self._sasl = None, None, None
        self._input.clear()
        return self._drained([])

    def auth_result(self, outcome: AuthOutcome) -> list[Event]:
        if self._closed or self._wait is not _Wait.AUTH:
            return []
        self._wait = None
        out: list[Event] = []
        if outcome.locked_out:
            return self._abort(out, replies.too_many_auth_failures(self._policy.hostname))
        if outcome.user is None:
            self._auth_failed(out)
        else:
            self._auth_user, self._sender_domains = outcome.user, outcome.sender_domains
            out.append(Send(replies.AUTH_OK))
        return self._pump(out)

    def store_result(self, reply: Reply) -> list[Event]:
        if self._closed or self._wait is not _Wait.STORE:
            return []
        self._wait, self._txn = None, None
        if reply.code == 421:
            return self._abort([], reply)
        if reply.is_positive:  # like Postfix: a delivered message clears the counters
            self._errors = self._junk = 0
        return self._pump([Send(reply)])

    def timeout(self) -> list[Event]:
        if self._closed:
            return []
        return self._abort([], replies.timeout(self._policy.hostname))

    def shutdown(self, *, now: bool = False) -> list[Event]:
        """The server drains: 421 4.3.2 and Close now when idle between transactions (or
        ``now``: the drain time is over), otherwise once the transaction in progress has
        had its final reply."""
        if self._closed:
            return []
        self._draining = True
        if now:
            return self._abort([], replies.shutting_down(self._policy.hostname))
        return self._drained([])

    def _drained(self, out: list[Event]) -> list[Event]:
        if self._draining and not self._closed and not self.in_transaction:
            return self._abort(out, replies.shutting_down(self._policy.hostname))
        return out

    # -- input processing --------------------------------------------------------------

    def _pump(self, out: list[Event]) -> list[Event]:
        while not self._closed and self._wait is None and len(self._input):
            if self._draining and not self.in_transaction:
                break  # what follows a finished transaction is not read: 421 below
            if self._data is not None:
                self._feed_data(out)
                continue
            line = self._input.next_line()
            if line is None:
                break
            if line is Framing.TOO_LONG:
                self._sasl = None
                self._reply(out, replies.LINE_TOO_LONG)
            elif self._sasl is not None:
                self._sasl_line(line, out)
            else:
                self._command(line, out)
        return self._drained(out)

    def _command(self, line: bytes, out: list[Event]) -> None:
        if len(self._input) and not self._esmtp:
            self._abort(out, replies.SYNC_ERROR)  # RFC 2920 section 3.1, checklist F2
            return
        if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
            self._reply(out, replies.BARE_LINE_ENDING)
            return
        raw = line[:-2]
        if b"\0" in raw:
            self._reply(out, replies.NUL_IN_COMMAND)
            return
        if raw.isascii():
            text = raw.decode("ascii")
        elif raw[:5].upper() in (b"MAIL ", b"RCPT "):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self._reply(out, replies.NON_ASCII)
                return
        else:
            self._reply(out, replies.NON_ASCII)
            return
        command = split_command(text)
        handler = self.HANDLERS.get(command.verb)
        if handler is None:
            self._reply(out, replies.UNKNOWN_COMMAND)
            return
        if command.verb in _JUNK:
            self._junk += 1
            if self._junk > self._policy.max_junk_commands:
                self._abort(out, replies.too_many_commands(self._policy.hostname))
                return
        handler(self, command.argument, out)

    def _feed_data(self, out: list[Event]) -> None:
        reader = self._data
        assert reader is not None
        chunk = self._input.take_all()
        used = reader.feed(chunk)
        outcome = reader.outcome
        if outcome is None:
            return
        self._data = None
        if used < len(chunk):
            self._input.append(chunk[used:])
        txn = self._txn
        assert txn is not None
        if outcome.problem is not None:
            self._txn = None
            self._reply(out, replies.for_data_problem(outcome.problem))
            return
        if len(self._input) > WAIT_BUFFER_LIMIT:
            self._abort(out, replies.input_overflow(self._policy.hostname))
            return
        envelope = Envelope(
            mail_from=txn.sender,
            recipients=tuple(txn.recipients),
            body="8BITMIME" if txn.params.body == "8BITMIME" or outcome.eight_bit else "7BIT",
            smtputf8=txn.params.smtputf8,
            requiretls=txn.params.requiretls,
            declared_size=txn.params.size,
        )
        out.append(MessageReady(envelope, outcome.data))
        self._wait = _Wait.STORE

    def _sasl_line(self, line: bytes, out: list[Event]) -> None:
        exchange, self._sasl = self._sasl, None
        assert exchange is not None
        if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
            self._reply(out, replies.BARE_LINE_ENDING)
            return
        self._sasl_step(exchange, exchange.respond(line[:-2].decode("latin-1")), out)

    # -- hooks used by the command handlers --------------------------------------------

    def _begin_auth(self, argument: str, out: list[Event]) -> None:
        exchange, step = SaslExchange.begin(argument)
        self._sasl_step(exchange, step, out)

    def _sasl_step(self, exchange: SaslExchange | None, step: Step, out: list[Event]) -> None:
        if isinstance(step, Challenge):
            self._sasl = exchange
            out.append(Send(replies.auth_challenge(step.payload)))
        elif isinstance(step, Credentials):
            if len(self._input) > WAIT_BUFFER_LIMIT:
                self._abort(out, replies.input_overflow(self._policy.hostname))
                return
            out.append(Authenticate(step.mechanism, step.authzid, step.username, step.password))
            self._wait = _Wait.AUTH
        elif step.fault in (SaslFault.AUTHZID_MISMATCH, SaslFault.EMPTY_CREDENTIALS):
            self._auth_failed(out)  # same reply as wrong credentials (checklist H2)
        else:
            self._reply(out, replies.for_sasl_fault(step.fault))

    def _auth_failed(self, out: list[Event]) -> None:
        self._auth_failures += 1
        self._reply(out, replies.AUTH_FAILED)
        if not self._closed and self._auth_failures >= self._policy.max_auth_failures:
            self._abort(out, replies.too_many_auth_failures(self._policy.hostname))

    def _start_tls(self, out: list[Event]) -> None:
        out.append(Send(replies.READY_FOR_TLS))
        out.append(StartTls())
        self._input.clear()  # CVE-2011-0411: nothing sent with STARTTLS is ever executed
        self._wait = _Wait.TLS

    def _start_data(self, out: list[Event]) -> None:
        if len(self._input):  # RFC 2920 section 3.1: DATA is the last command of a group
            self._abort(out, replies.SYNC_ERROR)
            return
        self._data = DataReader(self._limits)
        out.append(Send(replies.START_DATA))

    def _reply(self, out: list[Event], reply: Reply) -> None:
        out.append(Send(reply))
        if reply.code >= 500:
            self._errors += 1
            if self._errors > self._policy.max_errors:
                self._abort(out, replies.too_many_errors(self._policy.hostname))

    def _abort(self, out: list[Event], reply: Reply) -> list[Event]:
        out.append(Send(reply))
        out.append(Close())
        self._closed = True
        self._data, self._sasl, self._txn, self._wait = None, None, None, None
        self._input.clear()
        return out
