"""What a store raises: every backend raises these and nothing else for storage failures."""

from __future__ import annotations


class StoreError(Exception):
    """The store could not do what was asked (disk full, I/O error, corrupt data)."""


class DuplicateError(StoreError):
    """A message or API key with this id is already stored; nothing was written."""


class LeaseLostError(StoreError):
    """The claim's lease token no longer matches: another worker holds the message now."""
