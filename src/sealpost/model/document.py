"""A small JSON record of one of the API's own resources, addressed by kind and id.

The kinds kept as documents are few and small: templates (``template``), webhook definitions
(``webhook``), sending domains (``sending_domain``), transmissions (``transmission``) and the
delay notice sent for a message (``delay_notice``, behind the typed ``DelayNotices``
contract). Anything that must be queried at scale gets a typed table instead
(``webhook_delivery``, ``suppression``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Document:
    """A small JSON record of the API's own resources (templates, webhooks, sending
    domains, transmissions), addressed by kind and id."""

    kind: str
    id: str
    payload: Mapping[str, Any]
    updated_at: float = 0.0
