"""The sending-domain registry: create, read, update, verify and delete, with their DKIM keys.

Creating a domain makes (or takes) its DKIM key, claims the name by adding the record
(``add_document``: atomic, so of two workers or nodes creating it at once one gets 409), then
stores the private key sealed under the cluster's key-encryption key (``dkim.sealing``; the
store's ``DkimKeyStore``, so every node signs with it); the response carries the public key
to publish (reference section 6). Verifying reads the key record through the Resolver
(``dkim_check``): a conclusive answer sets ``dkim_status`` and ``ownership_verified`` (DKIM is
the only ownership proof Sealpost checks), a DNS failure keeps the status and reports the
error.

Replacing a domain's key (``update``) checks the new key's record first, as SparkPost does
(400, code 1404 on failure). With a new selector this is a key rotation: the old selector's
key is forgotten once the record names the new one, and the other nodes sign with the new
key at their next refresh, within moments (keep the old DNS record published a few days for
mail in flight). Deleting a domain forgets its key. Writes of one process are serialised by
a lock; across processes a name is created once (above), and a key is forgotten after the
record that names it. A selector is refused when a key file of ``sealpost dkim generate`` has it
(``<data_dir>/dkim/<domain>/<selector>.key``), so a ``[[dkim.keys]]`` key is never
shadowed; records of earlier versions name such a file of their own, removed when the
record stops naming it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from sealpost.dkim import key_files as key_material
from sealpost.dkim.keyring import Keyring
from sealpost.dkim.keys import DkimKeyError, check_selector, key_path
from sealpost.dns.resolver import Resolver
from sealpost.domains.dkim_check import DkimCheck, check_dkim
from sealpost.domains.records import (
    KIND,
    DkimStatus,
    DnsReport,
    DomainKey,
    DomainNameError,
    SendingDomain,
    normalize_domain,
)
from sealpost.model.document import Document
from sealpost.store.contracts.dkim_keys import DkimKeyStore
from sealpost.store.contracts.documents import DocumentStore


class DomainStore(DocumentStore, DkimKeyStore, Protocol):
    """The records (documents) and the sealed private keys."""


class Problem(StrEnum):
    INVALID = "invalid"  # a field is wrong: 422
    DUPLICATE = "duplicate"  # the domain exists: 409
    NOT_FOUND = "not_found"  # 404
    KEY_CONFLICT = "key_conflict"  # a key file with that selector exists: 409
    DKIM_UNVERIFIED = "dkim_unverified"  # a replacement key is not published: 400 (1404)


class DomainError(Exception):
    def __init__(self, problem: Problem, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.problem = problem
        self.field = field
        self.detail = detail


@dataclass(frozen=True, slots=True)
class DkimInput:
    """A brought key (``private`` PEM or base64, ``public`` optional) or a selector to use."""

    private: str | None = None
    public: str | None = None
    selector: str | None = None
    signing_domain: str | None = None


class SendingDomains:
    def __init__(
        self,
        store: DomainStore,
        data_dir: Path,
        resolver: Resolver | None,
        secret: Keyring,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._secret = secret
        self._data_dir = Path(data_dir)
        self._resolver = resolver
        self._clock = clock
        self._lock = asyncio.Lock()

    # -- reading ---------------------------------------------------------------------------

    async def _find(self, name: str) -> SendingDomain | None:
        document = await self._store.get_document(KIND, name)
        return SendingDomain.from_payload(document.payload) if document else None

    async def get(self, domain: str) -> SendingDomain:
        try:
            name = normalize_domain(domain)
        except DomainNameError:
            raise DomainError(Problem.NOT_FOUND, "domain", domain) from None
        found = await self._find(name)
        if found is None:
            raise DomainError(Problem.NOT_FOUND, "domain", name)
        return found

    async def search(
        self, *, ownership_verified: bool | None = None, dkim_status: DkimStatus | None = None
    ) -> list[SendingDomain]:
        found = [
            SendingDomain.from_payload(d.payload) for d in await self._store.list_documents(KIND)
        ]
        return [
            d
            for d in found
            if (ownership_verified is None or d.ownership_verified == ownership_verified)
            and (dkim_status is None or d.dkim_status is dkim_status)
        ]

    # -- writing ---------------------------------------------------------------------------

    def _document(self, record: SendingDomain) -> Document:
        return Document(KIND, record.domain, record.to_payload(), self._clock())

    async def _put(self, record: SendingDomain) -> None:
        await self._store.put_document(self._document(record))

    def _names(self, domain: str, dkim: DkimInput | None) -> tuple[str, str | None]:
        try:
            name = normalize_domain(domain)
        except DomainNameError as exc:
            raise DomainError(Problem.INVALID, "domain", str(exc)) from None
        selector = None
        if dkim is not None and dkim.selector:
            try:
                selector = check_selector(dkim.selector)
            except DkimKeyError as exc:
                raise DomainError(Problem.INVALID, "dkim.selector", str(exc)) from None
        if dkim is not None and dkim.signing_domain:
            try:
                signing = normalize_domain(dkim.signing_domain)
            except DomainNameError as exc:
                raise DomainError(Problem.INVALID, "dkim.signing_domain", str(exc)) from None
            if signing != name:
                raise DomainError(
                    Problem.INVALID, "dkim.signing_domain", "must be the sending domain itself"
                )
        return name, selector

    @staticmethod
    async def _material(
        dkim: DkimInput | None, generate: bool, bits: int
    ) -> key_material.KeyMaterial | None:
        try:
            if dkim is not None and dkim.private:
                return key_material.from_private(dkim.private, dkim.public)
            if dkim is not None and dkim.public:
                raise DomainError(Problem.INVALID, "dkim.private", "required with dkim.public")
            if not generate:
                return None
            if bits not in key_material.ALLOWED_BITS:  # refused before the slow part
                raise DomainError(
                    Problem.INVALID,
                    "dkim_key_length",
                    f"must be one of {key_material.ALLOWED_BITS}",
                )
            return await asyncio.to_thread(key_material.generate, bits)
        except key_material.KeyMaterialError as exc:
            raise DomainError(Problem.INVALID, exc.field, exc.why) from None

    def _free_selector(self, name: str, selectors: list[str], own_file: str | None = None) -> str:
        """The first selector no ``sealpost dkim generate`` key file of another holds."""
        for selector in selectors:
            path = key_path(self._data_dir, name, selector)
            if not path.exists() or (own_file is not None and Path(own_file) == path):
                return selector
        raise DomainError(
            Problem.KEY_CONFLICT, "dkim.selector", f"a key file for {selectors[0]} exists already"
        )

    async def _store_key(self, name: str, selector: str, pem: bytes) -> None:
        sealed = self._secret.seal(name, selector, pem)
        await self._store.put_dkim_key(name, selector, sealed, self._clock())

    def _now_iso(self) -> str:
        return datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="seconds")

    async def create(
        self,
        domain: str,
        *,
        dkim: DkimInput | None = None,
        generate_dkim: bool = True,
        key_bits: int = 2048,
        tracking_domain: str | None = None,
        shared_with_subaccounts: bool = False,
    ) -> SendingDomain:
        name, selector = self._names(domain, dkim)
        if await self._find(name) is not None:
            raise DomainError(Problem.DUPLICATE, "domain", name)
        material = await self._material(dkim, generate_dkim, key_bits)
        async with self._lock:
            if await self._find(name) is not None:
                raise DomainError(Problem.DUPLICATE, "domain", name)
            key = None
            if material is not None:
                if selector is not None:
                    candidates = [selector]
                else:
                    base = key_material.default_selector(self._clock())
                    candidates = list(key_material.selector_candidates(base))
                key = DomainKey(self._free_selector(name, candidates), material.public, name)
            record = SendingDomain(
                domain=name,
                creation_time=self._now_iso(),
                key=key,
                tracking_domain=tracking_domain,
                shared_with_subaccounts=shared_with_subaccounts,
            )
            # The name is claimed in one atomic step: of two workers or nodes creating it at
            # once, one gets 409 and neither key overwrites the other. The new record is
            # unverified, so no signer looks for its key before it is stored just below.
            if not await self._store.add_document(self._document(record)):
                raise DomainError(Problem.DUPLICATE, "domain", name)
            if key is not None and material is not None:
                try:
                    await self._store_key(name, key.selector, material.private_pem)
                except BaseException:
                    await self._store.delete_document(KIND, name)
                    raise
        return record

    async def update(
        self,
        domain: str,
        *,
        dkim: DkimInput | None = None,
        tracking_domain: str | None = None,
        shared_with_subaccounts: bool | None = None,
        is_default_bounce_domain: bool | None = None,
    ) -> SendingDomain:
        """Change the given fields; a new ``dkim`` key must already be published in DNS."""
        current = await self.get(domain)
        name, selector = self._names(current.domain, dkim)
        material = None
        check: DkimCheck | None = None
        if dkim is not None:
            if not dkim.private:
                raise DomainError(Problem.INVALID, "dkim.private", "required to replace the key")
            material = await self._material(dkim, False, 2048)
            assert material is not None
            selector = selector or (current.key.selector if current.key else None)
            if selector is None:
                raise DomainError(Problem.INVALID, "dkim.selector", "required for a new key")
            check = await check_dkim(self._resolver, selector, name, material.public)
            if check.status is not DkimStatus.VALID:
                raise DomainError(Problem.DKIM_UNVERIFIED, "dkim", check.error or "not published")
        async with self._lock:
            record = await self._find(name)
            if record is None:
                raise DomainError(Problem.NOT_FOUND, "domain", name)
            old = record.key
            changes: dict[str, object] = {}
            if material is not None and selector is not None and check is not None:
                self._free_selector(name, [selector], old.key_file if old else None)
                await self._store_key(name, selector, material.private_pem)
                changes.update(
                    key=DomainKey(selector, material.public, name),
                    dkim_status=DkimStatus.VALID,
                    ownership_verified=True,
                    dns=DnsReport(check.record, None),
                )
            if tracking_domain is not None:
                changes["tracking_domain"] = tracking_domain
            if shared_with_subaccounts is not None:
                changes["shared_with_subaccounts"] = shared_with_subaccounts
            if is_default_bounce_domain is not None:
                changes["is_default_bounce_domain"] = is_default_bounce_domain
            updated = record.with_changes(**changes)
            await self._put(updated)
            if old is not None and updated.key is not None and updated.key != old:
                if old.selector != updated.key.selector:  # rotated: the old key is done
                    await self._store.delete_dkim_key(old.signing_domain, old.selector)
                if old.key_file:
                    await self._remove_key(old.key_file)
        return updated

    async def verify(self, domain: str, *, dkim: bool = True) -> SendingDomain:
        """Run the requested checks and store their outcome; the record as it is now."""
        current = await self.get(domain)
        if not dkim:
            return current
        key = current.key
        if key is None:
            check = DkimCheck(current.dkim_status, None, "this domain has no DKIM key", False)
        else:
            check = await check_dkim(self._resolver, key.selector, key.signing_domain, key.public)
        async with self._lock:
            record = await self._find(current.domain)
            if record is None:
                raise DomainError(Problem.NOT_FOUND, "domain", current.domain)
            if record.key != key:  # replaced while we asked DNS: that check is moot
                return record
            report = DnsReport(check.record, check.error)
            if check.conclusive:
                valid = check.status is DkimStatus.VALID
                record = record.with_changes(
                    dkim_status=check.status, ownership_verified=valid, dns=report
                )
            else:
                record = record.with_changes(dns=report)
            await self._put(record)
        return record

    async def delete(self, domain: str) -> None:
        current = await self.get(domain)
        async with self._lock:
            if not await self._store.delete_document(KIND, current.domain):
                raise DomainError(Problem.NOT_FOUND, "domain", current.domain)
            if current.key is not None:
                await self._store.delete_dkim_key(current.key.signing_domain, current.key.selector)
                if current.key.key_file:
                    await self._remove_key(current.key.key_file)

    async def _remove_key(self, key_file: str) -> None:
        await asyncio.to_thread(key_material.remove_key_file, self._data_dir, Path(key_file))
