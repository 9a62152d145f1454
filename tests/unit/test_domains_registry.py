"""The sending-domain registry and the signer built from it, over the memory store and the
shared in-memory resolver: create/duplicate/update/verify/delete with their keys sealed in
the store, and mail From: a verified domain signed with its key (verified by dkimpy against
the published record); records of earlier versions (a key file) are signed for from the file
until the start's import moves the key into the store."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import dkim as dkimpy
import pytest

from sealpost.dkim import key_files as key_material
from sealpost.dkim.keyring import Keyring
from sealpost.dkim.keys import DkimKey, generate_key, key_path
from sealpost.dkim.sealing import KeySecret, seal, unseal
from sealpost.domains.records import KIND, DkimStatus
from sealpost.domains.registry import DkimInput, DomainError, Problem, SendingDomains
from sealpost.domains.signers import SigningKeys
from sealpost.domains.stored_keys import import_key_files
from sealpost.model.document import Document
from sealpost.store.memory import MemoryStore
from tests.fakes.resolver import ZoneResolver

NOW = 1767225600.0  # 2026-01-01T00:00:00Z


def publish(resolver: ZoneResolver, selector: str, domain: str, public: str) -> None:
    resolver.set(f"{selector}._domainkey.{domain}", "TXT", [f"v=DKIM1; k=rsa; p={public}"])


@pytest.fixture
def resolver() -> ZoneResolver:
    return ZoneResolver()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def secret(tmp_path: Path) -> Keyring:
    return Keyring(KeySecret(tmp_path / "dkim-secret.key", os.urandom(32)))


@pytest.fixture
def registry(
    store: MemoryStore, tmp_path: Path, resolver: ZoneResolver, secret: Keyring
) -> SendingDomains:
    return SendingDomains(store, tmp_path, resolver, secret, clock=lambda: NOW)


def run(coro):
    return asyncio.run(coro)


def key_file(data_dir: Path, domain: str, selector: str, pem: bytes) -> Path:
    """A key file where ``sealpost dkim generate`` (and versions before sealed keys) put it."""
    path = key_path(data_dir, domain, selector)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pem)
    return path


def test_create_seals_the_private_key_in_the_store_and_stores_the_record(
    registry: SendingDomains, store: MemoryStore, tmp_path: Path, secret: Keyring
):
    record = run(registry.create("Example.COM", key_bits=1024))
    assert record.domain == "example.com" and record.creation_time == "2026-01-01T00:00:00+00:00"
    assert record.key is not None and record.key.selector == "scph0126"
    assert record.key.key_file is None and not (tmp_path / "dkim").exists(), "no key file"
    sealed = run(store.dkim_key("example.com", "scph0126"))
    assert sealed is not None and b"PRIVATE KEY" not in sealed
    pem = secret.unseal("example.com", "scph0126", sealed)
    assert key_material.from_private(pem.decode()).public == record.key.public
    assert record.dkim_status is DkimStatus.UNVERIFIED and not record.verified
    document = run(store.get_document(KIND, "example.com"))
    assert document is not None and "key_file" not in document.payload
    assert "PRIVATE" not in repr(document.payload)
    assert document.payload["dkim"]["public"] == record.key.public
    with pytest.raises(DomainError) as info:
        run(registry.create("example.com.", key_bits=1024))
    assert info.value.problem is Problem.DUPLICATE


def test_a_taken_selector_file_is_never_overwritten(registry: SendingDomains, tmp_path: Path):
    theirs = key_file(tmp_path, "shop.test", "scph0126", b"OPERATOR KEY")
    record = run(registry.create("shop.test", key_bits=1024))
    assert record.key is not None and record.key.selector == "scph0126-2"
    assert theirs.read_bytes() == b"OPERATOR KEY"
    key_file(tmp_path, "own.test", "mine", b"OPERATOR KEY")
    pem, _ = generate_key("rsa", 1024)
    with pytest.raises(DomainError) as info:
        run(registry.create("own.test", dkim=DkimInput(private=pem.decode(), selector="mine")))
    assert info.value.problem is Problem.KEY_CONFLICT
    assert run(registry.search()) == [record]


def test_create_refuses_bad_input_before_writing_anything(registry: SendingDomains, tmp_path: Path):
    cases = [
        (("not a domain",), {}, "domain"),
        (("a.test",), {"key_bits": 4096}, "dkim_key_length"),
        (("a.test",), {"dkim": DkimInput(selector="bad selector")}, "dkim.selector"),
        (("a.test",), {"dkim": DkimInput(public="AAAA")}, "dkim.private"),
        (("a.test",), {"dkim": DkimInput(private="garbage")}, "dkim.private"),
        (("a.test",), {"dkim": DkimInput(signing_domain="other.test")}, "dkim.signing_domain"),
    ]
    for args, kwargs, field in cases:
        with pytest.raises(DomainError) as info:
            run(registry.create(*args, **kwargs))
        assert info.value.problem is Problem.INVALID and info.value.field == field
    assert not (tmp_path / "dkim").exists()
    assert run(registry._store.dkim_keys()) == {}


def test_domain_without_dkim(registry: SendingDomains):
    record = run(registry.create("nokey.test", generate_dkim=False))
    assert record.key is None
    checked = run(registry.verify("nokey.test"))
    assert checked.dkim_status is DkimStatus.UNVERIFIED
    assert checked.dns is not None and "no DKIM key" in (checked.dns.dkim_error or "")


def test_verify_valid_invalid_and_transient(registry: SendingDomains, resolver: ZoneResolver):
    record = run(registry.create("example.com", key_bits=1024))
    assert record.key is not None
    missing = run(registry.verify("example.com"))
    assert missing.dkim_status is DkimStatus.INVALID and not missing.ownership_verified
    assert "no DKIM TXT record" in (missing.dns.dkim_error or "")  # type: ignore[union-attr]
    publish(resolver, record.key.selector, "example.com", record.key.public)
    valid = run(registry.verify("example.com"))
    assert valid.dkim_status is DkimStatus.VALID and valid.ownership_verified and valid.verified
    assert valid.dns is not None and valid.dns.dkim_error is None
    assert record.key.public in (valid.dns.dkim_record or "")
    resolver.servfail.add(f"{record.key.selector}._domainkey.example.com")
    shaky = run(registry.verify("example.com"))
    assert shaky.dkim_status is DkimStatus.VALID, "a DNS failure keeps the status"
    assert "try again" in (shaky.dns.dkim_error or "")  # type: ignore[union-attr]
    resolver.servfail.clear()
    resolver.set(f"{record.key.selector}._domainkey.example.com", "TXT", ["v=DKIM1; p=AAAA"])
    wrong = run(registry.verify("example.com"))
    assert wrong.dkim_status is DkimStatus.INVALID and not wrong.verified
    unchanged = run(registry.verify("example.com", dkim=False))
    assert unchanged == wrong
    assert [d.domain for d in run(registry.search(dkim_status=DkimStatus.INVALID))] == [
        "example.com"
    ]
    assert run(registry.search(ownership_verified=True)) == []


def test_update_replaces_the_key_only_once_it_is_published(
    registry: SendingDomains, resolver: ZoneResolver, store: MemoryStore, secret: Keyring
):
    first = run(registry.create("example.com", key_bits=1024))
    assert first.key is not None
    pem, _ = generate_key("rsa", 1024)
    new = key_material.from_private(pem.decode())
    brought = DkimInput(private=pem.decode(), selector="s2")
    with pytest.raises(DomainError) as info:
        run(registry.update("example.com", dkim=brought))
    assert info.value.problem is Problem.DKIM_UNVERIFIED and "s2._domainkey" in info.value.detail
    publish(resolver, "s2", "example.com", new.public)
    updated = run(registry.update("example.com", dkim=brought, is_default_bounce_domain=True))
    assert updated.key is not None and updated.key.selector == "s2"
    assert updated.dkim_status is DkimStatus.VALID and updated.is_default_bounce_domain
    sealed = run(store.dkim_key("example.com", "s2"))
    assert sealed is not None and secret.unseal("example.com", "s2", sealed) == new.private_pem
    assert run(store.dkim_key("example.com", first.key.selector)) is None, "rotated: forgotten"
    same = run(registry.update("example.com", dkim=brought, tracking_domain="t.example.com"))
    assert same.key == updated.key and same.tracking_domain == "t.example.com"
    with pytest.raises(DomainError) as info:
        run(registry.update("nowhere.test", shared_with_subaccounts=True))
    assert info.value.problem is Problem.NOT_FOUND


def test_delete_removes_record_and_key(registry: SendingDomains, store: MemoryStore):
    record = run(registry.create("example.com", key_bits=1024))
    assert record.key is not None
    assert run(store.dkim_keys())
    run(registry.delete("EXAMPLE.com"))
    assert run(store.dkim_keys()) == {}
    for call in (registry.delete("example.com"), registry.get("example.com")):
        with pytest.raises(DomainError) as info:
            run(call)
        assert info.value.problem is Problem.NOT_FOUND
    with pytest.raises(DomainError) as info:
        run(registry.get("../../etc"))
    assert info.value.problem is Problem.NOT_FOUND


def test_concurrent_creates_of_one_name_make_one_domain(
    registry: SendingDomains, store: MemoryStore
):
    async def both() -> list[object]:
        return await asyncio.gather(
            registry.create("race.test", key_bits=1024),
            registry.create("race.test", key_bits=1024),
            return_exceptions=True,
        )

    outcomes = run(both())
    errors = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(errors) == 1 and errors[0].problem is Problem.DUPLICATE
    assert len(run(store.dkim_keys())) == 1


class SlowReads(MemoryStore):
    """A store whose document reads take a while: two creators both read "no such domain"
    before either writes, as two workers can."""

    async def get_document(self, kind: str, doc_id: str) -> Document | None:
        found = await super().get_document(kind, doc_id)  # the snapshot, then the wait
        await asyncio.sleep(0.05)
        return found


def test_two_processes_creating_one_name_make_one_domain_with_its_own_key(
    tmp_path: Path, resolver: ZoneResolver, secret: Keyring
):
    """Two registries (two workers' or nodes' APIs: no lock in common) on one store, each
    bringing its own key under one selector: one create wins, the other is refused, and the
    key stored is the one the record publishes (create-or-replace made both succeed)."""
    store = SlowReads()
    a, b = (SendingDomains(store, tmp_path, resolver, secret, clock=lambda: NOW) for _ in "ab")
    keys = [key_material.generate(1024) for _ in "ab"]

    async def both() -> list[object]:
        return await asyncio.gather(
            *(
                registry.create(
                    "race.test", dkim=DkimInput(private=k.private_pem.decode(), selector="s1")
                )
                for registry, k in zip((a, b), keys, strict=True)
            ),
            return_exceptions=True,
        )

    outcomes = run(both())
    errors = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(errors) == 1 and errors[0].problem is Problem.DUPLICATE, outcomes
    record = run(a.get("race.test"))
    assert record.key is not None
    sealed = run(store.dkim_key("race.test", "s1"))
    pem = secret.unseal("race.test", "s1", sealed)
    assert key_material.from_private(pem.decode()).public == record.key.public


# -- signing -------------------------------------------------------------------------------

MESSAGE = (
    b"From: Ann <ann@example.com>\r\n"
    b"To: bob@example.net\r\n"
    b"Subject: hello\r\n"
    b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
    b"Message-ID: <m1@example.com>\r\n"
    b"\r\n"
    b"Hi Bob.\r\n"
)


def _dkim_verifies(data: bytes, resolver: ZoneResolver) -> bool:
    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        records = resolver.published(name.decode(), "TXT")
        return records[0].encode() if records else b""

    return dkimpy.DKIM(data).verify(dnsfunc=dnsfunc)


def test_signer_signs_for_verified_domains_only(
    registry: SendingDomains, store: MemoryStore, resolver: ZoneResolver, secret: Keyring
):
    signing = SigningKeys(store, secret=secret)
    record = run(registry.create("example.com", key_bits=1024))
    assert record.key is not None
    assert run(signing.refresh()) is None and signing.sign(MESSAGE) == MESSAGE
    publish(resolver, record.key.selector, "example.com", record.key.public)
    run(registry.verify("example.com"))
    signer = run(signing.refresh())
    assert signer is not None and signing.signer() is signer
    assert signing.is_verified("Example.com.") and not signing.is_verified("other.test")
    signed = signing.sign(MESSAGE)
    assert signed.startswith(b"DKIM-Signature:") and b"d=example.com" in signed
    assert f"s={record.key.selector}".encode() in signed
    assert _dkim_verifies(signed, resolver)
    run(registry.delete("example.com"))
    assert run(signing.refresh()) is None and signing.sign(MESSAGE) == MESSAGE


def test_static_keys_win_and_keys_that_do_not_open_are_skipped(
    registry: SendingDomains, store: MemoryStore, resolver: ZoneResolver, secret: Keyring
):
    static_pem, static_txt = generate_key("rsa", 1024)
    static = DkimKey("example.com", "static", static_pem, "rsa-sha256")
    resolver.set("static._domainkey.example.com", "TXT", [static_txt])
    signing = SigningKeys(store, [static], secret)
    assert signing.signer() is not None and signing.is_verified("example.com")
    for name in ("example.com", "broken.test"):
        record = run(registry.create(name, key_bits=1024))
        assert record.key is not None
        publish(resolver, record.key.selector, name, record.key.public)
        run(registry.verify(name))
    broken = run(registry.get("broken.test"))
    assert broken.key is not None
    # A sealed key moved to another domain's row does not open (associated data).
    other = run(store.dkim_key("example.com", broken.key.selector))
    assert other is not None
    run(store.put_dkim_key("broken.test", broken.key.selector, other, NOW))
    signer = run(signing.refresh())
    assert signer is not None
    assert [k.selector for k in signer.keys_for("example.com")] == ["static"]
    assert signer.keys_for("broken.test") == ()
    signed = signing.sign(MESSAGE)
    assert b"s=static" in signed and _dkim_verifies(signed, resolver)


def test_a_node_with_another_key_encryption_key_says_so_and_signs_for_the_rest(
    registry: SendingDomains,
    store: MemoryStore,
    resolver: ZoneResolver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
):
    record = run(registry.create("example.com", key_bits=1024))
    assert record.key is not None
    publish(resolver, record.key.selector, "example.com", record.key.public)
    run(registry.verify("example.com"))
    wrong = Keyring(KeySecret(tmp_path / "other-node.key", os.urandom(32)))
    with caplog.at_level(logging.ERROR, logger="sealpost.domains"):
        assert run(SigningKeys(store, secret=wrong).refresh()) is None
    text = caplog.text
    assert "example.com: DKIM key not loaded" in text
    assert "[dkim] key_encryption_key_file" in text and str(wrong.current.path) in text
    assert wrong.key_id in text


def test_key_files_of_earlier_versions_sign_until_imported_then_from_the_store(
    store: MemoryStore, resolver: ZoneResolver, tmp_path: Path, secret: Keyring
):
    material = key_material.generate(1024)
    path = key_file(tmp_path, "example.com", "old", material.private_pem)
    payload = {  # a record as the versions before sealed keys wrote it
        "domain": "example.com",
        "creation_time": "2025-01-01T00:00:00+00:00",
        "status": {"ownership_verified": True, "dkim_status": "valid"},
        "dkim": {"selector": "old", "public": material.public, "signing_domain": "example.com"},
        "key_file": str(path),
    }
    run(store.put_document(Document(KIND, "example.com", payload, NOW)))
    publish(resolver, "old", "example.com", material.public)
    signing = SigningKeys(store, secret=secret)
    assert run(signing.refresh()) is not None, "signed from the file before the import"
    assert run(import_key_files(store, secret, lambda: NOW)) == ["example.com"]
    assert run(import_key_files(store, secret, lambda: NOW)) == [], "idempotent"
    sealed = run(store.dkim_key("example.com", "old"))
    assert sealed is not None
    assert secret.unseal("example.com", "old", sealed) == material.private_pem
    path.unlink()  # the file is no longer read
    assert run(signing.refresh()) is not None
    assert _dkim_verifies(signing.sign(MESSAGE), resolver)


def test_a_key_file_that_is_not_the_records_key_is_not_imported(
    store: MemoryStore, tmp_path: Path, secret: Keyring
):
    material, other = key_material.generate(1024), key_material.generate(1024)
    path = key_file(tmp_path, "example.com", "old", other.private_pem)
    payload = {
        "domain": "example.com",
        "dkim": {"selector": "old", "public": material.public},
        "key_file": str(path),
    }
    run(store.put_document(Document(KIND, "example.com", payload, NOW)))
    assert run(import_key_files(store, secret, lambda: NOW)) == []
    assert run(store.dkim_keys()) == {}


def test_sealed_keys_are_bound_to_domain_selector_and_key():
    secret = KeySecret(Path("k"), os.urandom(32))
    sealed = seal(secret, "example.com", "s1", b"PEM")
    assert unseal(secret, "example.com", "s1", sealed) == b"PEM"
    assert b"PEM" not in sealed
    assert sealed != seal(secret, "example.com", "s1", b"PEM"), "a fresh nonce each time"
    for domain, selector in (("example.org", "s1"), ("example.com", "s2")):
        with pytest.raises(ValueError, match="altered or stored under another"):
            unseal(secret, domain, selector, sealed)
    with pytest.raises(ValueError, match="key_encryption_key_file"):
        unseal(KeySecret(Path("k2"), os.urandom(32)), "example.com", "s1", sealed)
    assert secret.secret.hex() not in repr(secret)
