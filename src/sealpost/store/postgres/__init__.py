"""The PostgreSQL backend (cluster mode: several nodes, one database), one module per part:

- ``database``: the connections (a read pool, the writer's, the listener's), the node id,
  open and close; ``writer``: group commit in one writer task; ``wakeups``: LISTEN/NOTIFY;
- ``queue``, ``events``, ``records``, ``webhook_state``: the contracts, each a class over
  ``Database``, joined by ``store.PostgresStore``;
- ``sql``: every statement by name; ``schema``: the numbered migrations, under an advisory
  lock; ``ops``: multi-statement operations (rows to values and back: ``store.codec``).
"""

from __future__ import annotations

from sealpost.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
