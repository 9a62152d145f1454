"""Conformance of the DkimKeyStore half of every backend: a sealed key is kept by domain and
selector, byte for byte, replaced by a later one, listed with the others and forgotten. On
the durable backends a key one store wrote is read by another store on the same database
(two nodes on PostgreSQL, a restart on SQLite)."""

from __future__ import annotations

import os

T0 = 1_700_000_000.0


def test_a_sealed_key_is_kept_by_domain_and_selector_replaced_and_forgotten(run):
    blob = os.urandom(300) + b"\x00\xff"  # any bytes, NULs included

    async def scenario(store):
        assert await store.dkim_keys() == {}
        assert await store.dkim_key("example.test", "s1") is None
        await store.put_dkim_key("example.test", "s1", blob, T0)
        await store.put_dkim_key("example.test", "s2", b"second", T0)
        await store.put_dkim_key("other.test", "s1", b"third", T0)
        assert await store.dkim_key("example.test", "s1") == blob
        assert await store.dkim_key("example.test", "s3") is None, "other selector"
        assert await store.dkim_key("example.org", "s1") is None, "other domain"
        assert await store.dkim_keys() == {
            ("example.test", "s1"): blob,
            ("example.test", "s2"): b"second",
            ("other.test", "s1"): b"third",
        }
        await store.put_dkim_key("example.test", "s1", b"replaced", T0 + 1)
        assert await store.dkim_key("example.test", "s1") == b"replaced"
        assert await store.delete_dkim_key("example.test", "s1") is True
        assert await store.delete_dkim_key("example.test", "s1") is False, "gone already"
        assert await store.dkim_key("example.test", "s1") is None
        assert set(await store.dkim_keys()) == {("example.test", "s2"), ("other.test", "s1")}

    run(scenario)


def test_a_key_one_store_wrote_another_on_the_same_database_reads(run_pair):
    async def scenario(a, b):
        await a.put_dkim_key("example.test", "s1", b"sealed", T0)
        assert await b.dkim_key("example.test", "s1") == b"sealed"
        assert await b.dkim_keys() == {("example.test", "s1"): b"sealed"}
        assert await b.delete_dkim_key("example.test", "s1")
        assert await a.dkim_key("example.test", "s1") is None

    run_pair(scenario)


def test_a_key_is_replaced_only_while_it_is_still_the_one_read(run):
    """``replace_dkim_key`` is a compare-and-set: the re-seal of a key another process changed
    or deleted meanwhile changes nothing and says so."""

    async def scenario(store):
        await store.put_dkim_key("example.test", "s1", b"old-seal", T0)
        assert await store.replace_dkim_key("example.test", "s1", b"old-seal", b"new-seal")
        assert await store.dkim_key("example.test", "s1") == b"new-seal"
        assert not await store.replace_dkim_key("example.test", "s1", b"old-seal", b"other"), (
            "the stored key is no longer the one read"
        )
        assert await store.dkim_key("example.test", "s1") == b"new-seal"
        assert not await store.replace_dkim_key("example.test", "s9", b"old-seal", b"x"), (
            "no key of that selector"
        )
        assert await store.dkim_key("example.test", "s9") is None, "nothing inserted"
        assert not await store.replace_dkim_key("other.test", "s1", b"new-seal", b"x"), (
            "another domain's key is not touched"
        )
        await store.put_dkim_key("other.test", "s1", b"third", T0)
        assert await store.replace_dkim_key("example.test", "s1", b"new-seal", b"newest")
        assert await store.dkim_keys() == {
            ("example.test", "s1"): b"newest",
            ("other.test", "s1"): b"third",
        }

    run(scenario)


def test_two_nodes_resealing_at_once_replace_a_key_once(run_pair):
    async def scenario(a, b):
        await a.put_dkim_key("example.test", "s1", b"sealed-kek1", T0)
        first = await a.replace_dkim_key("example.test", "s1", b"sealed-kek1", b"by-a")
        second = await b.replace_dkim_key("example.test", "s1", b"sealed-kek1", b"by-b")
        assert (first, second) == (True, False)
        assert await b.dkim_key("example.test", "s1") == b"by-a"

    run_pair(scenario)
