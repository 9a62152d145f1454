"""Which held mail may be a TLS-RPT report: the door marks it, and the intake reads only that.

RFC 8460 section 5.3: a report by mail carries a ``TLS-Report-Domain`` header and is a
``multipart/report`` with ``report-type="tlsrpt"``, its Subject starts ``Report Domain:``, and
its report part is ``application/tlsrpt+gzip`` (or ``+json``). Senders bend that
(``tlsrpt.mail``: a ``multipart/mixed`` with an ``application/gzip`` attachment named
``*.json.gz``), so a message is marked when any of these shows:

- in its header block: ``tlsrpt`` (the Content-Type's report-type or a single-part report
  type), ``TLS-Report-Domain``, ``Report Domain:`` (the Subject) or ``.json.gz`` (a
  single-part attachment's name);
- and only in a ``multipart/`` message, in its body: ``tlsrpt`` (a part's type) or
  ``.json.gz`` (an attachment's name).

Every test is a case-insensitive substring search in C over bytes the door holds anyway; a
message whose header says neither report nor multipart (most local mail, and all of the
benchmark's) costs a search of its header block only. A mark too many costs one read by the
intake, which then finds no report (``Found.NOT_A_REPORT``); a mark too few would lose a
report, so the markers are a superset of what ``tlsrpt.mail.find_report`` accepts, except
an attachment name split by RFC 2231 continuations in a message with no report header,
Subject or type (no sender is known to do that).
"""

from __future__ import annotations

from sealpost.dkim.signer import header_block

_HEAD_MARKERS = (b"tlsrpt", b"tls-report-domain", b"report domain:", b".json.gz")
_BODY_MARKERS = (b"tlsrpt", b".json.gz")


def may_be_report(data: bytes) -> bool:
    """True when ``data`` (a whole message) may carry a TLS-RPT report."""
    head = header_block(data).lower()
    if any(marker in head for marker in _HEAD_MARKERS):
        return True
    if b"multipart/" not in head:
        return False
    body = data[len(head) :].lower()
    return any(marker in body for marker in _BODY_MARKERS)
