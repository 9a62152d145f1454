"""The key-encryption keyring (``dkim.keyring``) and the start's check of it against the
store (``domains.stored_keys.ensure_keyring``): the current key seals, every key opens what it
sealed (picked by the id in the blob), a blob no key of the ring sealed is refused naming the
ids and files, the previous keys are read from real files (one that cannot be read names
``[dkim] previous_key_encryption_key_files`` and the file), and no message or repr holds key
material."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from sealpost.dkim.keyring import PREVIOUS_OPTION, Keyring, Role, load_keyring
from sealpost.dkim.sealing import OPTION, KeySecret, SealingError, create_secret, seal, sealed_with
from sealpost.domains.stored_keys import ensure_keyring
from sealpost.store.memory import MemoryStore

T0 = 1_700_000_000.0


def key(name: str) -> KeySecret:
    return KeySecret(Path(f"/etc/sealpost/{name}.key"), os.urandom(32))


def test_the_current_key_seals_and_every_key_of_the_ring_opens_what_it_sealed():
    old, older, new = key("old"), key("older"), key("new")
    by_old = seal(old, "example.com", "s1", b"PEM-1")
    by_older = seal(older, "example.com", "s2", b"PEM-2")
    ring = Keyring(new, [old, older])
    assert ring.unseal("example.com", "s1", by_old) == b"PEM-1"
    assert ring.unseal("example.com", "s2", by_older) == b"PEM-2"
    fresh = ring.seal("example.com", "s1", b"PEM-1")
    assert sealed_with(fresh) == new.key_id == ring.key_id and ring.is_current(fresh)
    assert not ring.is_current(by_old)
    assert Keyring(new).unseal("example.com", "s1", fresh) == b"PEM-1", "new alone opens it"
    assert ring.ids() == (new.key_id, old.key_id, older.key_id)
    assert ring.role(new.key_id) is Role.CURRENT
    assert ring.role(old.key_id) is Role.PREVIOUS
    assert ring.role("00" * 8) is Role.UNKNOWN and ring.role(None) is Role.UNKNOWN


def test_a_blob_no_key_of_the_ring_sealed_is_refused_naming_ids_and_files():
    stranger, mine = key("stranger"), key("mine")
    blob = seal(stranger, "example.com", "s1", b"PEM")
    with pytest.raises(SealingError) as info:
        Keyring(mine, [key("prev")]).unseal("example.com", "s1", blob)
    text = str(info.value)
    assert stranger.key_id in text and mine.key_id in text and "/etc/sealpost/prev.key" in text
    assert OPTION in text and PREVIOUS_OPTION in text and "s1._domainkey.example.com" in text
    with pytest.raises(SealingError, match="not a sealed key"):
        Keyring(mine).unseal("example.com", "s1", b"plain")


def test_an_altered_blob_or_one_moved_to_another_domain_does_not_open():
    mine = key("mine")
    blob = seal(mine, "example.com", "s1", b"PEM")
    ring = Keyring(mine)
    with pytest.raises(SealingError, match="altered or stored under another"):
        ring.unseal("example.org", "s1", blob)
    with pytest.raises(SealingError, match="altered"):
        ring.unseal("example.com", "s1", blob[:-1] + bytes([blob[-1] ^ 1]))


def test_repeats_and_the_current_key_listed_as_previous_are_kept_once():
    current, old = key("current"), key("old")
    ring = Keyring(current, [old, current, old])
    assert ring.ids() == (current.key_id, old.key_id)
    assert ring.previous == (old,)


def test_unopened_counts_blobs_by_the_unknown_id_that_sealed_them():
    current, old, gone = key("current"), key("old"), key("gone")
    ring = Keyring(current, [old])
    blobs = [
        seal(current, "a.test", "s", b"1"),
        seal(old, "b.test", "s", b"2"),
        seal(gone, "c.test", "s", b"3"),
        seal(gone, "d.test", "s", b"4"),
        b"junk",
    ]
    assert ring.unopened(blobs) == {gone.key_id: 2, None: 1}
    assert Keyring(current, [old, gone]).unopened(blobs[:4]) == {}


def test_adopt_swaps_the_keys_for_every_holder_and_same_as_compares_ids_and_files():
    a, b = key("a"), key("b")
    ring = Keyring(a)
    holder = ring  # what the API and the signer hold
    assert ring.same_as(Keyring(a)) and not ring.same_as(Keyring(a, [b]))
    assert not ring.same_as(Keyring(KeySecret(Path("/elsewhere.key"), a.secret)))
    ring.adopt(Keyring(b, [a]))
    assert holder.key_id == b.key_id and holder.ids() == (b.key_id, a.key_id)


def test_no_repr_or_description_shows_key_material():
    a, b = key("a"), key("b")
    ring = Keyring(a, [b])
    for text in (repr(ring), ring.describe(), str(ring), repr(ring.current)):
        for secret in (a, b):
            assert secret.secret.hex() not in text and repr(secret.secret) not in text
    assert a.key_id in repr(ring) and "/etc/sealpost/b.key" in repr(ring)


def test_load_keyring_reads_real_files_and_names_the_option_of_a_bad_one(tmp_path: Path):
    current, previous = tmp_path / "kek2.key", tmp_path / "kek1.key"
    assert create_secret(current) and create_secret(previous)
    ring = load_keyring(current, [previous])
    assert [k.path for k in (ring.current, *ring.previous)] == [current, previous]
    missing = tmp_path / "kek0.key"
    with pytest.raises(SealingError) as info:
        load_keyring(current, [previous, missing])
    assert PREVIOUS_OPTION in str(info.value) and str(missing) in str(info.value)
    bad = tmp_path / "short.key"
    bad.write_text("c2hvcnQ=\n")
    with pytest.raises(SealingError, match=r"previous_key_encryption_key_files .*holds 5 bytes"):
        load_keyring(current, [bad])
    with pytest.raises(SealingError, match=r"cannot read \[dkim\] key_encryption_key_file"):
        load_keyring(missing)


# -- ensure_keyring: the start's check ------------------------------------------------------


def run(coro):
    return asyncio.run(coro)


def files(tmp_path: Path, *names: str) -> list[Path]:
    paths = [tmp_path / f"{n}.key" for n in names]
    for path in paths:
        assert create_secret(path)
    return paths


def test_a_start_with_the_new_key_and_the_old_as_previous_opens_every_stored_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    kek1, kek2 = files(tmp_path, "kek1", "kek2")
    store = MemoryStore()
    old = load_keyring(kek1)
    run(store.put_dkim_key("a.test", "s", old.seal("a.test", "s", b"PEM"), T0))
    with caplog.at_level(logging.INFO, logger="sealpost.domains"):
        ring = run(ensure_keyring(kek2, store, [kek1]))
    assert ring.ids() == (load_keyring(kek2).key_id, old.key_id)
    assert any("still sealed with a previous" in r.getMessage() for r in caplog.records)


def test_a_start_refuses_when_a_stored_key_opens_with_none_of_the_files(tmp_path: Path):
    kek1, kek2, kek3 = files(tmp_path, "kek1", "kek2", "kek3")
    store = MemoryStore()
    old = load_keyring(kek1)
    run(store.put_dkim_key("a.test", "s", old.seal("a.test", "s", b"PEM"), T0))
    run(store.put_dkim_key("b.test", "s", load_keyring(kek2).seal("b.test", "s", b"PEM"), T0))
    with pytest.raises(SealingError) as info:
        run(ensure_keyring(kek2, store, [kek3]))  # the old file dropped too early
    text = str(info.value)
    assert f"{old.key_id} (1 key(s))" in text and "1 of the store's 2" in text
    assert OPTION in text and PREVIOUS_OPTION in text and str(kek2) in text and str(kek3) in text


def test_a_start_without_the_current_file_refuses_once_keys_are_stored(tmp_path: Path):
    (kek1,) = files(tmp_path, "kek1")
    store = MemoryStore()
    run(store.put_dkim_key("a.test", "s", load_keyring(kek1).seal("a.test", "s", b"x"), T0))
    new = tmp_path / "kek2.key"
    with pytest.raises(SealingError) as info:
        run(ensure_keyring(new, store, [kek1]))
    assert OPTION in str(info.value) and str(new) in str(info.value)
    assert "openssl rand -base64 32" in str(info.value) and not new.exists(), "never made"


def test_the_first_start_makes_the_current_file(tmp_path: Path):
    path = tmp_path / "var" / "dkim-secret.key"
    ring = run(ensure_keyring(path, MemoryStore()))
    assert path.exists() and ring.previous == () and (path.stat().st_mode & 0o777) == 0o600
