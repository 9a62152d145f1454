"""The contract for the private DKIM keys of sending domains, kept in the store so that every
node of a cluster signs with them (docs/cluster.md).

A key is stored by signing domain and selector (the ``d=`` and ``s=`` of RFC 6376 section
3.5) as an opaque sealed blob: the store never sees key material in clear. Sealing and
unsealing (AES-256-GCM under the cluster's key-encryption key) is ``dkim.sealing``'s
business. Domains and selectors are stored as given: callers normalise them (lower case, no
trailing dot).
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

    async def delete_dkim_key(self, domain: str, selector: str) -> bool:
        """Forget the key of ``selector`` for ``domain``; False when there was none."""
