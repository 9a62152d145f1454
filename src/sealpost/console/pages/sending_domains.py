"""Sending domains (``/console/sending-domains``): each domain's DKIM status, what the last
check found, and the DNS record to publish (the zone-file line of ``dkim.keys.dns_record``
and its name and value apart, for DNS hosts' web forms).

Grant: ``sending_domains/view``, as ``GET /api/v1/sending-domains``. Sending domains are
RSA-keyed (``domains.dkim_check`` accepts ``k=rsa`` only), so the value is
``v=DKIM1; k=rsa; p=<public key>``."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sealpost.console import render
from sealpost.console.guard import context, page
from sealpost.dkim.keys import DkimKeyError, dns_record
from sealpost.domains.records import SendingDomain
from sealpost.model.grants import Grant


@dataclass(frozen=True, slots=True)
class DomainRow:
    domain: SendingDomain
    name: str  # the TXT record's owner name, "" without a key
    value: str
    zone_line: str


def row_of(domain: SendingDomain) -> DomainRow:
    key = domain.key
    if key is None:
        return DomainRow(domain, "", "", "")
    value = f"v=DKIM1; k=rsa; p={key.public}"
    name = f"{key.selector}._domainkey.{key.signing_domain}"
    try:
        line = dns_record(key.signing_domain, key.selector, value)
    except (DkimKeyError, ValueError):
        line = ""
    return DomainRow(domain, name, value, line)


@page(Grant.SENDING_DOMAINS_VIEW)
async def listing(request: Request) -> Response:
    registry = context(request).api.sending_domains
    found = await registry.search(ownership_verified=None, dkim_status=None)
    rows = [row_of(d) for d in sorted(found, key=lambda d: d.domain)]
    return render.page(request, "sending_domains.html", {"rows": rows})


ROUTES = [Route("/console/sending-domains", listing, methods=["GET"])]
