"""Rotating the key-encryption key: which key seals each stored DKIM key, and sealing them
all again with the current one (``sealpost dkim reseal``, ``sealpost dkim kek-status``).

``kek_status`` counts the store's sealed keys by the id of the key-encryption key that
sealed them (``sealing.sealed_with``) and says what each id is to this node's keyring:
current, previous (opens, but should be re-sealed) or unknown (opens nowhere here). Every
key of the ring is listed, with 0 when it sealed nothing: a previous key at 0 is one the
operator may drop from ``[dkim] previous_key_encryption_key_files``.

``reseal`` opens each key not sealed with the current key (with any key of the ring) and
stores it sealed with the current one, through ``replace_dkim_key``, a compare-and-set: it
is safe while servers run and their APIs add, replace or delete keys, and while another
``reseal`` runs on another node. A key changed meanwhile is read again and handled as it is
now (up to ``ATTEMPTS`` times); a key deleted meanwhile is counted as gone. A key that opens
with no key of the ring is counted as failed, with the reason (ids and files, never key
material), and the others are still re-sealed. ``dry_run`` opens and counts, writes nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sealpost.dkim.keyring import Keyring, Role, sorted_ids
from sealpost.dkim.sealing import SealingError, sealed_with
from sealpost.store.contracts.dkim_keys import DkimKeyStore

ATTEMPTS = 3  # reads of one key before a reseal that keeps losing the race gives up


@dataclass(frozen=True, slots=True)
class KekCount:
    """The stored keys one key-encryption key sealed."""

    key_id: str | None  # None: blobs that are not sealed keys
    role: Role
    keys: int
    file: str | None = None  # the file of a key of this node's ring

    def to_json(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "role": self.role.value,
            "keys": self.keys,
            "file": self.file,
        }


@dataclass(frozen=True, slots=True)
class KekStatus:
    counts: tuple[KekCount, ...]

    @property
    def total(self) -> int:
        return sum(c.keys for c in self.counts)

    def of(self, role: Role) -> int:
        return sum(c.keys for c in self.counts if c.role is role)

    def to_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "current": self.of(Role.CURRENT),
            "previous": self.of(Role.PREVIOUS),
            "unknown": self.of(Role.UNKNOWN),
            "by_key": [c.to_json() for c in self.counts],
        }


async def kek_status(store: DkimKeyStore, ring: Keyring) -> KekStatus:
    """How many stored keys each key-encryption key sealed; see the module docstring."""
    counts = Counter(sealed_with(blob) for blob in (await store.dkim_keys()).values())
    rows = [
        KekCount(key.key_id, ring.role(key.key_id), counts.pop(key.key_id, 0), str(key.path))
        for key in (ring.current, *ring.previous)
    ]
    rows += [KekCount(i, Role.UNKNOWN, n) for i, n in sorted_ids(counts)]
    return KekStatus(tuple(rows))


@dataclass(frozen=True, slots=True)
class Failure:
    name: str  # selector._domainkey.domain
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"key": self.name, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ResealReport:
    """What one ``reseal`` did (or, with ``dry_run``, would do)."""

    key_id: str  # the current key: what every re-sealed key is sealed with now
    dry_run: bool
    resealed: tuple[str, ...] = ()
    already_current: int = 0
    gone: int = 0  # deleted while the reseal ran
    failed: tuple[Failure, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "dry_run": self.dry_run,
            "resealed": len(self.resealed),
            "already_current": self.already_current,
            "gone": self.gone,
            "failed": len(self.failed),
            "resealed_keys": list(self.resealed),
            "failures": [f.to_json() for f in self.failed],
        }


async def reseal(
    store: DkimKeyStore,
    ring: Keyring,
    *,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ResealReport:
    """Seal every stored key with ``ring``'s current key; see the module docstring."""
    resealed: list[str] = []
    failed: list[Failure] = []
    current = gone = 0
    for (domain, selector), blob in (await store.dkim_keys()).items():
        name = f"{selector}._domainkey.{domain}"
        outcome = await _reseal_one(store, ring, domain, selector, blob, dry_run=dry_run)
        if outcome == "current":
            current += 1
        elif outcome == "gone":
            gone += 1
        elif outcome == "resealed":
            resealed.append(name)
        else:
            failed.append(Failure(name, outcome))
        if progress is not None:
            progress(name)
    return ResealReport(ring.key_id, dry_run, tuple(resealed), current, gone, tuple(failed))


async def _reseal_one(
    store: DkimKeyStore, ring: Keyring, domain: str, selector: str, blob: bytes, *, dry_run: bool
) -> str:
    """ "current", "gone", "resealed", or why it failed."""
    for _ in range(ATTEMPTS):
        if ring.is_current(blob):
            return "current"
        try:
            pem = await asyncio.to_thread(ring.unseal, domain, selector, blob)
        except SealingError as exc:
            return str(exc)
        if dry_run:
            return "resealed"
        fresh = ring.seal(domain, selector, pem)
        if await store.replace_dkim_key(domain, selector, blob, fresh):
            return "resealed"
        now = await store.dkim_key(domain, selector)  # changed meanwhile: as it is now
        if now is None:
            return "gone"
        blob = now
    return f"changed {ATTEMPTS} times while being re-sealed; run `sealpost dkim reseal` again"
