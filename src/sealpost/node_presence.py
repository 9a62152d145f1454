"""This node's entry in the store's registry of running nodes (``contracts.nodes``): the
check that ``[cluster] node_id`` is unique among running nodes (docs/cluster.md).

A lease carries the node id, and a node that starts releases every lease under its id
(they are its previous run's). Two live nodes with one id would release each other's
leases and deliver the same mail twice, so at start the node's first process registers
its id with a random instance token, its host and pid; while another instance holds the id
with a heartbeat fresher than ``STALE_AFTER`` seconds, the node refuses to start
(``NodeIdInUse``, one clear error). A holder on this same host whose pid is gone is a
previous run killed without a clean stop: it is replaced at once, so a node restarted
after ``kill -9`` does not wait. While it runs the node renews its heartbeat every
``HEARTBEAT_INTERVAL`` seconds, and a clean stop unregisters it.

The entry also carries the ids of the key-encryption keys the node's keyring holds (current
first), read again at each heartbeat, so a key a SIGHUP added shows within one heartbeat:
``sealpost dkim reseal`` checks that every live node holds the current one
(``domains.kek_nodes``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable

from sealpost.model.node import NodeRecord
from sealpost.store.contracts.nodes import NodeRegistry
from sealpost.store.errors import StoreError

log = logging.getLogger("sealpost.cluster")

HEARTBEAT_INTERVAL = 10.0
STALE_AFTER = 30.0  # three missed heartbeats: the holder is taken to be dead


class NodeIdInUse(Exception):
    """Another running node holds this node's ``[cluster] node_id``."""


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


class NodePresence:
    def __init__(
        self,
        registry: NodeRegistry,
        node_id: str,
        *,
        clock: Callable[[], float] = time.time,
        host: str | None = None,
        pid: int | None = None,
        alive: Callable[[int], bool] = pid_alive,
        interval: float | None = None,  # HEARTBEAT_INTERVAL, read at construction
        stale_after: float = STALE_AFTER,
        kek_ids: Callable[[], tuple[str, ...]] = tuple,
    ) -> None:
        self._registry = registry
        self._clock = clock
        self._alive = alive
        self._interval = HEARTBEAT_INTERVAL if interval is None else interval
        self._stale_after = stale_after
        self._kek_ids = kek_ids
        now = clock()
        self.me = NodeRecord(
            node_id,
            secrets.token_hex(8),
            host or socket.gethostname(),
            pid or os.getpid(),
            now,
            now,
        )

    async def claim(self) -> None:
        """Register this node, or raise ``NodeIdInUse`` naming the live holder of the id."""
        now = self._clock()
        self.me = me = dataclasses.replace(
            self.me, started_at=now, heartbeat_at=now, kek_ids=self._kek_ids()
        )
        held = await self._registry.register_node(me, self._stale_after)
        if held is None:
            return
        if held.host == me.host and (held.pid == me.pid or not self._alive(held.pid)):
            log.info("node %s: replacing its previous run (pid %d, gone)", me.node_id, held.pid)
            held = await self._registry.register_node(me, self._stale_after, held.instance)
            if held is None:
                return
        age = max(0.0, now - held.heartbeat_at)
        raise NodeIdInUse(
            f"[cluster] node_id {me.node_id!r} is in use by a running node (host {held.host}, "
            f"pid {held.pid}, last heartbeat {age:.0f} s ago): give each node its own node_id "
            f"(docs/cluster.md). If that node is gone, this one can start once its heartbeat "
            f"is {self._stale_after:.0f} s old."
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Renew the heartbeat until ``stop`` is set."""
        while True:
            try:
                await asyncio.wait_for(stop.wait(), self._interval)
                return
            except TimeoutError:
                pass
            try:
                if not await self._registry.node_heartbeat(
                    self.me.node_id, self.me.instance, self._clock(), self._kek_ids()
                ):
                    log.error(
                        "node %s: another node took this node_id over (this node's heartbeat "
                        "was late); give each node its own node_id",
                        self.me.node_id,
                    )
            except StoreError as exc:
                log.warning("node %s: heartbeat not renewed: %s", self.me.node_id, exc)

    async def release(self) -> None:
        """Unregister at a clean stop; a store error is logged (the entry goes stale)."""
        try:
            await self._registry.unregister_node(self.me.node_id, self.me.instance)
        except StoreError as exc:
            log.warning("node %s: not unregistered: %s", self.me.node_id, exc)
