"""The storage contracts, one module per concern; every backend honours all of them.

A consumer types its store against the contract of the one concern it uses (``KeyStore``,
``PolicyStore``, ``DeliveryQueue``, ...). A consumer that uses several declares, next to its
own code, one protocol joining them (``delivery.dispatcher.DispatchStore``), so what it
calls is what it declares and no call needs a type-checker suppression. ``Store`` joins every
contract: only the composition root (``app.py``, ``outbound.py``), the CLI's store access and
the conformance suite, which holds every backend to every contract, name it.
"""

from __future__ import annotations

from typing import Protocol

from sealpost.store.contracts.config_changes import ConfigChanges
from sealpost.store.contracts.delay_notices import DelayNotices
from sealpost.store.contracts.dkim_keys import DkimKeyStore
from sealpost.store.contracts.documents import DocumentStore
from sealpost.store.contracts.domain_slots import DomainSlots
from sealpost.store.contracts.event_tallies import EventTallies
from sealpost.store.contracts.events import EventStore
from sealpost.store.contracts.gauges import StoreGauges
from sealpost.store.contracts.keys import KeyStore
from sealpost.store.contracts.nodes import NodeRegistry
from sealpost.store.contracts.policies import PolicyStore
from sealpost.store.contracts.queue import (
    DeliveryQueue,
    IdempotencyStore,
    QueueControl,
    QueueStore,
    Spool,
)
from sealpost.store.contracts.queue_admin import QueueAdmin
from sealpost.store.contracts.received_reports import ReceivedTlsReports
from sealpost.store.contracts.retention import RetentionStore
from sealpost.store.contracts.suppressions import SuppressionList
from sealpost.store.contracts.tls_memory import TlsMemory
from sealpost.store.contracts.tls_reports import TlsReportStore
from sealpost.store.contracts.wakeups import QueueWakeups
from sealpost.store.contracts.webhook_state import WebhookStateStore

__all__ = [
    "ConfigChanges",
    "DelayNotices",
    "DeliveryQueue",
    "DkimKeyStore",
    "DocumentStore",
    "DomainSlots",
    "EventStore",
    "EventTallies",
    "IdempotencyStore",
    "KeyStore",
    "Lifecycle",
    "NodeRegistry",
    "PolicyStore",
    "QueueAdmin",
    "QueueControl",
    "QueueStore",
    "QueueWakeups",
    "ReceivedTlsReports",
    "RetentionStore",
    "Spool",
    "Store",
    "StoreGauges",
    "SuppressionList",
    "TlsMemory",
    "TlsReportStore",
    "WebhookStateStore",
]


class Lifecycle(Protocol):
    async def open(self) -> None:
        """Create or migrate what the backend needs; idempotent."""

    async def close(self) -> None:
        """Finish pending writes and let go of every resource; idempotent."""

    async def migrate(self) -> tuple[int, int]:
        """Bring the schema up to date (``sealpost store migrate``) on an open store; returns
        the schema version found when the store was opened and the one it is at now (``open``
        migrates too where that is safe, so the work may be done already). Idempotent, and
        safe while other nodes start or run."""


class Store(
    Lifecycle,
    QueueStore,
    QueueAdmin,
    QueueWakeups,
    DomainSlots,
    NodeRegistry,
    KeyStore,
    EventStore,
    EventTallies,
    PolicyStore,
    TlsMemory,
    TlsReportStore,
    ReceivedTlsReports,
    DocumentStore,
    DkimKeyStore,
    ConfigChanges,
    DelayNotices,
    WebhookStateStore,
    StoreGauges,
    SuppressionList,
    RetentionStore,
    Protocol,
):
    """What ``open_store`` returns: one backend serving every store contract."""
