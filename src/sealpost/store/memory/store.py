"""The memory backend: every store contract in dicts, for tests and ``url = "memory://"``.

Same contract as the durable backends (the conformance suite runs against both), except that
nothing survives the process: RFC 5321 section 6.1 durability is NOT provided, so this backend
is for tests and throw-away development servers only.
"""

from __future__ import annotations

from typing import Self

from sealpost.store.local_nodes import LocalNodes
from sealpost.store.local_slots import LocalDomainSlots
from sealpost.store.memory.dkim_keys import MemoryDkimKeys
from sealpost.store.memory.gauges import MemoryGauges
from sealpost.store.memory.queue import MemoryQueue
from sealpost.store.memory.queue_admin import MemoryQueueAdmin
from sealpost.store.memory.received_reports import MemoryReceivedReports
from sealpost.store.memory.retention import MemoryRetention
from sealpost.store.memory.suppressions import MemorySuppressions
from sealpost.store.memory.tallies import MemoryTallies
from sealpost.store.memory.tls_memory import MemoryTlsMemory
from sealpost.store.memory.webhook_state import MemoryWebhookState


class MemoryStore(
    MemoryGauges,
    MemoryRetention,
    MemoryQueueAdmin,
    MemoryQueue,
    MemoryTallies,
    MemoryWebhookState,
    MemoryTlsMemory,
    MemoryReceivedReports,
    MemorySuppressions,
    MemoryDkimKeys,
    LocalDomainSlots,
    LocalNodes,
):
    """What ``open_store("memory://")`` returns: the queue with its event stream and records
    (``memory.queue``, ``memory.events``, ``memory.records``) and the webhooks' delivery
    state (``memory.webhook_state``), the TLS memory (``memory.tls_memory``), the received
    TLS-RPT reports (``memory.received_reports``), the suppression list
    (``memory.suppressions``), the sending domains' sealed DKIM keys (``memory.dkim_keys``),
    the per-domain slots (``local_slots``), the running nodes (``local_nodes``) and the
    metrics' queue depth (``memory.gauges``); open and close do nothing."""

    def __init__(self) -> None:
        MemoryQueueAdmin.__init__(self)
        MemoryWebhookState.__init__(self)
        MemoryTlsMemory.__init__(self)
        MemoryReceivedReports.__init__(self)
        MemorySuppressions.__init__(self)
        MemoryDkimKeys.__init__(self)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def migrate(self) -> tuple[int, int]:
        return (0, 0)  # nothing is kept, so there is no schema to bring up to date

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
