"""The sending domains' sealed DKIM keys in memory (``contracts.dkim_keys``): one dict by
(domain, selector). Nothing survives the process, as with the rest of this backend."""

from __future__ import annotations


class MemoryDkimKeys:
    """``DkimKeyStore``."""

    def __init__(self) -> None:
        self._dkim_keys: dict[tuple[str, str], bytes] = {}

    async def put_dkim_key(self, domain: str, selector: str, sealed: bytes, now: float) -> None:
        self._dkim_keys[(domain, selector)] = bytes(sealed)

    async def dkim_key(self, domain: str, selector: str) -> bytes | None:
        return self._dkim_keys.get((domain, selector))

    async def dkim_keys(self) -> dict[tuple[str, str], bytes]:
        return dict(sorted(self._dkim_keys.items()))

    async def replace_dkim_key(
        self, domain: str, selector: str, old_sealed: bytes, new_sealed: bytes
    ) -> bool:
        if self._dkim_keys.get((domain, selector)) != bytes(old_sealed):
            return False
        self._dkim_keys[(domain, selector)] = bytes(new_sealed)
        return True

    async def delete_dkim_key(self, domain: str, selector: str) -> bool:
        return self._dkim_keys.pop((domain, selector), None) is not None
