"""The DKIM signer of the moment: the config's static keys plus the verified sending domains.

``refresh()`` reads every sending-domain record, keeps the VERIFIED ones (DKIM valid or
ownership verified), opens their private keys from the store (sealed under the cluster's
key-encryption key, ``dkim.sealing``, with any key of the node's ``dkim.keyring``) and swaps
in a new ``DkimSigner`` built from them and the ``[[dkim.keys]]`` of the config. It is
called at start and after every change to a sending domain, made through any node
(``change_follower``), so every node signs with the same keys; between refreshes
``signer()`` returns the same object, so signing a message never touches the store or the
disk. A record of an earlier version whose key is not in the store
yet (``domains.key_import`` moves them at start) is signed for with its key file.

A config key wins over a sending-domain key for the same domain and algorithm (the operator's
file is the stronger statement; ``DkimSigner`` takes one key per domain and algorithm). A
domain whose key cannot be opened (another node's key-encryption key, most likely: the error
names ``[dkim] key_encryption_key_file``) or whose key file cannot be read is left out
(logged, without key material) and the other domains are still signed for. RFC 6376
section 5.4: the From field is always signed (``DkimSigner``).

The API refreshes the signer of its own process after a change; every other process (worker
or node) rebuilds its own when its ``change_follower`` sees the change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from sealpost.dkim.keyring import PREVIOUS_OPTION, Keyring
from sealpost.dkim.keys import DkimAlgorithm, DkimKey, DkimKeyError, algorithm_of, load_key
from sealpost.dkim.sealing import OPTION, SealingError
from sealpost.dkim.signer import DkimSigner
from sealpost.domains.records import KIND, SendingDomain
from sealpost.store.contracts.dkim_keys import DkimKeyStore
from sealpost.store.contracts.documents import DocumentStore


class KeySource(DocumentStore, DkimKeyStore, Protocol):
    """The sending-domain records and their sealed keys."""


log = logging.getLogger("sealpost.domains")


class SigningKeys:
    """Holds the current signer; see the module docstring."""

    def __init__(
        self,
        store: KeySource,
        static_keys: Sequence[DkimKey] = (),
        secret: Keyring | None = None,
    ) -> None:
        self._store = store
        self._secret = secret
        self._static = tuple(static_keys)
        self._signer: DkimSigner | None = DkimSigner(self._static) if self._static else None
        self._verified: frozenset[str] = frozenset(k.domain for k in self._static)
        self._lock = asyncio.Lock()

    def signer(self) -> DkimSigner | None:
        """The signer to use now; None when no key is known."""
        return self._signer

    def sign(self, data: bytes, domains: frozenset[str] | None = None) -> bytes:
        """Sign with the current signer (so this object can stand where a DkimSigner does);
        ``domains`` limits the signing domains as ``DkimSigner.sign`` says."""
        signer = self._signer
        return signer.sign(data, domains) if signer is not None else data

    def verified_domains(self) -> frozenset[str]:
        """Verified sending domains and the domains of the config's keys, as of the last
        refresh."""
        return self._verified

    def is_verified(self, domain: str) -> bool:
        return domain.strip().rstrip(".").lower() in self._verified

    def replace_static(self, keys: Sequence[DkimKey]) -> None:
        """The config's ``[[dkim.keys]]`` as reloaded (SIGHUP): used from the next refresh."""
        self._static = tuple(keys)

    def open_with(self, secret: Keyring) -> None:
        """Open the stored keys with the keyring ``secret`` from the next refresh on (the
        node's start makes or reads it once the store is open; a SIGHUP may give the ring
        new keys, ``Keyring.adopt``)."""
        self._secret = secret

    @property
    def keyring(self) -> Keyring | None:
        """The keyring the stored keys are opened with (None before the node's start)."""
        return self._secret

    async def rekey(self, ring: Keyring) -> bool:
        """Take the key-encryption keys a SIGHUP re-read (``config_reload``), then refresh:
        only when every stored key opens with one of them, else one ERROR line and the keys
        stay as they were (a previous key dropped before ``sealpost dkim reseal`` ran would
        stop this node signing for those domains). The ring is adopted in place, so the API
        seals with the new current key too; True when taken."""
        try:
            sealed = await self._store.dkim_keys()
        except Exception as exc:
            log.error("DKIM key-encryption keys not reloaded: cannot read the store (%s)", exc)
            return False
        unknown = ring.unopened(sealed.values())
        if unknown:
            named = ", ".join(f"{i or '(not sealed)'} ({n} key(s))" for i, n in unknown.items())
            log.error(
                "DKIM key-encryption keys not reloaded, the running ones are kept: stored keys "
                "were sealed with key %s, in none of the files now configured (%s); name its "
                "file in %s until `sealpost dkim reseal` has run",
                named,
                ring.describe(),
                PREVIOUS_OPTION,
            )
            return False
        if self._secret is None:
            self._secret = ring
        else:
            self._secret.adopt(ring)
        log.info("DKIM key-encryption keys reloaded: %s", ring.describe())
        await self.refresh()
        return True

    async def refresh(self) -> DkimSigner | None:
        """Rebuild the signer from the store and the static keys; the new signer."""
        async with self._lock:
            try:
                documents = await self._store.list_documents(KIND)
                sealed = await self._store.dkim_keys()
            except Exception as exc:
                log.error("cannot read sending domains (%s); DKIM keys unchanged", exc)
                return self._signer
            records = []
            for document in documents:
                try:
                    records.append(SendingDomain.from_payload(document.payload))
                except (KeyError, TypeError, ValueError):
                    log.warning("sending domain %r: unreadable record, skipped", document.id)
            verified = [r for r in records if r.verified]
            keys = await asyncio.to_thread(self._load, verified, sealed)
            try:
                signer = DkimSigner(keys) if keys else None
            except DkimKeyError as exc:
                log.error("DKIM keys not usable (%s); signer unchanged", exc)
                return self._signer
            self._signer = signer
            self._verified = frozenset(
                [r.domain for r in verified] + [k.domain for k in self._static]
            )
            return signer

    def _open(self, record: SendingDomain, sealed: Mapping[tuple[str, str], bytes]) -> DkimKey:
        """The private key of ``record``: from the store, else its old key file."""
        assert record.key is not None
        domain, selector = record.key.signing_domain, record.key.selector
        blob = sealed.get((domain, selector))
        if blob is not None:
            if self._secret is None:
                raise DkimKeyError(f"no {OPTION} to open it with")
            try:
                pem = self._secret.unseal(domain, selector, blob)
            except SealingError as exc:
                raise DkimKeyError(str(exc)) from None
            return DkimKey(domain, selector, pem, algorithm_of(pem))
        if record.key.key_file:  # written by an earlier version, not imported yet
            return load_key(domain, selector, Path(record.key.key_file))
        raise DkimKeyError(f"no stored key for {selector}._domainkey.{domain}")

    def _load(
        self, verified: Sequence[SendingDomain], sealed: Mapping[tuple[str, str], bytes]
    ) -> list[DkimKey]:
        keys = list(self._static)
        taken: set[tuple[str, DkimAlgorithm]] = {(k.domain, k.algorithm) for k in keys}
        for record in verified:
            if record.key is None:
                continue
            try:
                key = self._open(record, sealed)
            except DkimKeyError as exc:
                log.error("sending domain %s: DKIM key not loaded: %s", record.domain, exc)
                continue
            if (key.domain, key.algorithm) in taken:
                log.warning(
                    "sending domain %s: a [[dkim.keys]] %s key of the config signs for it",
                    record.domain,
                    key.algorithm.value,
                )
                continue
            taken.add((key.domain, key.algorithm))
            keys.append(key)
        return keys
