"""The console's menu: each entry shows for a caller holding ANY of its grants."""

from __future__ import annotations

from dataclasses import dataclass

from sealpost.model.grants import Grant


@dataclass(frozen=True, slots=True)
class NavItem:
    path: str
    label: str
    grants: tuple[Grant, ...]


NAV: list[NavItem] = [
    NavItem("/console/messages", "Messages", (Grant.MESSAGE_EVENTS_VIEW, Grant.QUEUE_VIEW)),
]


def visible(grants: frozenset[Grant]) -> list[NavItem]:
    return [item for item in NAV if any(g in grants for g in item.grants)]
