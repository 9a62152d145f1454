"""open_store: which backend and which file each store URL means."""

from __future__ import annotations

import asyncio
import os

import pytest

from sealpost.store import open_store
from sealpost.store.errors import StoreError
from sealpost.store.memory import MemoryStore
from sealpost.store.sqlite import SqliteStore


def test_three_slashes_is_relative_to_base_dir(tmp_path):
    store = open_store("sqlite:///var/queue.db", base_dir=tmp_path)
    assert isinstance(store, SqliteStore)
    assert store.path == tmp_path / "var" / "queue.db"


def test_four_slashes_is_absolute(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/queue.db", base_dir=tmp_path / "elsewhere")
    assert isinstance(store, SqliteStore)
    assert store.path == tmp_path / "queue.db"


def test_relative_without_base_dir_uses_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert open_store("sqlite:///q.db").path == tmp_path / "q.db"


def test_opening_creates_the_file(tmp_path):
    async def scenario():
        store = open_store("sqlite:///spool/q.db", base_dir=tmp_path)
        await store.open()
        await store.close()

    asyncio.run(scenario())
    assert (tmp_path / "spool" / "q.db").is_file()


def test_memory():
    assert isinstance(open_store("memory://"), MemoryStore)


def test_postgresql_urls_pick_the_postgres_store_with_its_node_id():
    from sealpost.store.postgres import PostgresStore

    store = open_store("postgresql://sealpost:s3cret@db.example.test/sealpost", node_id="n1")
    assert isinstance(store, PostgresStore) and store.node_id == "n1"
    assert "s3cret" not in store._where
    other = open_store("postgres://db.example.test/sealpost")
    assert isinstance(other, PostgresStore) and other.node_id.endswith(f":{os.getpid()}")


@pytest.mark.parametrize(
    "url", ["mysql://db/x", "sqlite://", "sqlite:///", "sqlite:relative.db", "queue.db", ""]
)
def test_bad_urls_are_refused(url):
    with pytest.raises(StoreError):
        open_store(url)
