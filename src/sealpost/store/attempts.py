"""How one delivery attempt changes a message's recipients and state: pure, shared by backends.

Per-recipient completion is recorded durably (security checklist K6, after Postfix's
``deliver_completed()``): a recipient that reached a final status is never touched again, so a
crash or a retry re-sends only to recipients still ``queued``. A message whose recipients are
all final becomes ``done``; a cancelled message stays cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence

from sealpost.model.queue import MessageState, RecipientResult, StoredRecipient
from sealpost.store.errors import StoreError


def apply_results(
    recipients: Sequence[StoredRecipient], results: Sequence[RecipientResult]
) -> tuple[StoredRecipient, ...]:
    """The recipients after ``results``; recipients not named, or already final, are unchanged.

    Every recipient entry with a named address counts one more attempt. Naming an address that
    is not a recipient of the message raises ``StoreError`` (a caller bug, never ignored).
    """
    by_address = {result.address: result for result in results}
    known = {recipient.address for recipient in recipients}
    unknown = sorted(set(by_address) - known)
    if unknown:
        raise StoreError(f"not a recipient of this message: {', '.join(unknown)}")
    updated: list[StoredRecipient] = []
    for recipient in recipients:
        result = by_address.get(recipient.address)
        if result is None or recipient.status != "queued":
            updated.append(recipient)
            continue
        updated.append(
            StoredRecipient(
                address=recipient.address,
                status=result.status,
                attempts=recipient.attempts + 1,
                last_reply=result.reply,
            )
        )
    return tuple(updated)


def state_after(state: MessageState, recipients: Sequence[StoredRecipient]) -> MessageState:
    """``done`` once a queued message has no recipient left ``queued``; otherwise unchanged.
    A message the operator held during its attempt (``held``) is ``done`` too once nothing
    is left to deliver, and stays ``held`` otherwise."""
    if state in ("queued", "held") and all(r.status != "queued" for r in recipients):
        return "done"
    return state


def cancelled(recipients: Sequence[StoredRecipient]) -> tuple[StoredRecipient, ...]:
    """Recipients after a cancel: those still queued become ``cancelled``."""
    return tuple(
        StoredRecipient(r.address, "cancelled", r.attempts, r.last_reply)
        if r.status == "queued"
        else r
        for r in recipients
    )
