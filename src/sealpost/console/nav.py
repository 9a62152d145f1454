"""The console's menu: each entry shows for a caller holding ANY of its grants."""

from __future__ import annotations

from dataclasses import dataclass

from sealpost.model.grants import Grant


@dataclass(frozen=True, slots=True)
class NavItem:
    path: str
    label: str
    grants: tuple[Grant, ...]

    def current(self, path: str) -> bool:
        """Whether ``path`` is this entry's page or below it (the overview: itself only)."""
        return path == self.path or (self.path != "/console/" and path.startswith(self.path))


NAV: list[NavItem] = [
    NavItem("/console/", "Overview", (Grant.METRICS_VIEW,)),
    NavItem("/console/messages", "Messages", (Grant.MESSAGE_EVENTS_VIEW, Grant.QUEUE_VIEW)),
    NavItem("/console/destinations", "Destinations", (Grant.METRICS_VIEW, Grant.TLS_CHECK_VIEW)),
    NavItem("/console/sending-domains", "Sending domains", (Grant.SENDING_DOMAINS_VIEW,)),
    NavItem("/console/webhooks", "Webhooks", (Grant.WEBHOOKS_VIEW,)),
    NavItem("/console/suppressions", "Suppressions", (Grant.SUPPRESSION_LISTS_VIEW,)),
    NavItem("/console/api-keys", "API keys", (Grant.API_KEYS_MANAGE,)),
]


def visible(grants: frozenset[Grant]) -> list[NavItem]:
    return [item for item in NAV if any(g in grants for g in item.grants)]
