"""Conformance of the TlsMemory half of every backend: a broken host is remembered until its
time, by name and port, replaced by a later entry; an MTA-STS fetch hold-off likewise, and
cleared on success. On the durable backends the memory outlives the store that wrote it and
is read by another store on the same database (two nodes on PostgreSQL)."""

from __future__ import annotations

from sealpost.model.tls_memory import FetchHoldoff

T0 = 1_700_000_000.0


def test_a_broken_host_is_remembered_until_its_time_by_name_and_port(run):
    async def scenario(store):
        assert await store.broken_tls_until("mx.example.test", 25, T0) is None
        await store.remember_broken_tls("mx.example.test", 25, T0 + 60, T0)
        assert await store.broken_tls_until("mx.example.test", 25, T0 + 59) == T0 + 60
        assert await store.broken_tls_until("mx.example.test", 587, T0) is None, "other port"
        assert await store.broken_tls_until("mx2.example.test", 25, T0) is None, "other host"
        assert await store.broken_tls_until("mx.example.test", 25, T0 + 60) is None, "expired"
        # A later failure replaces the entry, whichever time it carries.
        await store.remember_broken_tls("mx.example.test", 25, T0 + 30, T0 + 10)
        assert await store.broken_tls_until("mx.example.test", 25, T0 + 40) is None
        # An expired entry pruned by a later write does not take the new one with it.
        await store.remember_broken_tls("other.example.test", 25, T0 + 200, T0 + 100)
        assert await store.broken_tls_until("other.example.test", 25, T0 + 150) == T0 + 200

    run(scenario)


def test_a_fetch_holdoff_is_kept_until_its_time_and_cleared_on_success(run):
    async def scenario(store):
        held = FetchHoldoff("id-1", T0 + 300, "sts-webpki-invalid", "HTTPS: bad certificate")
        assert await store.sts_fetch_holdoff("example.test", T0) is None
        await store.hold_sts_fetch("example.test", held, T0)
        assert await store.sts_fetch_holdoff("example.test", T0 + 299) == held
        assert await store.sts_fetch_holdoff("other.test", T0) is None
        assert await store.sts_fetch_holdoff("example.test", T0 + 300) is None, "expired"
        newer = FetchHoldoff("id-2", T0 + 900, "sts-policy-fetch-error", "HTTP 404")
        await store.hold_sts_fetch("example.test", newer, T0 + 600)
        assert await store.sts_fetch_holdoff("example.test", T0 + 601) == newer
        await store.clear_sts_fetch_holdoff("example.test")
        assert await store.sts_fetch_holdoff("example.test", T0 + 601) is None
        await store.clear_sts_fetch_holdoff("example.test")  # twice is harmless

    run(scenario)


def test_what_one_store_learned_another_on_the_same_database_applies(run_pair):
    """Two nodes on one PostgreSQL database (or a restart on SQLite): the second store
    reads the broken host and the hold-off the first wrote."""
    held = FetchHoldoff("id-1", T0 + 300, "sts-policy-fetch-error", "HTTP 500")

    async def scenario(a, b):
        await a.remember_broken_tls("mx.example.test", 25, T0 + 60, T0)
        await a.hold_sts_fetch("example.test", held, T0)
        assert await b.broken_tls_until("mx.example.test", 25, T0 + 1) == T0 + 60
        assert await b.sts_fetch_holdoff("example.test", T0 + 1) == held
        await b.clear_sts_fetch_holdoff("example.test")
        assert await a.sts_fetch_holdoff("example.test", T0 + 1) is None

    run_pair(scenario)
