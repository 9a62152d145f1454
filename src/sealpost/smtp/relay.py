"""Relay control: which recipients a session may name and which senders it may claim.

RFC 5321 section 3.6.2 / 7.1: an SMTP server that relays for anyone is an open relay;
we accept a recipient only for our own domains unless the client authenticated (RFC 4954
section 5, submission, RFC 6409 section 6). Unauthenticated, the classic relay tricks are
refused even at a local domain, because a later hop may route on them (checklist H1):
``%`` and ``!`` routing in the local part, a quoted local part holding ``@``, and address
literals. Source routes were already dropped by the grammar (RFC 5321 appendix C), so
``<@local:a@remote>`` is judged as ``a@remote``. Section 4.5.1: ``<Postmaster>`` without a
domain MUST be accepted and means our own postmaster.
"""

from __future__ import annotations

from sealpost.smtp.grammar import Mailbox

_ROUTING_CHARACTERS = ("%", "!", "@")


def recipient_allowed(
    mailbox: Mailbox, *, local_domains: frozenset[str], authenticated: bool
) -> bool:
    """True when this session may send to ``mailbox``."""
    if mailbox.domain == "":  # <Postmaster>
        return True
    if authenticated:
        return True
    if mailbox.literal:
        return False
    local = mailbox.local_text
    if any(c in local for c in _ROUTING_CHARACTERS):
        return False
    return mailbox.domain.lower() in local_domains


def recipient_address(mailbox: Mailbox, *, hostname: str, local_domains: frozenset[str]) -> str:
    """The address kept in the envelope; ``<Postmaster>`` becomes our postmaster's
    (``postmaster@`` the host name when it is a local domain, else the first local domain;
    empty when we have no local domain)."""
    if mailbox.domain:
        return mailbox.normalized
    host = hostname.lower().rstrip(".")
    if host in local_domains:
        return f"postmaster@{host}"
    if local_domains:
        return f"postmaster@{min(local_domains)}"
    return ""


def sender_allowed(sender: Mailbox | None, sender_domains: frozenset[str] | None) -> bool:
    """RFC 6409 section 6.1: a submission server may refuse a sender the authenticated
    user does not own. ``sender_domains`` None means any; the null sender is always fine."""
    if sender_domains is None or sender is None:
        return True
    if sender.literal:
        return False
    return sender.domain.lower() in sender_domains
