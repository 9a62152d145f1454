"""A webhook's hosts cleared by the egress rule (DESIGN.md section 9) before any request.

A webhook reaches at most two hosts: its ``target`` and, for OAuth2, the token endpoint
(``auth_request_details.url``). Both are resolved once, judged by the ``TargetGuard``, and
the checked addresses become the ``Route`` the sender pins its connections to
(``net.pinned_http``). A refusal names the field, so the API can answer 422 for it and the
worker can record the failure without sending anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sealpost.model.egress import Cleared, Refused, TargetGuard
from sealpost.net.pinned_http import url_host
from sealpost.webhooks.definition import Webhook

TOKEN_URL_FIELD = "auth_request_details.url"


@dataclass(frozen=True, slots=True)
class Route:
    """Host -> checked address, for every host the webhook's requests may reach."""

    hosts: Mapping[str, str] = field(default_factory=dict)
    private: bool = False  # some address is reachable only through allowed_private_targets


@dataclass(frozen=True, slots=True)
class TargetRefusal:
    field: str  # "target" or "auth_request_details.url"
    message: str  # names the rule (or the DNS failure); no secrets, no URL path or query
    by_rule: bool  # True: the egress rule refused it; False: the name did not resolve


def urls(hook: Webhook) -> list[tuple[str, str]]:
    """``(field, url)`` for every URL the webhook's requests go to."""
    found = [("target", hook.target)]
    if hook.oauth is not None:
        found.append((TOKEN_URL_FIELD, hook.oauth.url))
    return found


async def clear_hook(guard: TargetGuard, hook: Webhook) -> Route | TargetRefusal:
    """Clear every host of ``hook`` once; the route, or the first refusal."""
    hosts: dict[str, str] = {}
    private = False
    for name, url in urls(hook):
        host = url_host(url)
        if host in hosts:
            continue
        clearance = await guard.clear(host)
        if isinstance(clearance, Cleared):
            hosts[host] = clearance.address
            private = private or clearance.private
        else:
            return TargetRefusal(name, clearance.message, isinstance(clearance, Refused))
    return Route(hosts, private)
