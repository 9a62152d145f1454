"""The console's overview, destinations, sending domains, webhooks, suppression list and API
keys pages over real HTTPS against a running Sealpost: each renders for a caller with the
grant its API endpoint needs and is refused (403, no data) without it; the suppression list
adds, finds and removes; an API key is shown once and can be revoked; a new key cannot get a
grant its creator lacks. (Browser-driven checks live in tests/browser.)"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from sealpost.api_keys import create_key
from sealpost.model.document import Document
from sealpost.model.events import EventRecord
from sealpost.model.grants import Grant
from sealpost.model.webhook_delivery import BatchStatus, DeliveryState, FailureCode
from sealpost.webhooks.definition import KIND, Webhook
from tests.support import Pki, ServerThread

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def console(start_server) -> ServerThread:
    return start_server(tables={"console": {"enabled": True}})


@pytest.fixture
def login(console: ServerThread, pki: Pki) -> Iterator[Callable[..., httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(*grants: Grant) -> httpx.Client:
        held = {Grant.CONSOLE_ACCESS, *grants}
        key, _ = console.call(lambda: create_key(console.app.store, "console", 0.0, (), held))
        base = f"https://127.0.0.1:{console.ports['api']}"
        client = httpx.Client(base_url=base, verify=pki.client_context(), timeout=20)
        clients.append(client)
        form = client.get("/console/login")
        token = CSRF.search(form.text).group(1)
        done = client.post(
            "/console/login", data={"csrf": token, "secret": key, "next": "/console/"}
        )
        assert done.status_code == 303, done.text
        client.headers["Origin"] = base
        return client

    yield make
    for client in clients:
        client.close()


def csrf_of(page: httpx.Response) -> str:
    return CSRF.search(page.text).group(1)


def test_overview_draws_the_charts_from_the_events(console, login):
    now = time.time()
    tls = {"version": "TLSv1.3", "verified": True, "policy_source": "mta-sts"}
    events = [
        EventRecord("injection", "m1", now - 60, {"recipient_domain": "a.test"}, "x@a.test"),
        EventRecord("delivery", "m1", now - 50, {"recipient_domain": "a.test", "tls": tls}),
        EventRecord("delay", "m2", now - 40, {"recipient_domain": "b.test", "reason": "421 busy"}),
    ]
    console.call(lambda: console.app.store.add_events(events))
    client = login(Grant.METRICS_VIEW)
    page = client.get("/console/")
    assert page.status_code == 200
    assert page.text.count('role="img"') == 4
    assert "TLS coverage per day, last 30 days" in page.text
    assert "MTA-STS" in page.text and "421 busy" in page.text
    assert "style=" not in page.text
    assert 'aria-current="page">Overview' in page.text
    domains = client.get("/console/destinations")
    assert domains.status_code == 200 and "a.test" in domains.text and "b.test" in domains.text
    assert "Check now" not in domains.text, "no tls_check/view: no check form"
    refused = client.post(
        "/console/destinations/check", data={"csrf": csrf_of(domains), "target": "a.test"}
    )
    assert refused.status_code == 403 and "tls_check/view" in refused.text
    checker = login(Grant.TLS_CHECK_VIEW)
    alone = checker.get("/console/destinations")
    assert alone.status_code == 200 and "Check now" in alone.text
    assert "a.test" not in alone.text, "no metrics/view: no list of domains"
    bad = checker.post(
        "/console/destinations/check", data={"csrf": csrf_of(alone), "target": "a b"}
    )
    assert bad.status_code == 200 and "Not a domain or host" in bad.text
    # without metrics/view: the overview sends the caller on, the destinations list is gone
    other = login(Grant.SUPPRESSION_LISTS_VIEW)
    moved = other.get("/console/")
    assert moved.status_code == 303 and moved.headers["location"] == "/console/suppressions"
    assert other.get("/console/destinations").status_code == 403


def test_suppression_add_search_remove(console, login):
    client = login(Grant.SUPPRESSION_LISTS_VIEW, Grant.SUPPRESSION_LISTS_MANAGE)
    page = client.get("/console/suppressions")
    added = client.post(
        "/console/suppressions/add",
        data={"csrf": csrf_of(page), "recipient": "Ann@Example.NET", "type": "both"},
    )
    assert added.status_code == 303
    found = client.get(added.headers["location"])
    assert "Suppression added." in found.text and found.text.count("ann@example.net</td>") == 2
    by_domain = client.get("/console/suppressions", params={"q": "example.net"})
    assert "2 entries" in by_domain.text
    removed = client.post(
        "/console/suppressions/remove",
        data={"csrf": csrf_of(found), "recipient": "ann@example.net", "type": "transactional"},
    )
    assert removed.status_code == 303
    left = console.call(lambda: console.app.store.suppressions_of("ann@example.net"))
    assert [e.type.value for e in left] == ["non_transactional"]
    # without the token: refused, nothing removed
    stale = client.post(
        "/console/suppressions/remove",
        data={"recipient": "ann@example.net", "type": "non_transactional"},
    )
    assert stale.status_code == 403
    assert console.call(lambda: console.app.store.suppressions_of("ann@example.net"))
    # view only: no add form, and adding is refused
    reader = login(Grant.SUPPRESSION_LISTS_VIEW)
    page = reader.get("/console/suppressions")
    assert "add-suppression" not in page.text
    refused = reader.post(
        "/console/suppressions/add",
        data={"csrf": csrf_of(page), "recipient": "bob@example.net", "type": "both"},
    )
    assert refused.status_code == 403
    assert not console.call(lambda: console.app.store.suppressions_of("bob@example.net"))


def test_api_key_shown_once_and_revoked_and_no_grant_climbing(console, login):
    client = login(Grant.API_KEYS_MANAGE, Grant.METRICS_VIEW)
    page = client.get("/console/api-keys")
    assert page.status_code == 200
    created = client.post(
        "/console/api-keys/create",
        data={"csrf": csrf_of(page), "label": "reports", "grants": ["metrics/view"]},
    )
    assert created.status_code == 200
    key = re.search(r'id="new-key">([0-9a-f]{40})<', created.text).group(1)
    again = client.get("/console/api-keys")
    assert key not in again.text and key[:8] in again.text
    climbing = client.post(
        "/console/api-keys/create",
        data={"csrf": csrf_of(again), "label": "x", "grants": ["queue/manage"]},
    )
    assert climbing.status_code == 403
    revoked = client.post(
        "/console/api-keys/revoke", data={"csrf": csrf_of(again), "key_id": key[:8]}
    )
    assert revoked.status_code == 303
    record = console.call(lambda: console.app.store.find_key(key[:8]))
    assert record.revoked_at is not None
    assert login(Grant.METRICS_VIEW).get("/console/api-keys").status_code == 403
    # a stronger key cannot be revoked by a caller lacking its grants
    strong, _ = console.call(lambda: create_key(console.app.store, "ops", 0.0))
    refused = client.post(
        "/console/api-keys/revoke", data={"csrf": csrf_of(again), "key_id": strong[:8]}
    )
    assert refused.status_code == 403
    assert console.call(lambda: console.app.store.find_key(strong[:8])).active


def test_sending_domains_and_webhooks_pages_need_their_grants(console, login, pki):
    client = login(Grant.SENDING_DOMAINS_VIEW, Grant.WEBHOOKS_VIEW)
    domains = client.get("/console/sending-domains")
    assert domains.status_code == 200 and "No sending domain yet" in domains.text
    key, _ = console.call(lambda: create_key(console.app.store, "api", 0.0))
    made = httpx.post(
        f"https://127.0.0.1:{console.ports['api']}/api/v1/sending-domains",
        json={"domain": "mail.example.org"},
        headers={"Authorization": key},
        verify=pki.client_context(),
    )
    assert made.status_code == 200, made.text
    public = made.json()["results"]["dkim"]["public"]
    selector = made.json()["results"]["dkim"]["selector"]
    domains = client.get("/console/sending-domains")
    assert "DKIM unverified" in domains.text
    assert f"{selector}._domainkey.mail.example.org" in domains.text
    assert f"v=DKIM1; k=rsa; p={public}" in domains.text
    hooks = client.get("/console/webhooks")
    assert hooks.status_code == 200 and "No webhook yet" in hooks.text
    # a webhook with one good and one failed batch today (inactive: the worker leaves it)
    now = time.time()
    hook = Webhook("w1", "orders feed", "https://hooks.example.org/in", ("delivery",), False)
    history = (
        BatchStatus("b-good", now - 120, 1, 200, None, 31),
        BatchStatus("b-bad", now - 60, 3, 503, FailureCode.HTTP_STATUS, 90),
    )
    state = DeliveryState("w1", now - 600, last_successful=now - 120, history=history)
    store = console.app.store
    console.call(lambda: store.put_document(Document(KIND, "w1", hook.to_payload(), now)))
    console.call(lambda: store.put_webhook_state(state, now))
    hooks = client.get("/console/webhooks").text
    assert "orders feed" in hooks and "https://hooks.example.org/in" in hooks
    assert "1 failed batch(es) today" in hooks and "inactive" in hooks
    assert hooks.index("b-bad") < hooks.index("b-good"), "newest first"
    assert "http_status" in hooks and "503" in hooks
    other = login(Grant.METRICS_VIEW)
    assert other.get("/console/sending-domains").status_code == 403
    assert other.get("/console/webhooks").status_code == 403


def test_suppression_list_pages_through_a_long_list(console, login):
    """More entries than a page: the table, then a link to the next page, whose page says
    "first page" and ends the list without a further link (console/templates/paging.html)."""
    from sealpost.console.pages.suppressions import PER_PAGE
    from sealpost.model.suppression import Suppression, SuppressionSource, SuppressionType

    kind = SuppressionType.NON_TRANSACTIONAL
    entries = [
        Suppression(f"u{i:03}@paged.test", kind, SuppressionSource.MANUALLY_ADDED, "", 0.0, 0.0)
        for i in range(PER_PAGE + 3)
    ]
    console.call(lambda: console.app.store.put_suppressions(entries))
    client = login(Grant.SUPPRESSION_LISTS_VIEW)
    first = client.get("/console/suppressions", params={"q": "paged.test"})
    assert first.text.count("@paged.test</td>") == PER_PAGE
    link = re.search(r'<p class="pager"><a href="([^"]+)" rel="next">Next page</a></p>', first.text)
    assert link, first.text
    second = client.get(link.group(1).replace("&amp;", "&"))
    assert second.text.count("@paged.test</td>") == 3
    assert "first page" in second.text and 'rel="next"' not in second.text
    empty = client.get("/console/suppressions", params={"q": "nobody.test"})
    assert "No entry matches." in empty.text and 'class="table-wrap"' not in empty.text
