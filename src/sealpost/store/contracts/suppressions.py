"""The contract for the suppression list (``model.suppression``): a typed table keyed by
(recipient, type), read on every transmission and SMTP injection and written by the API and
by the bounce rule, so it stays fast with a million entries (a primary-key lookup per
recipient; a search walks the key in order).

Recipients are stored as ``model.suppression.recipient_key`` makes them; callers normalise
the addresses they pass (``suppressed_among`` normalises for them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sealpost.model.suppression import Suppression, SuppressionQuery, SuppressionType


class SuppressionList(Protocol):
    async def put_suppressions(
        self, entries: Sequence[Suppression], *, keep_existing: bool = False
    ) -> None:
        """Create or update every entry in one transaction (all or nothing). An update keeps
        the stored ``created`` and takes ``source``, ``description`` and ``updated`` from the
        entry; with ``keep_existing`` an entry whose key is stored already is left as it is
        (the bounce rule never overwrites what an operator wrote). A key given twice: the last
        one wins."""

    async def suppressions_of(self, recipient: str) -> list[Suppression]:
        """The entries of one (normalised) recipient, ordered by type."""

    async def delete_suppressions(self, recipient: str, type: SuppressionType | None = None) -> int:
        """Remove the recipient's entry of ``type``, or both when None; how many went."""

    async def search_suppressions(self, query: SuppressionQuery) -> list[Suppression]:
        """Entries matching every filter of ``query``, ordered by (recipient, type), past
        ``query.after``, at most ``query.limit``."""

    async def count_suppressions(self, query: SuppressionQuery) -> int:
        """How many entries match, ignoring ``after`` and ``limit``."""

    async def suppressed_among(self, recipients: Sequence[str], type: SuppressionType) -> set[str]:
        """Which of ``recipients`` have an entry of ``type``, as normalised keys."""
