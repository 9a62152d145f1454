"""The contract for noticing that the API's shared settings changed, so that what a process
keeps in memory from the store (the DKIM signer built from the sending domains, the webhook
worker's view of the webhooks) follows a change made by any node or process, without a
restart.

Two parts, because a notification is a hint and may be lost:

- ``wait_for_config_change`` returns the kinds written since the previous call: on
  PostgreSQL those written by any node (``NOTIFY sealpost_config``, sent in the writing
  transaction, delivered at COMMIT); on SQLite and memory those written by this process;
- ``config_fingerprints`` reads, for each kind of ``CONFIG_KINDS``, a value that changes
  whenever a document of that kind is created, replaced (with a new ``updated_at``) or
  deleted: what a caller compares on its own schedule, so a lost notification, or a write by
  another process on the same SQLite file (``[server] workers``, the CLI), is noticed at the
  next look.

API keys are not among the kinds: no process keeps them; every API request and SMTP AUTH
reads the key's record from the store (``api_keys.verify_key``).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

# The document kinds that are settings the server acts on (domains.records.KIND,
# webhooks.definition.KIND, api.templates_v1.KIND; tests/unit/test_change_follower.py
# holds them to these names). Transmissions and delay notices are records, not settings.
CONFIG_KINDS: frozenset[str] = frozenset({"sending_domain", "template", "webhook"})


class Fingerprint(NamedTuple):
    """What ``config_fingerprints`` gives for one kind: equal while nothing changed."""

    count: int  # documents of the kind
    stamps: int  # the sum of their ``updated_at``, in whole milliseconds


class ConfigChanges(Protocol):
    async def config_fingerprints(self) -> dict[str, Fingerprint]:
        """One ``Fingerprint`` for every kind of ``CONFIG_KINDS`` (``(0, 0)`` for none)."""

    async def wait_for_config_change(self, timeout: float) -> frozenset[str]:
        """The kinds of ``CONFIG_KINDS`` written since the previous call (at once if some
        were), or an empty set after ``timeout`` seconds without. A hint: it may name a kind
        spuriously (every kind after a lost LISTEN connection) and may miss another process's
        writes; ``config_fingerprints`` is the check that does not."""
