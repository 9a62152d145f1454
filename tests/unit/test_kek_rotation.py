"""``domains.kek_rotation`` on a real (memory) store: ``reseal`` seals every key not sealed
with the current key again, counts those already current and those that open with no key of
the ring (the others are still re-sealed), writes nothing with ``dry_run``, and loses no race
(a key replaced or deleted between the read and the compare-and-set is handled as it is
now); ``kek_status`` counts keys by the key that sealed them, every key of the ring listed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sealpost.dkim.keyring import Keyring, Role
from sealpost.dkim.sealing import KeySecret, seal, sealed_with
from sealpost.domains.kek_rotation import kek_status, reseal
from sealpost.store.memory import MemoryStore

T0 = 1_700_000_000.0


def key(name: str) -> KeySecret:
    return KeySecret(Path(f"/keys/{name}.key"), os.urandom(32))


def run(coro):
    return asyncio.run(coro)


def stored(store: MemoryStore, secret: KeySecret, domain: str, pem: bytes = b"PEM") -> None:
    run(store.put_dkim_key(domain, "s1", seal(secret, domain, "s1", pem), T0))


def test_reseal_seals_old_keys_with_the_current_one_and_counts_the_rest():
    kek1, kek2, stranger = key("kek1"), key("kek2"), key("stranger")
    ring = Keyring(kek2, [kek1])
    store = MemoryStore()
    stored(store, kek1, "a.test", b"PEM-A")
    stored(store, kek1, "b.test", b"PEM-B")
    stored(store, kek2, "c.test")
    stored(store, stranger, "d.test")
    before = run(store.dkim_keys())

    dry = run(reseal(store, ring, dry_run=True))
    assert dry.dry_run and dry.resealed == ("s1._domainkey.a.test", "s1._domainkey.b.test")
    assert run(store.dkim_keys()) == before, "a dry run writes nothing"

    report = run(reseal(store, ring))
    assert report.resealed == ("s1._domainkey.a.test", "s1._domainkey.b.test")
    assert (report.already_current, report.gone, report.key_id) == (1, 0, kek2.key_id)
    assert [f.name for f in report.failed] == ["s1._domainkey.d.test"]
    assert stranger.key_id in report.failed[0].reason
    after = run(store.dkim_keys())
    assert after[("c.test", "s1")] == before[("c.test", "s1")], "a current key is not rewritten"
    assert Keyring(kek2).unseal("a.test", "s1", after[("a.test", "s1")]) == b"PEM-A"
    assert Keyring(kek2).unseal("b.test", "s1", after[("b.test", "s1")]) == b"PEM-B"
    assert report.to_json()["resealed"] == 2 and report.to_json()["failed"] == 1

    status = run(kek_status(store, ring))
    assert [(c.key_id, c.role, c.keys) for c in status.counts] == [
        (kek2.key_id, Role.CURRENT, 3),
        (kek1.key_id, Role.PREVIOUS, 0),
        (stranger.key_id, Role.UNKNOWN, 1),
    ]
    assert status.to_json()["current"] == 3 and status.to_json()["unknown"] == 1
    assert status.counts[1].file == "/keys/kek1.key"


class Racing(MemoryStore):
    """A store where another process changes the key between reseal's read and its write."""

    def __init__(self, meanwhile) -> None:
        super().__init__()
        self.meanwhile = meanwhile

    async def replace_dkim_key(self, domain, selector, old_sealed, new_sealed) -> bool:
        if self.meanwhile is not None:
            await self.meanwhile(self)
            self.meanwhile = None
        return await super().replace_dkim_key(domain, selector, old_sealed, new_sealed)


def test_a_key_replaced_through_the_api_meanwhile_is_resealed_as_it_is_now():
    kek1, kek2 = key("kek1"), key("kek2")

    async def api_puts_a_new_key(store):  # another node's API, still on KEK1
        await store.put_dkim_key("a.test", "s1", seal(kek1, "a.test", "s1", b"NEW"), T0 + 1)

    store = Racing(api_puts_a_new_key)
    stored(store, kek1, "a.test", b"OLD")
    report = run(reseal(store, Keyring(kek2, [kek1])))
    assert report.resealed == ("s1._domainkey.a.test",) and not report.failed
    blob = run(store.dkim_key("a.test", "s1"))
    assert Keyring(kek2).unseal("a.test", "s1", blob) == b"NEW", "the newer key, not the old"


def test_a_key_deleted_or_resealed_elsewhere_meanwhile_is_not_written_back():
    kek1, kek2 = key("kek1"), key("kek2")

    async def deleted(store):
        await store.delete_dkim_key("a.test", "s1")

    store = Racing(deleted)
    stored(store, kek1, "a.test")
    report = run(reseal(store, Keyring(kek2, [kek1])))
    assert (report.resealed, report.gone) == ((), 1)
    assert run(store.dkim_keys()) == {}

    async def resealed_by_another_node(store):
        pem = Keyring(kek1).unseal("a.test", "s1", await store.dkim_key("a.test", "s1"))
        await store.put_dkim_key("a.test", "s1", seal(kek2, "a.test", "s1", pem), T0)

    store = Racing(resealed_by_another_node)
    stored(store, kek1, "a.test")
    report = run(reseal(store, Keyring(kek2, [kek1])))
    assert (report.resealed, report.already_current) == ((), 1)
    assert sealed_with(run(store.dkim_key("a.test", "s1"))) == kek2.key_id
