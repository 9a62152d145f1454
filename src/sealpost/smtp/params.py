"""ESMTP parameters of MAIL and RCPT: what each extension allows, as values or a refusal.

RFC 5321 section 4.1.1.11: a parameter the server did not advertise is refused (555).
RFC 1870 section 6: ``SIZE=n`` over the limit is refused at MAIL with 552 5.3.4.
RFC 6152: ``BODY=7BIT|8BITMIME``. RFC 6531 section 3.4: ``SMTPUTF8`` (no value).
RFC 8689 section 4.1: ``REQUIRETLS`` only over TLS (it is advertised only there).
RFC 4954 section 5: ``AUTH=`` is accepted and ignored (we never trust a claimed identity).
DSN (RFC 3461: NOTIFY, ORCPT, RET, ENVID) is not advertised, so those are refused too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sealpost.model.reply import Reply
from sealpost.smtp import replies
from sealpost.smtp.grammar import Param

_BODY_TYPES = ("7BIT", "8BITMIME")


@dataclass(frozen=True, slots=True)
class MailParams:
    """The transaction parameters declared on MAIL FROM."""

    body: str = "7BIT"
    smtputf8: bool = False
    requiretls: bool = False
    size: int | None = None


def check_mail_params(
    params: tuple[Param, ...], *, max_size: int, tls_active: bool
) -> MailParams | Reply:
    """Validate MAIL FROM parameters; a Reply is the refusal to send."""
    seen: set[str] = set()
    body, smtputf8, requiretls, size = "7BIT", False, False, None
    for param in params:
        key, value = param.keyword, param.value
        if key in seen:
            return replies.unsupported_param(key)
        seen.add(key)
        if key == "SIZE":
            if value is None or not value.isascii() or not value.isdigit() or len(value) > 20:
                return replies.bad_param(key)
            size = int(value)
            if size > max_size:
                return replies.MESSAGE_TOO_BIG
        elif key == "BODY":
            if value is None:
                return replies.bad_param(key)
            if value.upper() not in _BODY_TYPES:
                return replies.unsupported_param(f"{key}={value}")
            body = value.upper()
        elif key == "SMTPUTF8":
            if value is not None:
                return replies.bad_param(key)
            smtputf8 = True
        elif key == "REQUIRETLS":
            if value is not None:
                return replies.bad_param(key)
            if not tls_active:
                return replies.REQUIRETLS_NEEDS_TLS
            requiretls = True
        elif key == "AUTH":
            if value is None:
                return replies.bad_param(key)
        else:
            return replies.unsupported_param(key)
    return MailParams(body, smtputf8, requiretls, size)


def check_rcpt_params(params: tuple[Param, ...]) -> Reply | None:
    """No RCPT parameter is advertised (no DSN), so any is refused; None means fine."""
    if params:
        return replies.unsupported_param(params[0].keyword)
    return None
