"""What each SMTP command does to the session: checks, state changes and the reply.

RFC 5321 section 4.1.1 (EHLO/HELO, MAIL, RCPT, DATA, RSET, VRFY, EXPN, HELP, NOOP, QUIT;
4.1.4: EHLO resets the transaction, MAIL needs EHLO/HELO first and no open transaction,
RCPT needs MAIL, DATA needs an accepted recipient), section 4.5.3.1.10 (452 for too many
recipients), section 7.3 (VRFY answers 252, EXPN is not offered). RFC 1869/5321 4.1.1.1
for the EHLO capability list; RFC 3207 section 4 (STARTTLS takes no argument, is refused
once TLS is active); RFC 8314 / RFC 3207 section 4: with ``require_tls`` nothing but
EHLO/HELO/NOOP/RSET/QUIT/STARTTLS before TLS (530 5.7.0); RFC 4954 section 4 (AUTH: 538
without TLS, 503 after success or inside a transaction, 504 unknown mechanism).

The I/O-facing parts (input framing, waiting for answers, counters) live in
``server.ServerSession``, which inherits these handlers and provides the hooks below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from sealpost.model.reply import Reply
from sealpost.model.tls_record import TlsRecord
from sealpost.smtp import replies
from sealpost.smtp.events import Event, ServerPolicy
from sealpost.smtp.grammar import Fault, ParseError, parse_helo, parse_mail, parse_rcpt
from sealpost.smtp.params import MailParams, check_mail_params, check_rcpt_params
from sealpost.smtp.relay import recipient_address, recipient_allowed, sender_allowed

_MAIL_FAULTS = {
    Fault.MISSING_ARGUMENT: replies.BAD_MAIL_SYNTAX,
    Fault.BAD_KEYWORD: replies.BAD_MAIL_SYNTAX,
    Fault.BAD_PATH: replies.BAD_SENDER,
    Fault.BAD_DOMAIN: replies.BAD_SENDER,
    Fault.NEEDS_SMTPUTF8: replies.NEEDS_SMTPUTF8,
    Fault.NON_ASCII: replies.NON_ASCII,
}
_RCPT_FAULTS = {
    **_MAIL_FAULTS,
    Fault.BAD_KEYWORD: replies.BAD_RCPT_SYNTAX,
    Fault.MISSING_ARGUMENT: replies.BAD_RCPT_SYNTAX,
    Fault.BAD_PATH: replies.BAD_RECIPIENT,
    Fault.BAD_DOMAIN: replies.BAD_RECIPIENT,
}


@dataclass(slots=True)
class Transaction:
    """An open mail transaction: the reverse-path, its parameters, accepted recipients."""

    sender: str
    params: MailParams
    recipients: list[str] = field(default_factory=list)


Handler = Callable[["CommandHandlers", str, list[Event]], None]


class CommandHandlers:
    """Session state touched by commands, and one method per command."""

    HANDLERS: ClassVar[dict[str, Handler]]

    def __init__(self, policy: ServerPolicy, tls: TlsRecord | None) -> None:
        self._policy = policy
        self._tls = tls
        self._helo: str | None = None
        self._esmtp = False
        self._auth_user: str | None = None
        self._sender_domains: frozenset[str] | None = None
        self._txn: Transaction | None = None
        self._closed = False

    # -- hooks provided by ServerSession -----------------------------------------------

    def _reply(self, out: list[Event], reply: Reply) -> None:
        raise NotImplementedError

    def _abort(self, out: list[Event], reply: Reply) -> list[Event]:
        raise NotImplementedError

    def _begin_auth(self, argument: str, out: list[Event]) -> None:
        raise NotImplementedError

    def _start_tls(self, out: list[Event]) -> None:
        raise NotImplementedError

    def _start_data(self, out: list[Event]) -> None:
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------

    def _tls_missing(self) -> bool:
        return self._policy.require_tls and self._tls is None

    def _capabilities(self) -> list[str]:
        policy = self._policy
        caps = ["PIPELINING", f"SIZE {policy.max_message_size}", "8BITMIME", "SMTPUTF8"]
        caps.append("ENHANCEDSTATUSCODES")
        if policy.tls_mode == "starttls" and self._tls is None:
            caps.append("STARTTLS")
        if policy.auth_enabled and self._tls is not None:
            caps.append("AUTH PLAIN LOGIN")
        if self._tls is not None:
            caps.append("REQUIRETLS")
        return caps

    # -- commands ----------------------------------------------------------------------

    def _greet(self, argument: str, out: list[Event], *, esmtp: bool) -> None:
        name = parse_helo(argument)
        if isinstance(name, ParseError):
            self._reply(out, replies.BAD_HELO)
            return
        self._helo, self._esmtp, self._txn = name, esmtp, None
        hostname = self._policy.hostname
        reply = replies.ehlo(hostname, self._capabilities()) if esmtp else replies.helo(hostname)
        self._reply(out, reply)

    def _cmd_ehlo(self, argument: str, out: list[Event]) -> None:
        self._greet(argument, out, esmtp=True)

    def _cmd_helo(self, argument: str, out: list[Event]) -> None:
        self._greet(argument, out, esmtp=False)

    def _cmd_mail(self, argument: str, out: list[Event]) -> None:
        if self._tls_missing():
            return self._reply(out, replies.NEED_TLS)
        if self._helo is None:
            return self._reply(out, replies.SEND_HELO_FIRST)
        if self._txn is not None:
            return self._reply(out, replies.NESTED_MAIL)
        parsed = parse_mail(argument)
        if isinstance(parsed, ParseError):
            return self._reply(out, _fault_reply(parsed, _MAIL_FAULTS))
        params = check_mail_params(
            parsed.params,
            max_size=self._policy.max_message_size,
            tls_active=self._tls is not None,
        )
        if isinstance(params, Reply):
            return self._reply(out, params)
        if self._policy.storage_low is not None and self._policy.storage_low():
            return self._reply(out, replies.INSUFFICIENT_STORAGE)  # before any byte is received
        if self._auth_user is not None and not sender_allowed(parsed.sender, self._sender_domains):
            return self._reply(out, replies.SENDER_NOT_OWNED)
        sender = "" if parsed.sender is None else parsed.sender.normalized
        self._txn = Transaction(sender, params)
        self._reply(out, replies.MAIL_OK)

    def _cmd_rcpt(self, argument: str, out: list[Event]) -> None:
        if self._tls_missing():
            return self._reply(out, replies.NEED_TLS)
        txn = self._txn
        if txn is None:
            return self._reply(out, replies.NEED_MAIL)
        parsed = parse_rcpt(argument, smtputf8=txn.params.smtputf8)
        if isinstance(parsed, ParseError):
            return self._reply(out, _fault_reply(parsed, _RCPT_FAULTS))
        refusal = check_rcpt_params(parsed.params)
        if refusal is not None:
            return self._reply(out, refusal)
        if len(txn.recipients) >= self._policy.max_recipients:
            return self._reply(out, replies.TOO_MANY_RECIPIENTS)
        policy = self._policy
        mailbox = parsed.recipient
        authenticated = self._auth_user is not None
        if not recipient_allowed(
            mailbox, local_domains=policy.local_domains, authenticated=authenticated
        ):
            return self._reply(out, replies.relay_denied(str(mailbox)))
        address = recipient_address(
            mailbox, hostname=policy.hostname, local_domains=policy.local_domains
        )
        if not address:
            return self._reply(out, replies.UNKNOWN_POSTMASTER)
        if address not in txn.recipients:
            txn.recipients.append(address)
        self._reply(out, replies.RCPT_OK)

    def _cmd_data(self, argument: str, out: list[Event]) -> None:
        if argument:
            return self._reply(out, replies.NO_ARGUMENTS)
        if self._tls_missing():
            return self._reply(out, replies.NEED_TLS)
        if self._txn is None:
            return self._reply(out, replies.NEED_MAIL)
        if not self._txn.recipients:
            return self._reply(out, replies.NO_RECIPIENTS)
        self._start_data(out)

    def _cmd_rset(self, argument: str, out: list[Event]) -> None:
        if argument:
            return self._reply(out, replies.NO_ARGUMENTS)
        self._txn = None
        self._reply(out, replies.OK)

    def _cmd_noop(self, argument: str, out: list[Event]) -> None:
        self._reply(out, replies.OK)  # RFC 5321 4.1.1.9: an argument is allowed, ignored

    def _cmd_help(self, argument: str, out: list[Event]) -> None:
        self._reply(out, replies.HELP)

    def _cmd_vrfy(self, argument: str, out: list[Event]) -> None:
        if self._tls_missing():
            return self._reply(out, replies.NEED_TLS)
        self._reply(out, replies.VRFY if argument else replies.NEED_ARGUMENT)

    def _cmd_expn(self, argument: str, out: list[Event]) -> None:
        self._reply(out, replies.EXPN)

    def _cmd_quit(self, argument: str, out: list[Event]) -> None:
        self._abort(out, replies.BYE)

    def _cmd_starttls(self, argument: str, out: list[Event]) -> None:
        if argument:
            return self._reply(out, replies.NO_ARGUMENTS)
        if self._tls is not None:
            return self._reply(out, replies.TLS_ALREADY)
        if self._policy.tls_mode != "starttls":
            return self._reply(out, replies.TLS_UNAVAILABLE)
        self._start_tls(out)

    def _cmd_auth(self, argument: str, out: list[Event]) -> None:
        if self._tls_missing():
            return self._reply(out, replies.NEED_TLS)
        if self._tls is None:  # RFC 4954 section 4: credentials never cross in the clear
            return self._reply(out, replies.AUTH_NEEDS_TLS)
        if not self._policy.auth_enabled:
            return self._reply(out, replies.AUTH_DISABLED)
        if not self._esmtp:
            return self._reply(out, replies.SEND_HELO_FIRST)
        if self._auth_user is not None:
            return self._reply(out, replies.AUTH_ALREADY)
        if self._txn is not None:
            return self._reply(out, replies.AUTH_IN_TRANSACTION)
        if not argument:
            return self._reply(out, replies.NEED_ARGUMENT)
        self._begin_auth(argument, out)


def _fault_reply(error: ParseError, table: dict[Fault, Reply]) -> Reply:
    if error.fault is Fault.BAD_PARAMETER:
        return replies.bad_param(error.detail.partition("=")[0][:40] or "parameter")
    return table[error.fault]


CommandHandlers.HANDLERS = {
    name[5:].upper(): method
    for name, method in vars(CommandHandlers).items()
    if name.startswith("_cmd_")
}
