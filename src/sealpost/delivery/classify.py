"""Reply classification: an SMTP reply (or its absence) -> outcome, SparkPost bounce class, reason.

The outcome follows the reply code alone (RFC 5321 section 4.2.1: 2yz done, 4yz transient,
5yz permanent). RFC 3463 section 2: the enhanced code refines the reply and, where its class
digit disagrees with the reply code, the reply code wins; so the enhanced subject.detail is
read under the reply's own class. No reply at all (timeout, dropped connection) is transient.

The bounce class is SparkPost's string code (reference section 8). It comes from the
enhanced subject.detail first, then from well-known reply texts when the enhanced code is
generic or missing, then from the stage. A transient reply never gets a Hard class (10, 30,
90): "450 4.1.1" is a delay, not an invalid recipient. ``reason`` is SparkPost's
canonicalised reason: the reply on one line with addresses and IPv4 addresses masked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from sealpost.delivery.types import Outcome
from sealpost.model.reply import Reply


class BounceClass(StrEnum):
    """SparkPost bounce classification codes (always strings on the wire)."""

    UNDETERMINED = "1"
    INVALID_RECIPIENT = "10"
    SOFT = "20"
    DNS_FAILURE = "21"
    MAILBOX_FULL = "22"
    TOO_LARGE = "23"
    TIMEOUT = "24"
    ADMIN = "25"
    NO_RCPT = "30"
    GENERIC = "40"
    MAIL_BLOCK = "50"
    SPAM_BLOCK = "51"
    SPAM_CONTENT = "52"
    PROHIBITED_ATTACHMENT = "53"
    RELAY_DENIED = "54"
    AUTO_REPLY = "60"
    TRANSIENT = "70"
    SUBSCRIBE = "80"
    UNSUBSCRIBE = "90"
    CHALLENGE_RESPONSE = "100"


HARD_CLASSES = frozenset(
    {BounceClass.INVALID_RECIPIENT, BounceClass.NO_RCPT, BounceClass.UNSUBSCRIBE}
)


@dataclass(frozen=True, slots=True)
class Classification:
    outcome: Outcome
    bounce_class: str  # "" when delivered
    reason: str


B = BounceClass
# RFC 3463 / RFC 5248 subject.detail -> class. A subject alone ("7") is the default for
# details not listed. Details marked generic are refined from the reply text.
_BY_DETAIL: dict[str, BounceClass] = {
    "1": B.INVALID_RECIPIENT,
    "1.5": B.GENERIC,  # "destination address valid": not an addressing failure
    "1.7": B.MAIL_BLOCK,  # bad sender mailbox syntax: the receiver refuses our sender
    "1.8": B.MAIL_BLOCK,  # bad sender's system address
    "2": B.GENERIC,
    "2.1": B.INVALID_RECIPIENT,  # mailbox disabled
    "2.2": B.MAILBOX_FULL,
    "2.3": B.TOO_LARGE,
    "3": B.GENERIC,
    "3.1": B.SOFT,  # mail system full
    "3.4": B.TOO_LARGE,
    "4": B.GENERIC,
    "4.1": B.TIMEOUT,  # no answer from host
    "4.2": B.TIMEOUT,  # bad connection
    "4.3": B.DNS_FAILURE,  # directory server failure
    "4.4": B.DNS_FAILURE,  # unable to route
    "4.5": B.SOFT,  # system congestion
    "4.7": B.TIMEOUT,  # delivery time expired
    "5": B.GENERIC,
    "5.3": B.SOFT,  # too many recipients
    "6": B.GENERIC,
    "7": B.MAIL_BLOCK,
    "7.3": B.GENERIC,
    "7.4": B.GENERIC,
    "7.5": B.GENERIC,
    "7.6": B.GENERIC,
    "7.7": B.GENERIC,
    "7.8": B.GENERIC,
    "7.9": B.GENERIC,
    "7.10": B.GENERIC,
    "7.11": B.GENERIC,
    "7.12": B.GENERIC,
    "7.13": B.INVALID_RECIPIENT,  # user account disabled
    "7.15": B.SOFT,  # priority too low
    "7.16": B.TOO_LARGE,  # too big for the priority
    "7.17": B.INVALID_RECIPIENT,  # mailbox owner changed
    "7.18": B.INVALID_RECIPIENT,  # domain owner changed
    "7.19": B.INVALID_RECIPIENT,  # RRVS cannot be completed
    "7.28": B.SPAM_BLOCK,  # mail flood detected
    "7.30": B.GENERIC,  # REQUIRETLS support required
}
# Details whose meaning is broad enough that the reply text decides the class.
_GENERIC_DETAILS = frozenset({"0.0", "1.0", "2.0", "3.0", "5.0", "7.0", "7.1"})

# Reply texts that name the failure, tried in order (first match wins). Addresses are masked
# before matching, so an address like <spam@...> cannot steer the class.
_TEXT_RULES: tuple[tuple[re.Pattern[str], BounceClass], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), cls)
    for pattern, cls in (
        (
            r"relay(ing)? (access )?(denied|not permitted|prohibited)|not permitted to relay"
            r"|unable to relay",
            B.RELAY_DENIED,
        ),
        (
            r"user unknown|unknown user|no such (user|mailbox|recipient)|unknown recipient"
            r"|invalid recipient|recipient (address )?(unknown|invalid|not found)"
            r"|mailbox (does not exist|not found|unknown)|address does not exist"
            r"|does not exist|account (has been )?disabled",
            B.INVALID_RECIPIENT,
        ),
        (
            r"mailbox (is )?full|over ?quota|quota exceeded|insufficient (system )?storage",
            B.MAILBOX_FULL,
        ),
        (r"too large|too big|size limit|exceeds (the )?(maximum|message) size", B.TOO_LARGE),
        (
            r"virus|prohibited attachment|attachment (not allowed|rejected|blocked)"
            r"|banned (file|attachment)",
            B.PROHIBITED_ATTACHMENT,
        ),
        (
            r"content|looks like spam|spam (message|content)"
            r"|(rejected|blocked|classified|identified|detected|marked) as spam",
            B.SPAM_CONTENT,
        ),
        (
            r"spamhaus|spamcop|\bdnsbl\b|\brbl\b|block ?list|black ?list|reputation"
            r"|\bspam\b",
            B.SPAM_BLOCK,
        ),
        (r"blocked|denied|refused|not authori[sz]ed|policy", B.MAIL_BLOCK),
        (r"timed? ?out", B.TIMEOUT),
        (r"gr[ae]y ?list|try (again )?later|temporar", B.TRANSIENT),
    )
)
_SUBJECT_TEXT = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")
_ADDRESS = re.compile(r"<[^<>\s]*@[^<>\s]*>:?|[^\s<>@\"]+@[A-Za-z0-9.\-\[\]:]+")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
REASON_MAX = 1000


def canonical_reason(text: str) -> str:
    """One line, addresses as ``...@...``, IPv4 addresses as ``a.b.c.d`` (SparkPost's form)."""
    line = " ".join(_CONTROL.sub(" ", text).split())
    line = _ADDRESS.sub("...@...", line)
    return _IPV4.sub("a.b.c.d", line)[:REASON_MAX]


def _detail(reply: Reply) -> str | None:
    """``subject.detail`` of the reply's enhanced code (from the text when not parsed)."""
    match = _ENHANCED.match(reply.enhanced or "") or _SUBJECT_TEXT.match(reply.text)
    if match is None:
        return None
    return f"{int(match.group(2))}.{int(match.group(3))}"


def _from_text(text: str) -> BounceClass | None:
    masked = _ADDRESS.sub(" ", text)
    for pattern, cls in _TEXT_RULES:
        if pattern.search(masked):
            return cls
    return None


def _stage_default(stage: str, permanent: bool) -> BounceClass:
    if stage == "dns":
        return B.DNS_FAILURE
    if not permanent:
        return B.TRANSIENT
    if stage in ("connect", "greeting"):
        return B.MAIL_BLOCK  # "554 no SMTP service here": refused at the banner
    return B.GENERIC


def _by_detail(detail: str) -> BounceClass | None:
    return _BY_DETAIL.get(detail) or _BY_DETAIL.get(detail.split(".", 1)[0])


def bounce_class_of(reply: Reply, *, stage: str) -> BounceClass:
    """The SparkPost class for a failed (4yz/5yz) reply that ended ``stage``.

    Stages as callers name them: dns, connect, greeting, ehlo, starttls, tls, mail, rcpt,
    data, message (after the final dot); other names classify like message.
    """
    permanent = reply.is_permanent
    detail = _detail(reply)
    found: BounceClass | None = None
    if detail is not None and detail not in _GENERIC_DETAILS:
        found = _by_detail(detail)
    if found is None:
        found = _from_text(reply.text)
    if found is None and detail is not None and detail != "0.0":
        # A broad code: its subject says what kind of failure, for a permanent reply; a
        # transient one with nothing more specific is simply a transient failure.
        found = _by_detail(detail) if permanent else B.TRANSIENT
    if found is None:
        found = _stage_default(stage, permanent)
    if stage == "mail" and found in HARD_CLASSES:
        found = B.MAIL_BLOCK  # a refused MAIL FROM is about our sender, not a recipient
    if not permanent and (found in HARD_CLASSES or found is B.GENERIC):
        return B.TRANSIENT
    return found


def classify(reply: Reply | None, *, stage: str) -> Classification:
    """Classify the reply that ended ``stage`` of an attempt (or ``None``: no reply came)."""
    if reply is None:
        cls = B.DNS_FAILURE if stage == "dns" else B.TIMEOUT
        return Classification(
            Outcome.TRANSIENT, cls.value, f"[internal] no reply from the remote server ({stage})"
        )
    reason = canonical_reason(str(reply))
    if 200 <= reply.code < 300:
        return Classification(Outcome.DELIVERED, "", reason)
    if reply.code >= 600 or reply.code < 200 or 300 <= reply.code < 400:
        # Not a final reply where one was due: a protocol error, tried again later.
        return Classification(Outcome.TRANSIENT, B.TRANSIENT.value, reason)
    outcome = Outcome.PERMANENT if reply.is_permanent else Outcome.TRANSIENT
    return Classification(outcome, bounce_class_of(reply, stage=stage).value, reason)
