"""The contract for remembering that a message's sender was told of its delay, so the
notice (RFC 3464 ``delayed``) goes out once per message, not once per attempt."""

from __future__ import annotations

from typing import Protocol


class DelayNotices(Protocol):
    async def delay_notice_sent(self, message_id: str) -> bool:
        """Whether a delay notice was recorded for ``message_id``."""

    async def record_delay_notice(self, message_id: str, sent_at: float) -> None:
        """Remember that a delay notice for ``message_id`` was sent at ``sent_at``."""
