"""The memory backend: ``queue`` (on ``events`` and ``records``) and ``webhook_state``,
joined by ``store.MemoryStore``. Nothing survives the process."""

from __future__ import annotations

from sealpost.store.memory.store import MemoryStore

__all__ = ["MemoryStore"]
