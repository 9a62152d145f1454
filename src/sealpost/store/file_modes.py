"""Files that hold mail or secrets are private to the service user (DESIGN.md section 9).

The queue database, its WAL and shared-memory files hold message bodies, webhook
credentials and key hashes. They are created owner-only (files 0600, directories 0700)
whatever the umask; SQLite gives the ``-wal`` and ``-shm`` files the mode of the database
file, so creating that file private first is enough. Files made before this rule, or
loosened by hand, are reported (``loose_modes``) so the server can warn at start; they are
not changed behind the operator's back.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_GROUP_OR_OTHER = stat.S_IRWXG | stat.S_IRWXO


@dataclass(frozen=True, slots=True)
class LooseMode:
    """A file or directory that others than its owner may read or write."""

    path: Path
    mode: int

    def advice(self) -> str:
        want = PRIVATE_DIR if self.path.is_dir() else PRIVATE_FILE
        return (
            f"{self.path} is mode {self.mode:04o}: other users can read queued mail or "
            f"credentials; run `chmod {want:o} {self.path}`"
        )


def make_private_dirs(directory: Path) -> list[Path]:
    """Create ``directory`` and missing parents (0700); return those created, outermost first."""
    missing: list[Path] = []
    current = directory.absolute()
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        os.chmod(path, PRIVATE_DIR)  # mkdir's mode is filtered by the umask
    return list(reversed(missing))


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and owner-only if it does not exist (never truncates)."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def loose_modes(paths: Iterable[Path]) -> list[LooseMode]:
    """Those of ``paths`` that exist and grant anything to group or others."""
    found: list[LooseMode] = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & _GROUP_OR_OTHER:
            found.append(LooseMode(path, mode))
    return found


def queue_files(database: Path) -> list[Path]:
    """The database's directory, every file SQLite keeps for it, and the two locks."""
    suffixes = ("-wal", "-shm", "-writer.lock", "-open.lock")
    return [database.parent, database, *(Path(f"{database}{s}") for s in suffixes)]
