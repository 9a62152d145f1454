"""Durable storage. Imports only `model`.

``contracts/`` holds what every backend honours, one module per concern (the queue, keys,
events, policies, documents, delay notices, ...), ``errors`` what they raise; each backend
lives in its own package (``sqlite/``, ``memory/``, ``postgres/``) and passes the one
conformance suite in ``tests/conformance``.

``open_store(url, base_dir)`` picks the backend from the configured URL:

- ``sqlite:///relative/path.db``: three slashes, then a path relative to ``base_dir``;
- ``sqlite:////abs/path.db``: four slashes, an absolute path (the default backend);
- ``memory://``: nothing survives the process (tests, throw-away servers);
- ``postgresql://user@host:5432/db`` (or ``postgres://``): a database several nodes share
  (cluster mode); ``node_id`` names this node on its leases (default ``hostname:pid``).

The returned store is not open yet: ``await store.open()`` (or ``async with store``).
"""

from __future__ import annotations

from pathlib import Path

from sealpost.store.contracts import Store
from sealpost.store.errors import StoreError

__all__ = ["Store", "StoreError", "open_store", "sqlite_path"]

_SQLITE = "sqlite://"


def open_store(
    url: str,
    base_dir: Path | None = None,
    *,
    node_id: str | None = None,
    quick_check: bool = False,
    worker: int | None = None,
) -> Store:
    """The store for ``url``; relative SQLite paths resolve against ``base_dir`` (else cwd).
    ``quick_check``: a SQLite file is checked as it opens (the server's start,
    ``sqlite.integrity``); a damaged one raises ``DamagedStore``. ``worker``: the seat of
    the worker process using it (``[server] workers``), which its queue leases carry, so a
    restarted worker releases only its predecessor's (``release_own_leases``)."""
    scheme = url.split(":", 1)[0].lower()
    if url.lower().startswith(_SQLITE):
        return _sqlite_store(url, base_dir, quick_check, worker)
    if url.lower() in ("memory://", "memory:"):
        from sealpost.store.memory.store import MemoryStore

        return MemoryStore()
    if scheme in ("postgresql", "postgres"):
        from sealpost.store.postgres.store import PostgresStore

        postgres: Store = PostgresStore(url, node_id=node_id, worker=worker)
        return postgres
    raise StoreError(
        f"store url {_redacted(url)!r}: unsupported; use sqlite:///relative/path.db, "
        "sqlite:////absolute/path.db, postgresql://user@host:5432/db or memory://"
    )


def _sqlite_store(url: str, base_dir: Path | None, quick_check: bool, worker: int | None) -> Store:
    from sealpost.store.sqlite.store import SqliteStore

    path = sqlite_path(url, base_dir)
    store: Store = SqliteStore(path, quick_check=quick_check, worker=worker)
    return store


def sqlite_path(url: str, base_dir: Path | None = None) -> Path:
    """The file a ``sqlite://`` url names; relative paths resolve against ``base_dir``."""
    rest = url[len(_SQLITE) :]
    if not url.lower().startswith(_SQLITE) or not rest.startswith("/") or rest.strip("/") == "":
        raise StoreError(
            f"store url {url!r}: expected sqlite:///relative/path.db or sqlite:////abs/path.db"
        )
    path = Path(rest[1:])  # "//abs/path" -> "/abs/path"; "/rel/path" -> "rel/path"
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    return path


def _redacted(url: str) -> str:
    """``url`` without a password (``user:secret@host`` -> ``user:***@host``)."""
    head, sep, tail = url.partition("://")
    if not sep or "@" not in tail:
        return url
    credentials, _, host = tail.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{head}://{user}:***@{host}"
