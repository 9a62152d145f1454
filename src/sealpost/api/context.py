"""What every API endpoint may use, handed in by the composition root (``app.py``).

Every field is typed: a router reads ``ctx.webhooks`` or ``ctx.sending_domains``, never a
string-keyed bag. The API sees other packages' services through the small protocols below,
so it depends on what it calls, not on how the composition root built it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sealpost.api.rate_limit import Budget, Budgets, per_process
from sealpost.config.model import Config
from sealpost.dns.resolver import Resolver
from sealpost.domains.registry import SendingDomains
from sealpost.model.egress import TargetGuard
from sealpost.store.contracts.documents import DocumentStore
from sealpost.store.contracts.events import EventStore
from sealpost.store.contracts.keys import KeyStore
from sealpost.store.contracts.queue import IdempotencyStore, QueueControl
from sealpost.store.contracts.queue_admin import QueueAdmin
from sealpost.store.contracts.received_reports import ReceivedTlsReports
from sealpost.store.contracts.suppressions import SuppressionList
from sealpost.store.contracts.webhook_state import WebhookStateStore
from sealpost.submission.door import Submission


class ApiStore(
    KeyStore,
    EventStore,
    DocumentStore,
    IdempotencyStore,
    QueueControl,
    QueueAdmin,
    WebhookStateStore,
    ReceivedTlsReports,
    SuppressionList,
    Protocol,
):
    """What the API uses of the store: keys (auth), events (search), its own resources as
    documents, Idempotency-Key records, cancelling queued mail, the operator's queue
    administration (``/queue``), the webhooks' delivery state (batch status), the TLS-RPT
    reports received and the suppression list. New mail
    goes through ``submission``, never straight into the store."""


class SigningDomains(Protocol):
    """The DKIM keys in use (``domains.signers.SigningKeys``), as the API needs them."""

    def is_verified(self, domain: str) -> bool:
        """A verified sending domain, or one with a ``[[dkim.keys]]`` key in the config."""

    async def refresh(self) -> None:
        """Re-read the sending domains after one was created, verified or deleted."""


class WebhookWaker(Protocol):
    """The webhook worker, told that definitions changed."""

    def wake(self) -> None: ...


@dataclass
class ApiContext:
    config: Config
    store: ApiStore
    submission: Submission
    sending_domains: SendingDomains
    resolver: Resolver | None = None
    egress: TargetGuard | None = None  # the rule for every connection a caller can aim
    signing_keys: SigningDomains | None = None
    webhooks: WebhookWaker | None = None
    clock: Callable[[], float] = time.time
    storage_low: Callable[[], bool] | None = None  # the queue's disk under [store] min_free
    budgets: Budgets = per_process  # request budgets: per process, or the whole server's
    tls_checks: Budget = field(init=False)  # per key, [api] tls_check_per_minute

    def __post_init__(self) -> None:
        self.tls_checks = self.budgets("tls-check", self.config.api.tls_check_per_minute, 60.0)
