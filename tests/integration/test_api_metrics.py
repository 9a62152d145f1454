"""``GET /api/v1/metrics/deliverability`` over real HTTPS: counts from the event stream
after real SMTP traffic, the time range, the campaign filter, and the errors."""

from __future__ import annotations

import smtplib
import time

import httpx

from sealpost.api_keys import create_key
from sealpost.model.grants import Grant
from tests.support import Pki, ServerThread

PATH = "/api/v1/metrics/deliverability"


def get(server: ServerThread, pki: Pki, key: str, **params: str) -> httpx.Response:
    with httpx.Client(verify=pki.client_context(), timeout=10) as c:
        return c.get(
            f"https://127.0.0.1:{server.ports['api']}{PATH}",
            params=params,
            headers={"Authorization": key},
        )


def test_counts_injections_in_the_range(server: ServerThread, pki: Pki, api_key: str):
    for n in range(3):  # held for the local domain: one injection event each
        with smtplib.SMTP("127.0.0.1", server.ports["plain"], timeout=10) as client:
            rcpts = ["postmaster@example.test"]
            client.sendmail("a@elsewhere.test", rcpts, f"Subject: {n}\r\n\r\nx")
    metrics = "count_injected,count_delivered,count_bounce"
    r = get(server, pki, api_key, **{"from": "2020-01-01T00:00", "metrics": metrics})
    assert r.status_code == 200, r.text
    assert r.json() == {"results": [{"count_injected": 3, "count_delivered": 0, "count_bounce": 0}]}
    past = {"from": "2020-01-01T00:00", "to": "2021-01-01T00:00Z"}
    r = get(server, pki, api_key, **past, metrics="count_injected")
    assert r.json()["results"] == [{"count_injected": 0}]
    future = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 3600))
    r = get(server, pki, api_key, **{"from": future, "metrics": "count_injected"})
    assert r.status_code == 422 and "to" in r.text  # from after to (now)
    r = get(
        server,
        pki,
        api_key,
        **{"from": "2020-01-01T00:00", "metrics": "count_injected", "campaigns": "none-such"},
    )
    assert r.json()["results"] == [{"count_injected": 0}]


def test_bad_requests_name_the_field(server: ServerThread, pki: Pki, api_key: str):
    r = get(server, pki, api_key, metrics="count_injected")
    assert r.status_code == 422 and "from" in r.text
    r = get(server, pki, api_key, **{"from": "2020-01-01T00:00"})
    assert r.status_code == 422 and "metrics" in r.text
    r = get(server, pki, api_key, **{"from": "2020-01-01T00:00", "metrics": "count_nope"})
    assert r.status_code == 422 and "count_nope" in r.text
    r = get(server, pki, api_key, **{"from": "yesterday", "metrics": "count_injected"})
    assert r.status_code == 422 and "from" in r.text


def test_needs_the_metrics_view_grant(server: ServerThread, pki: Pki):
    store = server.app.store
    key, _ = server.call(
        lambda: create_key(store, "events only", 0.0, grants=[Grant.MESSAGE_EVENTS_VIEW])
    )
    r = get(server, pki, key, **{"from": "2020-01-01T00:00", "metrics": "count_injected"})
    assert r.status_code == 403, r.text
