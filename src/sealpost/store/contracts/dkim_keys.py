"""The contract for the private DKIM keys of sending domains, kept in the store so that every
node of a cluster signs with them (docs/cluster.md).

A key is stored by signing domain and selector (the ``d=`` and ``s=`` of RFC 6376 section
3.5) as an opaque sealed blob: the store never sees key material in clear. Sealing and
unsealing (AES-256-GCM under the cluster's key-encryption key) is ``dkim.sealing``'s
business. Domains and selectors are stored as given: callers normalise them (lower case, no
trailing dot).

``replace_dkim_key`` is how a key is re-sealed under a new key-encryption key while servers
run (``sealpost dkim reseal``): a compare-and-set, so a key changed through the API between
the read and the write is never overwritten with the older one.
"""

from __future__ import annotations

from typing import Protocol


class DkimKeyStore(Protocol):
    async def put_dkim_key(self, domain: str, selector: str, sealed: bytes, now: float) -> None:
        """Keep ``sealed`` as the key of ``selector`` for ``domain``, replacing one there."""

    async def dkim_key(self, domain: str, selector: str) -> bytes | None:
        """The sealed key of ``selector`` for ``domain``, or None."""

    async def dkim_keys(self) -> dict[tuple[str, str], bytes]:
        """Every sealed key, by ``(domain, selector)``."""

    async def replace_dkim_key(
        self, domain: str, selector: str, old_sealed: bytes, new_sealed: bytes
    ) -> bool:
        """Put ``new_sealed`` in place of the key of ``selector`` for ``domain`` only when the
        stored one is still ``old_sealed`` byte for byte (compare-and-set: a key another
        node or process replaced or deleted meanwhile is left as it is); True when replaced.
        The row keeps its ``created_at``: the key is the same, only its seal changed."""

    async def delete_dkim_key(self, domain: str, selector: str) -> bool:
        """Forget the key of ``selector`` for ``domain``; False when there was none."""
