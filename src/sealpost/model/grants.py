"""API key grants: the one list of what a key may be allowed to do.

Every API key carries a set of grants, and every ``/api/v1`` endpoint and SMTP AUTH needs one
of them. The names are SparkPost's where SparkPost has one, so a key's grants mean here what
they mean there; ``tls_check/view``, ``queue/manage``, ``queue/view``,
``suppression_lists/view``, ``console/access`` and the ``tls_reports`` grants are Sealpost's
own (SparkPost's ``suppression_lists/manage`` also reads the list; here reading needs
``suppression_lists/view``, so a key may read it without changing it). A grant added after
schema version 5 (SQLite) is given to no existing key by its migration (``tls_reports/*``:
SQLite 10, PostgreSQL 8), except ``suppression_lists/view`` (SQLite 12, PostgreSQL 10) and
``queue/view`` (SQLite 13, PostgreSQL 11), which go to every key that had the matching
``manage`` grant. ``console/access`` (log in to the web console) needs no migration: keys
store their grants by name, and no existing key is given it, so the console is opened only
to keys and users made (or given the grant) for it; nor does ``api_keys/manage`` (the
console's API keys page; the CLI needs no grant, it runs as the operator).
Grants are values of ``Grant`` (a ``str`` enum: the member is its name on the wire, in the
store and on the command line); anything else is not a grant.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Grant(StrEnum):
    SMTP_INJECT = "smtp/inject"
    TRANSMISSIONS_MODIFY = "transmissions/modify"
    TRANSMISSIONS_VIEW = "transmissions/view"
    TEMPLATES_MODIFY = "templates/modify"
    TEMPLATES_VIEW = "templates/view"
    MESSAGE_EVENTS_VIEW = "message_events/view"
    WEBHOOKS_MODIFY = "webhooks/modify"
    WEBHOOKS_VIEW = "webhooks/view"
    SENDING_DOMAINS_MODIFY = "sending_domains/modify"
    SENDING_DOMAINS_VIEW = "sending_domains/view"
    SUPPRESSION_LISTS_MANAGE = "suppression_lists/manage"
    SUPPRESSION_LISTS_VIEW = "suppression_lists/view"
    METRICS_VIEW = "metrics/view"
    TLS_CHECK_VIEW = "tls_check/view"
    QUEUE_MANAGE = "queue/manage"
    TLS_REPORTS_MODIFY = "tls_reports/modify"
    TLS_REPORTS_VIEW = "tls_reports/view"
    QUEUE_VIEW = "queue/view"
    CONSOLE_ACCESS = "console/access"
    API_KEYS_MANAGE = "api_keys/manage"

    @property
    def description(self) -> str:
        """One line saying what the grant allows."""
        return DESCRIPTIONS[self]


DESCRIPTIONS: dict[Grant, str] = {
    Grant.SMTP_INJECT: "send mail through SMTP AUTH (user SMTP_Injection, the key as password)",
    Grant.TRANSMISSIONS_MODIFY: "send transmissions, cancel scheduled ones",
    Grant.TRANSMISSIONS_VIEW: "read transmissions",
    Grant.TEMPLATES_MODIFY: "create, update and delete templates",
    Grant.TEMPLATES_VIEW: "read templates",
    Grant.MESSAGE_EVENTS_VIEW: "search message events",
    Grant.WEBHOOKS_MODIFY: "create, update, delete and validate webhooks",
    Grant.WEBHOOKS_VIEW: "read webhooks and their batch status",
    Grant.SENDING_DOMAINS_MODIFY: "create, update, delete and verify sending domains",
    Grant.SENDING_DOMAINS_VIEW: "read sending domains",
    Grant.SUPPRESSION_LISTS_MANAGE: (
        "add and remove suppression list entries; send with options.skip_suppression"
    ),
    Grant.SUPPRESSION_LISTS_VIEW: "search and read the suppression list",
    Grant.METRICS_VIEW: "read the deliverability summary (GET /api/v1/metrics/deliverability)",
    Grant.TLS_CHECK_VIEW: "run TLS checks of mail destinations (Sealpost)",
    Grant.QUEUE_MANAGE: "hold, release, retry, cancel, bounce queued mail; suspend domains",
    Grant.QUEUE_VIEW: "read the queue's shape and the domain suspensions (Sealpost)",
    Grant.TLS_REPORTS_MODIFY: "post TLS-RPT reports about our domains (Sealpost, RFC 8460)",
    Grant.TLS_REPORTS_VIEW: "read the TLS-RPT reports received (Sealpost, RFC 8460)",
    Grant.CONSOLE_ACCESS: "log in to the web console at /console/ (Sealpost); each page also "
    "needs the grant its API endpoint needs",
    Grant.API_KEYS_MANAGE: "list, create and revoke API keys in the web console (Sealpost); "
    "a new key gets only grants its creator holds",
}

ALL_GRANTS: frozenset[Grant] = frozenset(Grant)


def parse_grant(name: str) -> Grant | None:
    """The grant called ``name`` exactly (SparkPost's names are lower case), or None."""
    try:
        return Grant(name)
    except ValueError:
        return None


def in_order(grants: Iterable[Grant]) -> tuple[Grant, ...]:
    """``grants`` in the order of the table above (for listings and JSON)."""
    held = set(grants)
    return tuple(g for g in Grant if g in held)
