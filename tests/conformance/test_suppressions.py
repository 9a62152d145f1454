"""Conformance of the suppression list on every backend: entries keyed by (recipient, type),
upserts that keep ``created``, the bounce rule's insert-if-new, deletes by type, the search's
filters and cursor, and the bulk check a send makes. On SQLite a database at the previous
schema version gains the table, and its keys that could manage the list may now read it."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from sealpost.model.suppression import (
    Suppression,
    SuppressionQuery,
    SuppressionSource,
    SuppressionType,
)
from sealpost.store import open_store
from sealpost.store.sqlite import schema

T0 = 1_700_000_000.0
TX = SuppressionType.TRANSACTIONAL
NTX = SuppressionType.NON_TRANSACTIONAL
MANUAL = SuppressionSource.MANUALLY_ADDED
BOUNCE = SuppressionSource.BOUNCE_RULE


def entry(rcpt, kind=NTX, source=MANUAL, when=T0, description=""):
    return Suppression(rcpt, kind, source, description, when, when)


def test_an_entry_is_kept_by_recipient_and_type_and_updated_in_place(run):
    async def scenario(store):
        assert await store.suppressions_of("a@example.test") == []
        await store.put_suppressions([entry("a@example.test", NTX, description="first")])
        await store.put_suppressions([entry("a@example.test", TX, when=T0 + 5)])
        got = await store.suppressions_of("a@example.test")
        assert [(e.type, e.description) for e in got] == [(NTX, "first"), (TX, "")]
        # An update keeps created and takes the rest.
        await store.put_suppressions(
            [entry("a@example.test", NTX, BOUNCE, when=T0 + 10, description="second")]
        )
        ntx = (await store.suppressions_of("a@example.test"))[0]
        assert (ntx.source, ntx.description, ntx.created, ntx.updated) == (
            BOUNCE,
            "second",
            T0,
            T0 + 10,
        )
        # keep_existing (the bounce rule) never overwrites, but adds what is missing.
        await store.put_suppressions(
            [entry("a@example.test", NTX, when=T0 + 20), entry("b@example.test", when=T0 + 20)],
            keep_existing=True,
        )
        assert (await store.suppressions_of("a@example.test"))[0].description == "second"
        assert len(await store.suppressions_of("b@example.test")) == 1
        # A key given twice in one write: the last one wins.
        await store.put_suppressions(
            [entry("c@example.test", description="x"), entry("c@example.test", description="y")]
        )
        assert [e.description for e in await store.suppressions_of("c@example.test")] == ["y"]

    run(scenario)


def test_delete_removes_one_type_or_both(run):
    async def scenario(store):
        await store.put_suppressions([entry("a@example.test", TX), entry("a@example.test", NTX)])
        assert await store.delete_suppressions("a@example.test", TX) == 1
        assert [e.type for e in await store.suppressions_of("a@example.test")] == [NTX]
        assert await store.delete_suppressions("a@example.test", TX) == 0
        await store.put_suppressions([entry("a@example.test", TX)])
        assert await store.delete_suppressions("a@example.test") == 2
        assert await store.delete_suppressions("a@example.test") == 0

    run(scenario)


def test_suppressed_among_answers_for_one_type_with_keys_lower_cased(run):
    async def scenario(store):
        await store.put_suppressions([entry("a@example.test", NTX), entry("b@example.test", TX)])
        many = [f"user{n}@example.test" for n in range(1200)]  # past one statement's chunk
        found = await store.suppressed_among(["A@Example.TEST", "b@example.test", *many], NTX)
        assert found == {"a@example.test"}
        assert await store.suppressed_among(["b@example.test"], TX) == {"b@example.test"}
        assert await store.suppressed_among([], TX) == set()

    run(scenario)


def test_search_filters_and_pages_by_key(run):
    async def scenario(store):
        await store.put_suppressions(
            [
                entry("a@one.test", TX, MANUAL, T0),
                entry("a@one.test", NTX, BOUNCE, T0 + 10),
                entry("b@two.test", NTX, MANUAL, T0 + 20),
                entry("c@xone.test", NTX, MANUAL, T0 + 30),
                entry("d@one.test", NTX, BOUNCE, T0 + 40),
            ]
        )
        everything = await store.search_suppressions(SuppressionQuery())
        assert [(e.recipient, e.type) for e in everything] == [
            ("a@one.test", NTX),
            ("a@one.test", TX),
            ("b@two.test", NTX),
            ("c@xone.test", NTX),
            ("d@one.test", NTX),
        ]
        one = SuppressionQuery(domain="one.test")
        assert [e.recipient for e in await store.search_suppressions(one)] == [
            "a@one.test",
            "a@one.test",
            "d@one.test",
        ], "xone.test is another domain"
        bounced = SuppressionQuery(sources=(BOUNCE,), types=(NTX,))
        assert {e.recipient for e in await store.search_suppressions(bounced)} == {
            "a@one.test",
            "d@one.test",
        }
        window = SuppressionQuery(updated_from=T0 + 10, updated_to=T0 + 30)
        assert await store.count_suppressions(window) == 3
        # Pages of two, following the key of the last entry.
        seen, after = [], None
        while True:
            page = await store.search_suppressions(SuppressionQuery(after=after, limit=2))
            seen += page
            if len(page) < 2:
                break
            after = page[-1].key
        assert seen == everything
        assert await store.count_suppressions(SuppressionQuery(after=("z", "z"), limit=1)) == 5

    run(scenario)


def test_an_older_sqlite_database_gains_the_table_and_manage_keys_gain_view(tmp_path):
    path = tmp_path / "spool" / "queue.db"
    path.parent.mkdir()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute(schema.sql.CREATE_VERSION_TABLE)
    for version, statements in schema.MIGRATIONS:
        if version > 8:
            break
        for statement in statements:
            conn.execute(statement)
        conn.execute(schema.sql.INSERT_VERSION, (version,))
    key = "INSERT INTO api_keys (id, label, salt, digest, created_at, grants) VALUES (?,?,?,?,?,?)"
    conn.execute(key, ("aaaaaaaa", "m", b"s", b"d", T0, "smtp/inject suppression_lists/manage"))
    conn.execute(key, ("bbbbbbbb", "s", b"s", b"d", T0, "smtp/inject"))
    conn.execute("COMMIT")
    conn.close()

    async def main():
        store = open_store("sqlite:///spool/queue.db", base_dir=tmp_path)
        await store.open()
        try:
            manager = await store.find_key("aaaaaaaa")
            sender = await store.find_key("bbbbbbbb")
            assert {g.value for g in manager.grants} == {
                "smtp/inject",
                "suppression_lists/manage",
                "suppression_lists/view",
            }
            assert {g.value for g in sender.grants} == {"smtp/inject"}
            await store.put_suppressions([entry("a@example.test")])
            assert len(await store.suppressions_of("a@example.test")) == 1
        finally:
            await store.close()

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["transactional", "non_transactional"])
def test_types_are_the_two_sparkpost_names(kind):
    assert SuppressionType(kind).value == kind


def test_an_entry_one_node_adds_stops_sends_on_another(run_pair):
    """Two nodes on one PostgreSQL database (or two processes on one SQLite file): what one
    store writes, the other's check finds at once, and a delete on either is seen by both."""

    async def scenario(a, b):
        await a.put_suppressions([entry("gone@example.test", NTX, BOUNCE)])
        assert await b.suppressed_among(["Gone@example.test"], NTX) == {"gone@example.test"}
        assert await b.delete_suppressions("gone@example.test") == 1
        assert await a.suppressed_among(["gone@example.test"], NTX) == set()

    run_pair(scenario)
