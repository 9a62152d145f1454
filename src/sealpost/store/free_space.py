"""The queue's free disk space, watched against ``[store] min_free`` (Postfix ``queue_minfree``).

New mail needs room; so do the writes that follow it (delivery attempts, DSN bounces, events,
lease releases). When the file system of a SQLite queue has less than ``min_free`` left, new
mail is refused before it is received (``452 4.3.1 Insufficient system storage`` at MAIL, RFC
5321 section 4.2.2 / RFC 3463 X.3.1; ``503`` on the API) and the rest of the reserve is left
to the work already accepted. ``SpaceWatch`` looks at the file system with one ``statvfs``
per ``interval`` (1 s) from its own task, never per command: readers only read ``low``.

It logs one line when the space goes under the limit and one when it comes back. A PostgreSQL
or memory store has no local file to watch (``SpaceWatch.none()``): the database server's
disk is the database administrator's to watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sealpost.store.contracts import Store
from sealpost.store.errors import DamagedStore, StoreError

log = logging.getLogger("sealpost")


@dataclass(frozen=True, slots=True)
class MinFree:
    """``bytes`` when set, else ``percent`` of the file system's size; 0 turns the check off."""

    bytes: int = 0
    percent: float = 0.0

    def threshold(self, total: int) -> int:
        if self.percent:
            return int(total * self.percent / 100)
        return self.bytes

    def __str__(self) -> str:
        return f"{self.percent:g}%" if self.percent else f"{self.bytes} bytes"


@dataclass(frozen=True, slots=True)
class Space:
    free: int  # bytes an unprivileged writer may still use (f_bavail)
    total: int


def measure(directory: Path) -> Space:
    """The free and total bytes of the file system holding ``directory``."""
    st = os.statvfs(directory)
    return Space(st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)


def existing_parent(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (the queue directory may not yet)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


class SpaceWatch:
    """The last verdict on the queue's file system; ``check`` refreshes it."""

    def __init__(
        self,
        directory: Path | None,
        min_free: MinFree,
        *,
        interval: float = 1.0,
        quiet: bool = False,
    ) -> None:
        self.directory = directory
        self.min_free = min_free
        self.interval = interval
        self.quiet = quiet  # one process of several logs the transitions (the primary)
        self.low = False
        self.space: Space | None = None

    @classmethod
    def none(cls) -> SpaceWatch:
        """No local queue file: nothing to watch, never low."""
        return cls(None, MinFree())

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    @property
    def free_bytes(self) -> int | None:
        return None if self.space is None else self.space.free

    @property
    def min_free_bytes(self) -> int | None:
        return None if self.space is None else self.min_free.threshold(self.space.total)

    def check(self) -> bool:
        """Measure now; ``low`` afterwards. A failed ``statvfs`` keeps the last verdict."""
        if self.directory is None:
            return False
        try:
            space = measure(existing_parent(self.directory))
        except OSError as exc:
            log.warning("cannot measure the free space of %s: %s", self.directory, exc)
            return self.low
        self.space = space
        low = space.free < self.min_free.threshold(space.total)
        if low != self.low and not self.quiet:
            if low:
                log.warning("%s", self.advice())
            else:
                log.warning(
                    "free space is back on the queue's file system (%s: %d bytes free): "
                    "accepting new mail again",
                    self.directory,
                    space.free,
                )
        self.low = low
        return low

    def advice(self) -> str:
        free = self.space.free if self.space else 0
        return (
            f"the queue's file system is nearly full ({self.directory}: {free} bytes free, "
            f"[store] min_free is {self.min_free}): new mail is refused with 452 4.3.1 "
            "until space is freed; deliveries, bounces and events go on in the reserve"
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Measure every ``interval`` seconds until ``stop`` (off the event loop's thread: a
        stalled network file system must not stall the server)."""
        if self.directory is None:
            return
        while not stop.is_set():
            await asyncio.to_thread(self.check)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)


ROOM_TO_OPEN = 1024 * 1024  # under this, SQLite may fail to make its -shm and -wal files
RETRY_OPEN = 2.0


async def open_when_room(store: Store, space: SpaceWatch, retry: float = RETRY_OPEN) -> None:
    """``store.open()``; when it fails on a full file system, say so in one line and try
    again every ``retry`` seconds until space comes back (no traceback, no crash loop)."""
    waiting = False
    while True:
        try:
            await store.open()
        except DamagedStore:
            raise  # no amount of space repairs it
        except StoreError as exc:
            full = space.enabled and (
                space.check() or (space.space is not None and space.space.free < ROOM_TO_OPEN)
            )
            if not full:
                raise
            if not waiting:
                log.error(
                    "cannot open the queue (%s): its file system %s has %d bytes free; "
                    "waiting for space, trying again every %g s",
                    exc,
                    space.directory,
                    space.free_bytes or 0,
                    retry,
                )
                waiting = True
            await asyncio.sleep(retry)
            continue
        if waiting:
            log.warning("the queue is open: space came back on %s", space.directory)
        return
