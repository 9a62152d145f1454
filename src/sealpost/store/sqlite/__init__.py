"""The SQLite backend, one module per part:

- ``database``: the file, its connections, the group-commit ``writer`` and the read pool;
- ``queue``, ``events``, ``records``, ``webhook_state``: the contracts, each a class over
  ``Database``, joined by ``store.SqliteStore``;
- ``sql``: every statement by name; ``schema``: the numbered migrations;
- ``ops``: multi-statement operations in a transaction (rows to values and back: ``store.codec``,
  shared with the PostgreSQL backend).
"""

from __future__ import annotations

from sealpost.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
