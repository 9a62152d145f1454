"""The node's key-encryption keys as a keyring: the current one seals, every one opens.

``[dkim] key_encryption_key_file`` is the current key: every key sealed from now on
(``seal``) is sealed with it. ``[dkim] previous_key_encryption_key_files`` are keys an
operator rotated away from: they still open what they sealed (``unseal``), until
``sealpost dkim reseal`` has sealed every stored key again with the current one and
``sealpost dkim kek-status`` counts none under their ids (docs/cluster.md, "Rotating the
key-encryption key"). The key that sealed a blob is named in it (``sealing.sealed_with``,
the 8-byte head of a SHA-256 of the key), so opening picks the key by id rather than trying
each one, and a blob no key of the ring sealed is told apart from one that was altered.

A ``Keyring`` is shared by the parts that seal and open (the API's sending domains, the
signer); ``adopt`` swaps in a ring re-read on SIGHUP (``config_reload``) for all of them at
once (one attribute assignment, so a thread opening keys sees the old ring or the new one,
never half of each). Nothing here logs or returns key material: ids and paths only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sealpost.dkim.sealing import OPTION, KeySecret, SealingError, load_secret, seal, sealed_with
from sealpost.dkim.sealing import unseal as unseal_with

PREVIOUS_OPTION = "[dkim] previous_key_encryption_key_files"


class Role(StrEnum):
    """What a key-encryption key id is to this node."""

    CURRENT = "current"  # seals new keys and opens
    PREVIOUS = "previous"  # opens only
    UNKNOWN = "unknown"  # not in this node's keyring: what it sealed does not open here


@dataclass(frozen=True, slots=True)
class _Keys:
    current: KeySecret
    previous: tuple[KeySecret, ...]


class Keyring:
    """The current key-encryption key and the previous ones; see the module docstring."""

    def __init__(self, current: KeySecret, previous: Sequence[KeySecret] = ()) -> None:
        self._keys = _keys(current, previous)

    @property
    def current(self) -> KeySecret:
        return self._keys.current

    @property
    def previous(self) -> tuple[KeySecret, ...]:
        """The previous keys, without repeats and without the current one."""
        return self._keys.previous

    @property
    def key_id(self) -> str:
        """The current key's id (what new seals carry)."""
        return self._keys.current.key_id

    def ids(self) -> tuple[str, ...]:
        """Every key id of the ring, the current one first."""
        keys = self._keys
        return (keys.current.key_id, *(k.key_id for k in keys.previous))

    def role(self, key_id: str | None) -> Role:
        keys = self._keys
        if key_id == keys.current.key_id:
            return Role.CURRENT
        if any(k.key_id == key_id for k in keys.previous):
            return Role.PREVIOUS
        return Role.UNKNOWN

    def secret_for(self, key_id: str | None) -> KeySecret | None:
        """The key of the ring with ``key_id``, or None."""
        keys = self._keys
        return next((k for k in (keys.current, *keys.previous) if k.key_id == key_id), None)

    def describe(self) -> str:
        """The ring for messages: ids and files, never key material."""
        keys = self._keys
        parts = [f"current {keys.current.key_id} ({OPTION} {keys.current.path})"]
        parts += [f"previous {k.key_id} ({PREVIOUS_OPTION}: {k.path})" for k in keys.previous]
        return ", ".join(parts)

    def unopened(self, sealed: Iterable[bytes]) -> dict[str | None, int]:
        """How many of the blobs ``sealed`` no key of the ring opens, by the key id each
        names (None: not a sealed key), ids in order, None last."""
        counts = Counter(sealed_with(blob) for blob in sealed)
        return {i: n for i, n in sorted_ids(counts) if self.role(i) is Role.UNKNOWN}

    def same_as(self, other: Keyring) -> bool:
        """True when ``other`` holds the same keys from the same files, in the same roles."""
        mine, theirs = self._keys, other._keys
        return [(k.key_id, k.path) for k in (mine.current, *mine.previous)] == [
            (k.key_id, k.path) for k in (theirs.current, *theirs.previous)
        ]

    def seal(self, domain: str, selector: str, pem: bytes) -> bytes:
        """``pem`` sealed for ``selector._domainkey.domain`` with the current key."""
        return seal(self._keys.current, domain, selector, pem)

    def is_current(self, sealed: bytes) -> bool:
        """True when ``sealed`` was sealed with the current key."""
        return sealed_with(sealed) == self._keys.current.key_id

    def unseal(self, domain: str, selector: str, sealed: bytes) -> bytes:
        """The PEM sealed for ``selector._domainkey.domain`` by any key of the ring, or
        SealingError saying which key sealed it and which keys this node has."""
        key_id = sealed_with(sealed)
        secret = self.secret_for(key_id)
        if secret is None:
            name = f"{selector}._domainkey.{domain}"
            if key_id is None:
                raise SealingError(f"the stored DKIM key of {name} is not a sealed key")
            raise SealingError(
                f"the stored DKIM key of {name} was sealed with key-encryption key {key_id}, "
                f"which is in none of this node's key files ({self.describe()}): every node "
                f"of a cluster needs the same files; add the file of key {key_id} to "
                f"{PREVIOUS_OPTION}"
            )
        return unseal_with(secret, domain, selector, sealed)

    def adopt(self, other: Keyring) -> None:
        """Take ``other``'s keys (a SIGHUP re-read them): every holder of this ring sees them."""
        self._keys = other._keys

    def __repr__(self) -> str:  # ids only: a ring in a log line or traceback shows no key
        return f"Keyring({self.describe()})"


def sorted_ids(counts: Mapping[str | None, int]) -> list[tuple[str | None, int]]:
    """``counts`` by key id in order, the unsealed (None) last."""
    return sorted(counts.items(), key=lambda item: (item[0] is None, item[0] or ""))


def _keys(current: KeySecret, previous: Sequence[KeySecret]) -> _Keys:
    seen = {current.key_id}
    kept: list[KeySecret] = []
    for key in previous:
        if key.key_id not in seen:  # the current key listed as previous too: once is enough
            seen.add(key.key_id)
            kept.append(key)
    return _Keys(current, tuple(kept))


def load_keyring(current: Path, previous: Sequence[Path] = ()) -> Keyring:
    """The ring of the key files ``current`` and ``previous``; SealingError naming the option
    and the file of the first one that cannot be read."""
    return Keyring(
        load_secret(current, OPTION), [load_secret(p, PREVIOUS_OPTION) for p in previous]
    )
