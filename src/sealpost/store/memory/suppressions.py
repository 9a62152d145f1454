"""The suppression list in memory (``contracts.suppressions``): a dict by (recipient, type).
A search sorts the keys it matched, which is fine for the tests and development servers this
backend is for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sealpost.model.suppression import (
    Suppression,
    SuppressionQuery,
    SuppressionType,
    last_wins,
    recipient_key,
)


def matches(entry: Suppression, query: SuppressionQuery) -> bool:
    """Whether ``entry`` passes every filter of ``query`` but the cursor and the limit."""
    if query.updated_from is not None and entry.updated < query.updated_from:
        return False
    if query.updated_to is not None and entry.updated > query.updated_to:
        return False
    if query.types and entry.type not in query.types:
        return False
    if query.sources and entry.source not in query.sources:
        return False
    return query.domain is None or entry.recipient.rpartition("@")[2] == query.domain


class MemorySuppressions:
    """``SuppressionList``."""

    def __init__(self) -> None:
        self._suppressions: dict[tuple[str, str], Suppression] = {}

    async def put_suppressions(
        self, entries: Sequence[Suppression], *, keep_existing: bool = False
    ) -> None:
        for entry in last_wins(entries):
            old = self._suppressions.get(entry.key)
            if old is not None and keep_existing:
                continue
            self._suppressions[entry.key] = (
                entry if old is None else replace(entry, created=old.created)
            )

    async def suppressions_of(self, recipient: str) -> list[Suppression]:
        found = (self._suppressions.get((recipient, t.value)) for t in SuppressionType)
        return sorted((e for e in found if e is not None), key=lambda e: e.type.value)

    async def delete_suppressions(self, recipient: str, type: SuppressionType | None = None) -> int:
        types = [type] if type is not None else list(SuppressionType)
        gone = [self._suppressions.pop((recipient, t.value), None) for t in types]
        return sum(1 for e in gone if e is not None)

    async def search_suppressions(self, query: SuppressionQuery) -> list[Suppression]:
        keys = sorted(
            k
            for k, e in self._suppressions.items()
            if (query.after is None or k > query.after) and matches(e, query)
        )
        return [self._suppressions[k] for k in keys[: query.limit]]

    async def count_suppressions(self, query: SuppressionQuery) -> int:
        return sum(1 for e in self._suppressions.values() if matches(e, query))

    async def suppressed_among(self, recipients: Sequence[str], type: SuppressionType) -> set[str]:
        keys = {recipient_key(r) for r in recipients}
        return {k for k in keys if (k, type.value) in self._suppressions}
