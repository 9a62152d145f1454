"""Which recipients of new mail are on the suppression list (``model.suppression``).

A message is ``transactional`` when the transmission said so (``options.transactional``,
carried as the annotation ``transactional`` = "1"), as in SparkPost; everything else, SMTP
injection included unless its ``X-MSYS-API`` header says otherwise, is non-transactional.
Only mail we originate is checked (an API transmission, an authenticated SMTP submission):
mail relayed to us from outside and our own bounces never are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sealpost.model.envelope import InboundMessage
from sealpost.model.suppression import SuppressionType, recipient_key
from sealpost.store.contracts.events import EventStore
from sealpost.store.contracts.suppressions import SuppressionList


class SuppressionStore(SuppressionList, EventStore, Protocol):
    """The list, and the event stream for rejections that belong to no queued message."""


def mail_type(annotations: Mapping[str, Any]) -> SuppressionType:
    if str(annotations.get("transactional", "0")) in ("1", "true", "True"):
        return SuppressionType.TRANSACTIONAL
    return SuppressionType.NON_TRANSACTIONAL


def is_checked(message: InboundMessage) -> bool:
    """Mail we originate from a caller: an authenticated SMTP submission or the API."""
    session = message.session
    return session.listener != "dsn" and (session.auth_user is not None)


async def suppressed_of(
    store: SuppressionList, recipients: Sequence[str], kind: SuppressionType
) -> list[str]:
    """The recipients (as given, in order) that have an entry of ``kind``."""
    found = await store.suppressed_among(recipients, kind)
    return [r for r in recipients if recipient_key(r) in found]
