"""The sending-domain registry and the signer built from it, over the memory store and the
shared in-memory resolver: create/duplicate/update/verify/delete with their key files, and
mail From: a verified domain signed with its key (verified by dkimpy against the published
record)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import dkim as dkimpy
import pytest

from sealpost.dkim import key_files as key_material
from sealpost.dkim.keys import DkimKey, generate_key
from sealpost.domains.records import KIND, DkimStatus
from sealpost.domains.registry import DkimInput, DomainError, Problem, SendingDomains
from sealpost.domains.signers import SigningKeys
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
def registry(store: MemoryStore, tmp_path: Path, resolver: ZoneResolver) -> SendingDomains:
    return SendingDomains(store, tmp_path, resolver, clock=lambda: NOW)


def run(coro):
    return asyncio.run(coro)


def test_create_generates_a_private_key_file_and_stores_the_record(
    registry: SendingDomains, store: MemoryStore, tmp_path: Path
):
    record = run(registry.create("Example.COM", key_bits=1024))
    assert record.domain == "example.com" and record.creation_time == "2026-01-01T00:00:00+00:00"
    assert record.key is not None and record.key.selector == "scph0126"
    path = Path(record.key.key_file)
    assert path == tmp_path / "dkim" / "example.com" / "scph0126.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert record.dkim_status is DkimStatus.UNVERIFIED and not record.verified
    document = run(store.get_document(KIND, "example.com"))
    assert document is not None and document.payload["key_file"] == str(path)
    assert document.payload["dkim"]["public"] == record.key.public
    with pytest.raises(DomainError) as info:
        run(registry.create("example.com.", key_bits=1024))
    assert info.value.problem is Problem.DUPLICATE


def test_a_taken_selector_file_is_never_overwritten(registry: SendingDomains, tmp_path: Path):
    theirs = key_material.write_key_file(tmp_path, "shop.test", "scph0126", b"OPERATOR KEY")
    record = run(registry.create("shop.test", key_bits=1024))
    assert record.key is not None and record.key.selector == "scph0126-2"
    assert theirs.read_bytes() == b"OPERATOR KEY"
    key_material.write_key_file(tmp_path, "own.test", "mine", b"OPERATOR KEY")
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
    registry: SendingDomains, resolver: ZoneResolver
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
    assert Path(updated.key.key_file).read_bytes() == new.private_pem
    assert not Path(first.key.key_file).exists(), "the old key file is removed"
    same = run(registry.update("example.com", dkim=brought, tracking_domain="t.example.com"))
    assert same.key == updated.key and same.tracking_domain == "t.example.com"
    with pytest.raises(DomainError) as info:
        run(registry.update("nowhere.test", shared_with_subaccounts=True))
    assert info.value.problem is Problem.NOT_FOUND


def test_delete_removes_record_and_key_file(registry: SendingDomains, tmp_path: Path):
    record = run(registry.create("example.com", key_bits=1024))
    assert record.key is not None
    run(registry.delete("EXAMPLE.com"))
    assert not Path(record.key.key_file).exists()
    assert not (tmp_path / "dkim" / "example.com").exists()
    for call in (registry.delete("example.com"), registry.get("example.com")):
        with pytest.raises(DomainError) as info:
            run(call)
        assert info.value.problem is Problem.NOT_FOUND
    with pytest.raises(DomainError) as info:
        run(registry.get("../../etc"))
    assert info.value.problem is Problem.NOT_FOUND


def test_concurrent_creates_of_one_name_make_one_domain(registry: SendingDomains, tmp_path: Path):
    async def both() -> list[object]:
        return await asyncio.gather(
            registry.create("race.test", key_bits=1024),
            registry.create("race.test", key_bits=1024),
            return_exceptions=True,
        )

    outcomes = run(both())
    errors = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(errors) == 1 and errors[0].problem is Problem.DUPLICATE
    assert len(list((tmp_path / "dkim" / "race.test").iterdir())) == 1


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
    registry: SendingDomains, store: MemoryStore, resolver: ZoneResolver
):
    signing = SigningKeys(store)
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


def test_static_keys_win_and_unreadable_key_files_are_skipped(
    registry: SendingDomains, store: MemoryStore, resolver: ZoneResolver
):
    static_pem, static_txt = generate_key("rsa", 1024)
    static = DkimKey("example.com", "static", static_pem, "rsa-sha256")
    resolver.set("static._domainkey.example.com", "TXT", [static_txt])
    signing = SigningKeys(store, [static])
    assert signing.signer() is not None and signing.is_verified("example.com")
    for name in ("example.com", "broken.test"):
        record = run(registry.create(name, key_bits=1024))
        assert record.key is not None
        publish(resolver, record.key.selector, name, record.key.public)
        run(registry.verify(name))
    broken = run(registry.get("broken.test"))
    assert broken.key is not None
    Path(broken.key.key_file).write_bytes(b"not a key")
    signer = run(signing.refresh())
    assert signer is not None
    assert [k.selector for k in signer.keys_for("example.com")] == ["static"]
    assert signer.keys_for("broken.test") == ()
    signed = signing.sign(MESSAGE)
    assert b"s=static" in signed and _dkim_verifies(signed, resolver)
