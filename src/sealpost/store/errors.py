"""What a store raises: every backend raises these and nothing else for storage failures."""

from __future__ import annotations

from pathlib import Path


class StoreError(Exception):
    """The store could not do what was asked (disk full, I/O error, corrupt data)."""


class DuplicateError(StoreError):
    """A message or API key with this id is already stored; nothing was written."""


class LeaseLostError(StoreError):
    """The claim's lease token no longer matches: another worker holds the message now."""


class DamagedStore(StoreError):
    """The queue file is damaged: the message says which, what and what to do."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" * (len(problems) > 3))
        super().__init__(
            f"the queue database {path} is damaged: {shown}. Nothing was repaired and the "
            "server will not run on it. Stop every sealpost process using it, then either "
            "restore the last good backup (sealpost store restore BACKUP_FILE), or copy what "
            "can still be read into a new file (sealpost store salvage NEW_FILE, which lists "
            "what was lost) and restore that. sealpost store check prints the full report."
        )
