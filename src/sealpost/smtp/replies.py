"""Every reply the inbound SMTP server sends, named for the situation that causes it.

RFC 5321 section 4.2.2 (reply codes, 4.2.4 for 500/501/502/503/504), RFC 2034 + RFC 3463
(the enhanced status code on every reply except the greeting, the EHLO/HELO reply and the
3xx intermediate replies, which have no RFC 3463 class), RFC 3207 (STARTTLS), RFC 4954
(AUTH: 235, 334, 454, 500-538), RFC 1870 (552 5.3.4), RFC 6531 (553 5.6.7), RFC 8689
(REQUIRETLS, 5.7.10). Texts follow Postfix where it has one, so logs read familiarly.
"""

from __future__ import annotations

from sealpost.model.reply import Reply
from sealpost.smtp.data import DataProblem
from sealpost.smtp.sasl import SaslFault


def greeting(hostname: str) -> Reply:
    return Reply.of(220, None, f"{hostname} ESMTP Sealpost")


def helo(hostname: str) -> Reply:
    return Reply.of(250, None, hostname)


def ehlo(hostname: str, capabilities: list[str]) -> Reply:
    return Reply.of(250, None, hostname, *capabilities)


def timeout(hostname: str) -> Reply:
    return Reply.of(421, "4.4.2", f"{hostname} Error: timeout exceeded")


def too_many_commands(hostname: str) -> Reply:
    return Reply.of(421, "4.7.0", f"{hostname} Error: too many commands")


def too_many_errors(hostname: str) -> Reply:
    return Reply.of(421, "4.7.0", f"{hostname} Error: too many errors")


def too_many_auth_failures(hostname: str) -> Reply:
    return Reply.of(421, "4.7.0", f"{hostname} Error: too many authentication failures")


def input_overflow(hostname: str) -> Reply:
    return Reply.of(421, "4.7.0", f"{hostname} Error: too much pipelined input")


def shutting_down(hostname: str) -> Reply:
    """RFC 5321 sections 3.8 and 4.2.2: the server is going down; 4.3.2 (RFC 3463,
    system not accepting network messages)."""
    return Reply.of(421, "4.3.2", f"{hostname} Service shutting down")


def relay_denied(address: str) -> Reply:
    return Reply.of(554, "5.7.1", f"<{address}>: Relay access denied")


def sender_not_owned(reason: str) -> Reply:
    """After the final dot: a header From/Sender (or the envelope sender) names a domain
    the authenticated key may not use (RFC 6409 section 6.1; nothing is queued)."""
    return Reply.of(550, "5.7.1", f"Message rejected: {reason}")


def bad_smtp_api_header(reason: str) -> Reply:
    """After the final dot: the authenticated injection's ``X-MSYS-API`` header cannot be
    used (SparkPost's SMTP API); nothing is queued."""
    return Reply.of(554, "5.6.0", f"Message rejected: {reason}")


def key_revoked() -> Reply:
    """After the final dot: the key this session authenticated with was revoked (or lost its
    ``smtp/inject`` grant) since; nothing is queued (RFC 4954 section 6: 5.7.8)."""
    return Reply.of(
        554, "5.7.8", "Message rejected: the API key of this session is no longer valid"
    )


def unsupported_param(keyword: str) -> Reply:
    return Reply.of(555, "5.5.4", f"Unsupported option: {keyword}")


def bad_param(keyword: str) -> Reply:
    return Reply.of(501, "5.5.4", f"Bad {keyword} parameter syntax")


def auth_challenge(payload: str) -> Reply:
    return Reply.of(334, None, payload)


OK = Reply.of(250, "2.0.0", "Ok")
MAIL_OK = Reply.of(250, "2.1.0", "Ok")
RCPT_OK = Reply.of(250, "2.1.5", "Ok")
START_DATA = Reply.of(354, None, "End data with <CR><LF>.<CR><LF>")
BYE = Reply.of(221, "2.0.0", "Bye")
HELP = Reply.of(214, "2.0.0", "See RFC 5321 (https://www.rfc-editor.org/rfc/rfc5321)")
VRFY = Reply.of(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery")
EXPN = Reply.of(502, "5.5.1", "Error: command not implemented")
READY_FOR_TLS = Reply.of(220, "2.0.0", "Ready to start TLS")

UNKNOWN_COMMAND = Reply.of(500, "5.5.2", "Error: command not recognized")
LINE_TOO_LONG = Reply.of(500, "5.5.2", "Error: Line too long")
BARE_LINE_ENDING = Reply.of(500, "5.5.2", "Error: command must end in <CR><LF>")
NUL_IN_COMMAND = Reply.of(500, "5.5.2", "Error: NUL character in command")
NON_ASCII = Reply.of(500, "5.5.2", "Error: non-ASCII text in command")
NO_ARGUMENTS = Reply.of(501, "5.5.4", "Syntax error: no arguments allowed")
NEED_ARGUMENT = Reply.of(501, "5.5.4", "Syntax error: argument required")
BAD_HELO = Reply.of(501, "5.5.4", "Syntax: EHLO hostname")
BAD_MAIL_SYNTAX = Reply.of(501, "5.5.4", "Syntax: MAIL FROM:<address>")
BAD_RCPT_SYNTAX = Reply.of(501, "5.5.4", "Syntax: RCPT TO:<address>")
BAD_SENDER = Reply.of(501, "5.1.7", "Bad sender address syntax")
BAD_RECIPIENT = Reply.of(501, "5.1.3", "Bad recipient address syntax")
NEEDS_SMTPUTF8 = Reply.of(553, "5.6.7", "Must declare SMTPUTF8 to send unicode address")
SYNC_ERROR = Reply.of(554, "5.5.0", "Error: SMTP protocol synchronization")

SEND_HELO_FIRST = Reply.of(503, "5.5.1", "Error: send HELO/EHLO first")
NESTED_MAIL = Reply.of(503, "5.5.1", "Error: nested MAIL command")
NEED_MAIL = Reply.of(503, "5.5.1", "Error: need MAIL command")
NO_RECIPIENTS = Reply.of(554, "5.5.1", "Error: no valid recipients")
TLS_ALREADY = Reply.of(503, "5.5.1", "Error: TLS already active")
TLS_UNAVAILABLE = Reply.of(502, "5.5.1", "Error: STARTTLS not available")
NEED_TLS = Reply.of(530, "5.7.0", "Must issue a STARTTLS command first")

TOO_MANY_RECIPIENTS = Reply.of(452, "4.5.3", "Error: Too many recipients")
# RFC 5321 section 4.2.2 (452 insufficient system storage), RFC 3463 X.3.1 (mail system full)
INSUFFICIENT_STORAGE = Reply.of(452, "4.3.1", "Insufficient system storage")
UNKNOWN_POSTMASTER = Reply.of(550, "5.1.1", "<Postmaster>: no local postmaster")
SENDER_NOT_OWNED = Reply.of(553, "5.7.1", "Sender address rejected: not owned by user")
MESSAGE_TOO_BIG = Reply.of(552, "5.3.4", "Error: message file too big")
REQUIRETLS_NEEDS_TLS = Reply.of(530, "5.7.10", "REQUIRETLS needs a TLS connection")

AUTH_NEEDS_TLS = Reply.of(538, "5.7.11", "Encryption required for requested authentication")
AUTH_DISABLED = Reply.of(502, "5.5.1", "Error: authentication not enabled")
AUTH_ALREADY = Reply.of(503, "5.5.1", "Error: already authenticated")
AUTH_IN_TRANSACTION = Reply.of(503, "5.5.1", "Error: MAIL transaction in progress")
AUTH_UNKNOWN_MECHANISM = Reply.of(504, "5.5.4", "Unrecognized authentication type")
AUTH_CANCELLED = Reply.of(501, "5.7.0", "Authentication aborted")
AUTH_BAD_BASE64 = Reply.of(501, "5.5.2", "Cannot decode response")
AUTH_OK = Reply.of(235, "2.7.0", "Authentication successful")
AUTH_FAILED = Reply.of(535, "5.7.8", "Authentication credentials invalid")

DATA_BARE_LINE_ENDING = Reply.of(550, "5.5.2", "Message rejected: bare CR or LF in message text")
DATA_NUL = Reply.of(550, "5.6.0", "Message rejected: NUL character in message text")
DATA_LINE_TOO_LONG = Reply.of(500, "5.5.2", "Message rejected: text line too long")
DATA_HEADER_TOO_LONG = Reply.of(552, "5.3.4", "Message rejected: header too long")
DATA_TOO_MANY_HEADERS = Reply.of(552, "5.3.4", "Message rejected: too many header lines")


def for_data_problem(problem: DataProblem) -> Reply:
    """The reply to the final dot of a refused message."""
    return _DATA_PROBLEMS[problem]


def for_sasl_fault(fault: SaslFault) -> Reply:
    return _SASL_FAULTS[fault]


_DATA_PROBLEMS = {
    DataProblem.BARE_LINE_ENDING: DATA_BARE_LINE_ENDING,
    DataProblem.NUL: DATA_NUL,
    DataProblem.TOO_BIG: MESSAGE_TOO_BIG,
    DataProblem.LINE_TOO_LONG: DATA_LINE_TOO_LONG,
    DataProblem.HEADER_TOO_LONG: DATA_HEADER_TOO_LONG,
    DataProblem.TOO_MANY_HEADERS: DATA_TOO_MANY_HEADERS,
}
_SASL_FAULTS = {
    SaslFault.UNKNOWN_MECHANISM: AUTH_UNKNOWN_MECHANISM,
    SaslFault.CANCELLED: AUTH_CANCELLED,
    SaslFault.BAD_BASE64: AUTH_BAD_BASE64,
    SaslFault.MALFORMED: AUTH_BAD_BASE64,
    SaslFault.AUTHZID_MISMATCH: AUTH_FAILED,
    SaslFault.EMPTY_CREDENTIALS: AUTH_FAILED,
}
