"""Issue 10 item 2: every ``/api/v1`` route requires exactly one grant, the right one, and the
docs say which. The routes are found by walking the application, so a route added later
without a grant fails here (the matrix over HTTPS is tests/integration/test_api_grants.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import APIRouter, Depends, FastAPI

from sealpost.api.auth import needs, require_key
from sealpost.model.grants import ALL_GRANTS, DESCRIPTIONS, Grant, in_order, parse_grant
from tests.api_routes import PUBLIC, api_routes, guarded_routes, routes_of

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"

G = Grant
EXPECTED = {
    "POST /api/v1/transmissions": G.TRANSMISSIONS_MODIFY,
    "GET /api/v1/transmissions": G.TRANSMISSIONS_VIEW,
    "GET /api/v1/transmissions/{transmission_id}": G.TRANSMISSIONS_VIEW,
    "DELETE /api/v1/transmissions/{transmission_id}": G.TRANSMISSIONS_MODIFY,
    "DELETE /api/v1/transmissions": G.TRANSMISSIONS_MODIFY,
    "POST /api/v1/templates": G.TEMPLATES_MODIFY,
    "GET /api/v1/templates": G.TEMPLATES_VIEW,
    "GET /api/v1/templates/{template_id}": G.TEMPLATES_VIEW,
    "PUT /api/v1/templates/{template_id}": G.TEMPLATES_MODIFY,
    "DELETE /api/v1/templates/{template_id}": G.TEMPLATES_MODIFY,
    "GET /api/v1/events/message": G.MESSAGE_EVENTS_VIEW,
    "GET /api/v1/metrics/deliverability": G.METRICS_VIEW,
    "POST /api/v1/webhooks": G.WEBHOOKS_MODIFY,
    "GET /api/v1/webhooks": G.WEBHOOKS_VIEW,
    "GET /api/v1/webhooks/{webhook_id}": G.WEBHOOKS_VIEW,
    "PUT /api/v1/webhooks/{webhook_id}": G.WEBHOOKS_MODIFY,
    "DELETE /api/v1/webhooks/{webhook_id}": G.WEBHOOKS_MODIFY,
    "POST /api/v1/webhooks/{webhook_id}/validate": G.WEBHOOKS_MODIFY,
    "GET /api/v1/webhooks/{webhook_id}/batch-status": G.WEBHOOKS_VIEW,
    "POST /api/v1/sending-domains": G.SENDING_DOMAINS_MODIFY,
    "GET /api/v1/sending-domains": G.SENDING_DOMAINS_VIEW,
    "GET /api/v1/sending-domains/{domain}": G.SENDING_DOMAINS_VIEW,
    "PUT /api/v1/sending-domains/{domain}": G.SENDING_DOMAINS_MODIFY,
    "DELETE /api/v1/sending-domains/{domain}": G.SENDING_DOMAINS_MODIFY,
    "POST /api/v1/sending-domains/{domain}/verify": G.SENDING_DOMAINS_MODIFY,
    "GET /api/v1/tls-check": G.TLS_CHECK_VIEW,
    "POST /api/v1/tls-reports": G.TLS_REPORTS_MODIFY,
    "GET /api/v1/tls-reports": G.TLS_REPORTS_VIEW,
    "GET /api/v1/tls-reports/{report_id}": G.TLS_REPORTS_VIEW,
    "GET /api/v1/suppression-list": G.SUPPRESSION_LISTS_VIEW,
    "GET /api/v1/suppression-list/summary": G.SUPPRESSION_LISTS_VIEW,
    "GET /api/v1/suppression-list/{recipient}": G.SUPPRESSION_LISTS_VIEW,
    "PUT /api/v1/suppression-list": G.SUPPRESSION_LISTS_MANAGE,
    "PUT /api/v1/suppression-list/{recipient}": G.SUPPRESSION_LISTS_MANAGE,
    "DELETE /api/v1/suppression-list/{recipient}": G.SUPPRESSION_LISTS_MANAGE,
    "GET /api/v1/queue": G.QUEUE_VIEW,
    "POST /api/v1/queue": G.QUEUE_MANAGE,
    "GET /api/v1/queue/suspensions": G.QUEUE_VIEW,
    "POST /api/v1/queue/suspensions": G.QUEUE_MANAGE,
    "DELETE /api/v1/queue/suspensions/{domain}": G.QUEUE_MANAGE,
}


def test_the_grant_names_are_sparkposts_and_sealposts_own():
    sparkpost = {
        "smtp/inject",
        "transmissions/modify",
        "transmissions/view",
        "templates/modify",
        "templates/view",
        "message_events/view",
        "webhooks/modify",
        "webhooks/view",
        "sending_domains/modify",
        "sending_domains/view",
        "suppression_lists/manage",
        "metrics/view",
    }
    sealpost = {"tls_check/view", "queue/manage", "tls_reports/modify", "tls_reports/view"}
    sealpost |= {"suppression_lists/view", "queue/view", "console/access"}
    sealpost |= {"api_keys/manage"}
    assert {g.value for g in Grant} == sparkpost | sealpost
    assert set(DESCRIPTIONS) == ALL_GRANTS
    assert all(g.description and "\n" not in g.description for g in Grant)
    assert parse_grant("templates/view") is Grant.TEMPLATES_VIEW
    assert parse_grant("Templates/View") is None and parse_grant("templates") is None
    assert in_order({G.QUEUE_MANAGE, G.SMTP_INJECT}) == (G.SMTP_INJECT, G.QUEUE_MANAGE)


@pytest.mark.parametrize("route", guarded_routes(), ids=lambda r: r.id)
def test_every_api_route_requires_exactly_one_grant(route):
    assert len(route.grants) == 1, f"{route.id} must declare one grant with needs(Grant.X)"


@pytest.mark.parametrize("route", guarded_routes(), ids=lambda r: r.id)
def test_reads_need_a_view_grant_and_writes_a_modify_grant(route):
    [grant] = route.grants
    writes = ("/modify", "/manage")  # SparkPost's suppression_lists/manage, our queue/manage
    assert grant.value.endswith("/view") if route.method == "GET" else grant.value.endswith(writes)
    assert EXPECTED.get(route.id) is grant


def test_the_routes_are_the_ones_expected_and_only_openapi_is_public():
    routes = api_routes()
    assert {r.id for r in guarded_routes()} == set(EXPECTED)
    assert {(r.method, r.path) for r in routes if not r.grants} == set(PUBLIC)


def test_the_walker_sees_a_route_that_forgot_its_grant():
    """The check above can fail: a router route without ``needs`` is reported grant-less."""
    router = APIRouter(dependencies=[Depends(require_key)])

    @router.get("/forgot")
    async def forgot() -> dict[str, str]:
        return {}

    @router.get("/kept", dependencies=[needs(Grant.METRICS_VIEW)])
    async def kept() -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router, prefix="/api/v1")
    found = {r.id: r.grants for r in routes_of(app) if r.path.startswith("/api/v1")}
    assert found == {
        "GET /api/v1/forgot": frozenset(),
        "GET /api/v1/kept": frozenset({Grant.METRICS_VIEW}),
    }


def _documented() -> dict[str, str]:
    """``| `METHOD /api/v1/...` | `grant` |`` rows of docs/api.md's Grants section."""
    text = DOCS.read_text()
    section = text.split("## Grants", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z]+ /api/v1/\S+)` \| `([a-z_]+/[a-z_]+)` \|", section, re.M)
    return dict(rows)


def test_the_docs_name_the_grant_of_every_route():
    assert _documented() == {r.id: next(iter(r.grants)).value for r in guarded_routes()}
