"""What the metrics read of the memory backend (``contracts.gauges``). A scan of the dict:
fine for the tests and throw-away servers this backend serves. Nothing commits, so the
commit observer is kept but never called."""

from __future__ import annotations

from sealpost.model.queue_depth import QueueDepth
from sealpost.store.contracts.gauges import CommitObserver
from sealpost.store.memory.queue import MemoryQueue


class MemoryGauges(MemoryQueue):
    """``StoreGauges``."""

    _commit_observer: CommitObserver | None = None

    async def queue_depth(self) -> QueueDepth:
        queued = [e.stored for e in self._messages.values() if e.stored.state == "queued"]
        held = sum(1 for e in self._messages.values() if e.stored.state == "held")
        oldest = min((s.created_at for s in queued), default=None)
        return QueueDepth(len(queued), held, oldest)

    def observe_commits(self, observer: CommitObserver | None) -> None:
        self._commit_observer = observer
