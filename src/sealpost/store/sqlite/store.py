"""The SQLite backend: every store contract on one database file (the default backend)."""

from __future__ import annotations

from sealpost.store.local_nodes import LocalNodes
from sealpost.store.local_slots import LocalDomainSlots
from sealpost.store.sqlite.dkim_keys import SqliteDkimKeys
from sealpost.store.sqlite.events import SqliteEvents
from sealpost.store.sqlite.gauges import SqliteGauges
from sealpost.store.sqlite.queue import SqliteQueue
from sealpost.store.sqlite.queue_admin import SqliteQueueAdmin
from sealpost.store.sqlite.received_reports import SqliteReceivedReports
from sealpost.store.sqlite.records import SqliteRecords
from sealpost.store.sqlite.retention import SqliteRetention
from sealpost.store.sqlite.suppressions import SqliteSuppressions
from sealpost.store.sqlite.tallies import SqliteTallies
from sealpost.store.sqlite.tls_memory import SqliteTlsMemory
from sealpost.store.sqlite.tls_reports import SqliteTlsReports
from sealpost.store.sqlite.webhook_state import SqliteWebhookState


class SqliteStore(
    SqliteQueue,
    SqliteGauges,
    SqliteQueueAdmin,
    SqliteEvents,
    SqliteTallies,
    SqliteRecords,
    SqliteWebhookState,
    SqliteTlsMemory,
    SqliteTlsReports,
    SqliteReceivedReports,
    SqliteSuppressions,
    SqliteRetention,
    SqliteDkimKeys,
    LocalDomainSlots,
    LocalNodes,
):
    """What ``open_store("sqlite:///...")`` returns: one ``Database`` serving every
    contract of ``store.contracts``; the per-domain slots live in the process, the only
    dispatcher on the file (``local_slots``), and so does the registry of running nodes
    (``local_nodes``)."""
