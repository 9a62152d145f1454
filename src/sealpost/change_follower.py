"""Following the settings another node or process changed: what this process keeps in memory
from the store is rebuilt, without a restart, within ``CHECK_INTERVAL`` seconds of the change.

What a process keeps: the DKIM signer built from the verified sending domains
(``domains.signers.SigningKeys``) and, on the node's primary process, the webhook worker's
wait between looks (``webhooks.worker``). Nothing else is kept: API keys, templates and the
webhooks' own definitions are read from the store where they are used, so a change (a
revoked API key above all) holds on every node at its next use.

``ChangeFollower.run`` waits on the store's ``wait_for_config_change`` (PostgreSQL: a
``NOTIFY sealpost_config`` from whichever node wrote, within a moment of the COMMIT), and at
most ``CHECK_INTERVAL`` seconds at a time; after each wait it also compares the store's
``config_fingerprints`` with those it saw last, which catches a lost notification (a LISTEN
connection that dropped) and, on SQLite, the writes of the node's other worker processes and
of the CLI. For every kind that changed it awaits the refresh registered for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from sealpost.store.contracts.config_changes import ConfigChanges, Fingerprint
from sealpost.store.errors import StoreError

log = logging.getLogger("sealpost.changes")

CHECK_INTERVAL = 5.0  # seconds: the bound on noticing a change no notification told of

Refresh = Callable[[], Awaitable[object]]


class ChangeFollower:
    """Calls ``refreshes[kind]`` after a document of ``kind`` changed anywhere."""

    def __init__(
        self,
        store: ConfigChanges,
        refreshes: Mapping[str, Refresh],
        check_interval: float = CHECK_INTERVAL,
    ) -> None:
        self._store = store
        self._refreshes = dict(refreshes)
        self._interval = check_interval
        self._seen: dict[str, Fingerprint] | None = None
        self._failing = False
        self.refreshed: dict[str, int] = dict.fromkeys(self._refreshes, 0)

    def follow(self, kind: str, refresh: Refresh) -> None:
        """Also call ``refresh`` after ``kind`` changed (a part started after the follower)."""
        self._refreshes[kind] = refresh
        self.refreshed.setdefault(kind, 0)

    async def prime(self) -> None:
        """Start listening and note the fingerprints as they are, before the caller first
        reads what it keeps: a change made after this is then never missed."""
        try:
            await self._store.wait_for_config_change(0)
            self._seen = await self._store.config_fingerprints()
        except StoreError as exc:
            log.warning("cannot read the settings' fingerprints yet (%s); will retry", exc)

    async def run(self, stop: asyncio.Event) -> None:
        """Follow changes until ``stop`` is set (or the task is cancelled)."""
        while not stop.is_set():
            await self.step()

    async def step(self) -> frozenset[str]:
        """Wait for a change (at most ``check_interval``), refresh what changed; the kinds
        refreshed."""
        try:
            told = await self._store.wait_for_config_change(self._interval)
            now = await self._store.config_fingerprints()
        except StoreError as exc:
            if not self._failing:
                log.warning("cannot look for changed settings (%s); trying again", exc)
            self._failing = True
            await asyncio.sleep(self._interval)
            return frozenset()
        if self._failing:
            log.info("looking for changed settings again")
            self._failing = False
        seen, self._seen = self._seen, now
        changed = set(told)
        if seen is None:  # never primed: the first look may have missed anything
            changed |= now.keys()
        else:
            changed |= {kind for kind, mark in now.items() if seen.get(kind) != mark}
        done = frozenset(changed & self._refreshes.keys())
        for kind in sorted(done):
            try:
                await self._refreshes[kind]()
            except Exception:
                log.exception("refreshing after a change to the %s settings failed", kind)
                now[kind] = Fingerprint(-1, -1)  # not what the store has: try again next step
            self.refreshed[kind] += 1
        return done
