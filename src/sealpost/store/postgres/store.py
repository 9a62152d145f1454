"""The PostgreSQL backend: every store contract on one database that several nodes share."""

from __future__ import annotations

from sealpost.store.postgres.dkim_keys import PostgresDkimKeys
from sealpost.store.postgres.domain_slots import PostgresDomainSlots
from sealpost.store.postgres.events import PostgresEvents
from sealpost.store.postgres.gauges import PostgresGauges
from sealpost.store.postgres.nodes import PostgresNodes
from sealpost.store.postgres.queue import PostgresQueue
from sealpost.store.postgres.queue_admin import PostgresQueueAdmin
from sealpost.store.postgres.received_reports import PostgresReceivedReports
from sealpost.store.postgres.records import PostgresRecords
from sealpost.store.postgres.retention import PostgresRetention
from sealpost.store.postgres.suppressions import PostgresSuppressions
from sealpost.store.postgres.tallies import PostgresTallies
from sealpost.store.postgres.tls_memory import PostgresTlsMemory
from sealpost.store.postgres.tls_reports import PostgresTlsReports
from sealpost.store.postgres.webhook_state import PostgresWebhookState


class PostgresStore(
    PostgresQueue,
    PostgresGauges,
    PostgresQueueAdmin,
    PostgresEvents,
    PostgresTallies,
    PostgresRecords,
    PostgresWebhookState,
    PostgresTlsMemory,
    PostgresTlsReports,
    PostgresReceivedReports,
    PostgresSuppressions,
    PostgresRetention,
    PostgresDkimKeys,
    PostgresDomainSlots,
    PostgresNodes,
):
    """What ``open_store("postgresql://...")`` returns: one ``Database`` (per node) serving
    every contract of ``store.contracts``."""
