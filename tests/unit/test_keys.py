"""API keys: format, salted hashing, create/verify/revoke, and the key never stored."""

from __future__ import annotations

import asyncio
import hmac

import pytest

from sealpost import api_keys as keys
from sealpost.api_keys import create_key, digest_key, generate_key, hash_key, revoke_key, verify_key
from sealpost.model.grants import ALL_GRANTS, Grant
from sealpost.store.memory import MemoryStore
from sealpost.store.sqlite import SqliteStore

T0 = 1_700_000_000.0


def run(coro):
    return asyncio.run(coro)


def test_generated_keys_are_40_lowercase_hex_and_unique():
    generated = {generate_key() for _ in range(1000)}
    assert len(generated) == 1000
    for key in generated:
        assert len(key) == 40 and keys.is_well_formed(key)
        assert key == key.lower() and int(key, 16) >= 0


def test_hash_is_salted_hmac_sha256():
    key = generate_key()
    salt1, digest1 = hash_key(key)
    salt2, digest2 = hash_key(key)
    assert len(salt1) == 16 and len(digest1) == 32
    assert salt1 != salt2 and digest1 != digest2  # same key, different stored hashes
    assert digest_key(key, salt1) == digest1
    assert hmac.compare_digest(digest_key(key, salt2), digest2)
    assert digest_key(generate_key(), salt1) != digest1


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_create_verify_revoke(backend, tmp_path):
    async def scenario():
        store = MemoryStore() if backend == "memory" else SqliteStore(tmp_path / "q.db")
        await store.open()
        try:
            key, record = await create_key(store, "ci", T0)
            assert keys.is_well_formed(key)
            assert record.id == key[:8] and record.label == "ci" and record.created_at == T0
            assert record.digest == digest_key(key, record.salt)
            assert await store.find_key(record.id) == record

            assert await verify_key(store, key) == record
            other, _ = await create_key(store, "web", T0 + 1)
            assert (await verify_key(store, other)).label == "web"

            wrong_tail = key[:8] + ("0" if key[8] != "0" else "1") + key[9:]
            for presented in (
                wrong_tail,  # right id, wrong secret
                generate_key(),  # unknown id
                key.upper(),  # malformed: keys are lower case
                key[:39],
                key + "0",
                "",
                key[:8],
                "g" * 40,
                key[:39] + "\u00e9",
                " " + key[1:],
                "x" * 10_000,
            ):
                assert await verify_key(store, presented) is None, presented

            assert await revoke_key(store, record.id, T0 + 10) is True
            assert await revoke_key(store, record.id, T0 + 11) is False
            assert await revoke_key(store, "ffffffff", T0 + 11) is False
            assert await verify_key(store, key) is None
            assert (await store.find_key(record.id)).revoked_at == T0 + 10
            assert await verify_key(store, other) is not None  # others unaffected
        finally:
            await store.close()

    run(scenario())


def test_the_key_itself_is_never_in_the_database_file(tmp_path):
    path = tmp_path / "q.db"

    def raw_bytes() -> bytes:
        return b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("q.db"))

    async def scenario() -> list[str]:
        async with SqliteStore(path) as store:
            created = [await create_key(store, f"k{i}", T0) for i in range(5)]
            found = raw_bytes()  # WAL still holds the pages here
            for key, record in created:
                assert record.id.encode() in found  # the id is stored in clear: grep works
                assert key.encode() not in found
                assert key[8:].encode() not in found
                assert bytes.fromhex(key) not in found
            return [key for key, _ in created]

    created = run(scenario())
    final = raw_bytes()  # after close the WAL is checkpointed into the main file
    assert all(key.encode() not in final and key[8:].encode() not in final for key in created)


def test_create_key_draws_again_on_an_id_collision(monkeypatch):
    taken = "0123abcd" + "0" * 32
    fresh = "89abcdef" + "1" * 32
    drawn = iter([taken, fresh])

    async def scenario():
        store = MemoryStore()
        salt, digest = hash_key(taken)
        from sealpost.model.api_key import ApiKeyRecord

        await store.add_key(ApiKeyRecord("0123abcd", "old", salt, digest, T0))
        monkeypatch.setattr(keys, "generate_key", lambda: next(drawn))
        key, record = await create_key(store, "new", T0)
        assert key == fresh and record.id == "89abcdef"
        assert (await verify_key(store, taken)).label == "old"

    run(scenario())


def test_keys_get_every_grant_unless_told_otherwise():
    """Issue 10 item 2: no grants named means every grant; named ones are kept as given;
    a key with no grant at all is refused."""

    async def scenario():
        store = MemoryStore()
        _, default = await create_key(store, "default", T0)
        assert default.grants == ALL_GRANTS
        _, some = await create_key(store, "some", T0, grants=[Grant.TEMPLATES_VIEW] * 2)
        assert some.grants == {Grant.TEMPLATES_VIEW}
        assert some.allows(Grant.TEMPLATES_VIEW) and not some.allows(Grant.SMTP_INJECT)
        with pytest.raises(ValueError, match="at least one grant"):
            await create_key(store, "nothing", T0, grants=())
        assert {r.label for r in await store.list_keys()} == {"default", "some"}

    run(scenario())
