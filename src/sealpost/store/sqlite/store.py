"""The SQLite backend: every store contract on one database file (the default backend)."""

from __future__ import annotations

from sealpost.store.sqlite.events import SqliteEvents
from sealpost.store.sqlite.queue import SqliteQueue
from sealpost.store.sqlite.records import SqliteRecords
from sealpost.store.sqlite.webhook_state import SqliteWebhookState


class SqliteStore(SqliteQueue, SqliteEvents, SqliteRecords, SqliteWebhookState):
    """What ``open_store("sqlite:///...")`` returns: one ``Database`` serving every
    contract of ``store.contracts``."""
