"""``/api/v1/webhooks`` and webhook delivery over real HTTPS against the real server.

The receiver is a real HTTPS server with its own trustme CA (``delivery.ca_file`` trusts
it). Covers reference 5.4: ping on create and refusal on a failing ping, masked secrets,
batches of real events in SparkPost's shape, basic and OAuth2 auth, retries, the cursor
surviving a restart, and batch status; checklist I1 for custom headers.
"""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from sealpost.api_keys import create_key
from sealpost.webhooks.backoff import RetryPolicy
from sealpost.webhooks.definition import MASK
from sealpost.webhooks.worker import WebhookWorker, WorkerSettings
from tests.fixtures.webhook_receiver import (  # noqa: F401 (fixture)
    WebhookReceiver,
    webhook_receiver_fixture,
)
from tests.integration.delivery_rig import start_rig, trust_bundle
from tests.support import API_LOOPBACK_TARGETS, Pki, ServerThread

FAST = WorkerSettings(poll_interval=0.05, retry=RetryPolicy(first=0.05, cap=0.2), timeout=5.0)


def client(server: ServerThread, pki: Pki, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"https://127.0.0.1:{server.ports['api']}/api/v1",
        verify=pki.client_context(),
        headers={"Authorization": key},
        timeout=20,
    )


def make_key(server: ServerThread) -> str:
    assert server.app is not None
    store = server.app.store
    key, _ = server.call(lambda: create_key(store, "webhooks", 0.0))
    return key


def start_worker(server: ServerThread, settings: WorkerSettings = FAST) -> WebhookWorker:
    """A worker with test-speed settings in place of the one the composition root runs
    (stopped here, so exactly one worker follows the event stream)."""
    assert server.app is not None
    existing = getattr(server.app, "webhooks", None)
    if isinstance(existing, WebhookWorker):
        server.call(existing.stop)
    ca_file = server.config.delivery.ca_file
    store = server.app.store
    guard = server.app.egress

    async def make() -> WebhookWorker:
        worker = WebhookWorker(store, guard=guard, ca_file=ca_file, settings=settings)
        worker.start()
        return worker

    worker = server.call(make)
    server.webhook_worker = worker  # type: ignore[attr-defined]
    return worker


def _wake(worker: WebhookWorker) -> Callable[[], object]:
    async def wake() -> None:
        worker.wake()

    return wake


def stop_worker(server: ServerThread, worker: WebhookWorker) -> None:
    if getattr(server, "webhook_worker", None) is worker:
        server.call(worker.stop)


def send_mail(server: ServerThread, *rcpts: str, subject: str = "hello") -> None:
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as smtp:
        smtp.sendmail(
            "alice@sender.test",
            list(rcpts),
            f"From: alice@sender.test\r\nSubject: {subject}\r\n\r\nhi\r\n".encode(),
        )


def wait_status(
    api: httpx.Client, hook_id: str, receiver: WebhookReceiver, count: int = 1
) -> list[dict]:
    """Batch status once ``count`` attempts are recorded and the newest one succeeded."""
    rows: list[dict] = []

    def done(_r: WebhookReceiver) -> bool:
        rows[:] = api.get(f"/webhooks/{hook_id}/batch-status").json()["results"]
        return len(rows) >= count and rows[0]["response_code"] == "200"

    receiver.wait_for(done)
    return rows


@pytest.fixture
def hook_server(start_server, webhook_receiver: WebhookReceiver) -> Iterator[ServerThread]:
    server = start_server(
        tables={
            "delivery": {"enabled": False, "ca_file": str(webhook_receiver.ca_file)},
            "api": API_LOOPBACK_TARGETS,
        }
    )
    yield server
    worker = getattr(server, "webhook_worker", None)
    if worker is not None and server.app is not None and server._thread.is_alive():
        server.call(worker.stop)


@pytest.fixture
def api(hook_server: ServerThread, pki: Pki) -> Iterator[httpx.Client]:
    with client(hook_server, pki, make_key(hook_server)) as c:
        yield c


def basic_hook(receiver: WebhookReceiver, path: str = "/hook", **extra: object) -> dict:
    return {
        "name": "Orders",
        "target": receiver.url(path),
        "events": ["injection", "delivery", "bounce"],
        "auth_type": "basic",
        "auth_credentials": {"username": "hookuser", "password": "hookpass"},
        "custom_headers": {"X-Env": "test"},
        "auth_token": "legacy-token",
        "unknown_field": "ignored",
        **extra,
    }


def test_crud_ping_and_masked_secrets(
    api: httpx.Client, hook_server: ServerThread, webhook_receiver: WebhookReceiver
):
    r = api.post("/webhooks", json=basic_hook(webhook_receiver))
    assert r.status_code == 200, r.text
    hook_id = r.json()["results"]["id"]
    assert uuid.UUID(hook_id)
    (ping,) = webhook_receiver.hook_requests()
    assert ping.method == "POST" and ping.json == [{"msys": {}}]
    assert ping.header("x-messagesystems-batch-id")
    assert ping.header("authorization") == "Basic aG9va3VzZXI6aG9va3Bhc3M="
    assert ping.header("x-env") == "test"
    assert ping.header("x-messagesystems-webhook-token") == "legacy-token"

    listed = api.get("/webhooks")
    assert listed.status_code == 200
    for text in (listed.text, api.get(f"/webhooks/{hook_id}").text):
        assert "hookpass" not in text and "legacy-token" not in text
    (item,) = listed.json()["results"]
    assert item["id"] == hook_id and item["target"] == webhook_receiver.url("/hook")
    assert item["auth_credentials"] == {"username": "hookuser", "password": MASK}
    assert item["auth_token"] == MASK and item["events"] == ["injection", "delivery", "bounce"]
    assert item["active"] is True and item["last_successful"] is None

    # A partial update echoing the mask keeps the secret and sends no ping.
    r = api.put(
        f"/webhooks/{hook_id}",
        json={"name": "Renamed", "auth_credentials": {"username": "hookuser", "password": MASK}},
    )
    assert r.status_code == 200, r.text
    assert len(webhook_receiver.hook_requests()) == 1
    assert api.get(f"/webhooks/{hook_id}").json()["results"]["name"] == "Renamed"
    r = api.post(f"/webhooks/{hook_id}/validate", json={"message": {"msys": {}}})
    assert r.status_code == 200, r.text
    assert r.json()["results"]["msg"] == "Test POST to endpoint succeeded"
    assert r.json()["results"]["response"]["status"] == 200
    assert webhook_receiver.hook_requests()[-1].header("authorization") == (
        "Basic aG9va3VzZXI6aG9va3Bhc3M="
    ), "the masked password sent back kept the stored one"

    # A new target is pinged first.
    r = api.put(f"/webhooks/{hook_id}", json={"target": webhook_receiver.url("/other")})
    assert r.status_code == 200, r.text
    assert webhook_receiver.hook_requests("/other")[0].json == [{"msys": {}}]

    assert api.delete(f"/webhooks/{hook_id}").status_code == 204
    assert api.get(f"/webhooks/{hook_id}").status_code == 404
    assert api.delete(f"/webhooks/{hook_id}").status_code == 404
    assert api.get(f"/webhooks/{hook_id}/batch-status").status_code == 404
    assert api.get("/webhooks").json()["results"] == []


def test_failing_ping_bad_certificate_and_bad_fields_save_nothing(
    api: httpx.Client, webhook_receiver: WebhookReceiver, tmp_path: Path
):
    webhook_receiver.status = 500
    r = api.post("/webhooks", json=basic_hook(webhook_receiver))
    assert r.status_code == 400 and "HTTP 500" in r.json()["errors"][0]["description"]
    webhook_receiver.status = 200
    with WebhookReceiver(tmp_path / "untrusted") as stranger:  # a CA nobody trusts
        r = api.post("/webhooks", json={"name": "x", "target": stranger.url()})
        assert r.status_code == 400, r.text
        assert stranger.requests == [], "no request goes out over an unverified session"
    r = api.post("/webhooks", json={"name": "x", "target": "https://127.0.0.1:1/hook"})
    assert r.status_code == 400
    count = len(webhook_receiver.requests)
    bad = [
        ({"custom_headers": {"X-A": "v\r\nX-Injected: 1"}}, "custom_headers.X-A"),
        ({"custom_headers": {"Host": "evil"}}, "custom_headers.Host"),
        ({"events": ["delivery", "explosion"]}, "events"),
        ({"auth_type": "basic", "auth_credentials": None}, "auth_credentials"),
        ({"target": "ftp://example.net/"}, "target"),
        ({"auth_type": "magic"}, "auth_type"),
    ]
    for change, field in bad:
        r = api.post("/webhooks", json={**basic_hook(webhook_receiver), **change})
        assert r.status_code == 422, (change, r.text)
        assert field in r.json()["errors"][0]["description"], (field, r.text)
    r = api.post("/webhooks", json={"target": webhook_receiver.url()})
    assert r.status_code == 422 and "name" in r.json()["errors"][0]["description"]
    assert len(webhook_receiver.requests) == count, "nothing was pinged"
    assert api.get("/webhooks").json()["results"] == []
    r = api.put("/webhooks/nope", json={"name": "x"})
    assert r.status_code == 404


def test_http_targets_only_in_development(start_server, pki: Pki):
    server = start_server(
        tables={"delivery": {"enabled": False}, "api": {"address": "127.0.0.1:0"}}
    )
    with client(server, pki, make_key(server)) as api:
        r = api.post("/webhooks", json={"name": "x", "target": "http://127.0.0.1:9/hook"})
    assert r.status_code == 422 and "https://" in r.json()["errors"][0]["description"]


def test_real_events_arrive_in_batches_in_sparkposts_shape(
    api: httpx.Client, hook_server: ServerThread, webhook_receiver: WebhookReceiver
):
    hook_id = api.post("/webhooks", json=basic_hook(webhook_receiver)).json()["results"]["id"]
    start_worker(hook_server)
    send_mail(hook_server, "ann@example.test", "bob@example.test")
    webhook_receiver.wait_for(lambda r: len(r.events()) >= 2)
    (batch,) = webhook_receiver.batches()
    assert batch.header("authorization") == "Basic aG9va3VzZXI6aG9va3Bhc3M="
    assert batch.header("content-type") == "application/json"
    batch_id = batch.header("x-messagesystems-batch-id")
    assert batch_id and batch.header("x-env") == "test"
    assert all(list(item) == ["msys"] for item in batch.json)
    assert all(list(item["msys"]) == ["message_event"] for item in batch.json)
    events = webhook_receiver.events()
    assert [e["rcpt_to"] for e in events] == ["ann@example.test", "bob@example.test"]
    for e in events:
        assert e["type"] == "injection" and e["timestamp"].isdigit()
        assert e["event_id"].isdigit() and e["msg_from"] == "alice@sender.test"
        assert e["subject"] == "hello" and e["recv_method"] == "esmtp"
    searched = api.get("/events/message", params={"events": "injection"}).json()["results"]
    assert {e["event_id"] for e in searched} == {e["event_id"] for e in events}
    status = wait_status(api, hook_id, webhook_receiver)
    assert status[0]["batch_id"] == batch_id and status[0]["response_code"] == "200"
    assert status[0]["attempts"] == 1 and "failure_code" not in status[0]
    shown = api.get(f"/webhooks/{hook_id}").json()["results"]
    assert shown["last_successful"] and shown["last_failure"] is None


def test_oauth2_token_is_fetched_and_refetched_after_a_401(
    api: httpx.Client, hook_server: ServerThread, webhook_receiver: WebhookReceiver
):
    webhook_receiver.oauth("client-1", "oauth-sekrit", expires_in=3600)
    body = {
        "name": "oauth",
        "target": webhook_receiver.url("/oauth-hook"),
        "auth_type": "oauth2",
        "auth_request_details": {
            "url": webhook_receiver.token_url,
            "body": {
                "client_id": "client-1",
                "client_secret": "oauth-sekrit",
                "grant_type": "client_credentials",
            },
        },
    }
    r = api.post("/webhooks", json=body)
    assert r.status_code == 200, r.text
    hook_id = r.json()["results"]["id"]
    shown = api.get(f"/webhooks/{hook_id}")
    assert "oauth-sekrit" not in shown.text
    assert shown.json()["results"]["auth_request_details"]["body"]["client_secret"] == MASK
    assert len(webhook_receiver.token_requests()) == 1
    start_worker(hook_server)
    send_mail(hook_server, "ann@example.test", subject="first")
    webhook_receiver.wait_for(lambda r: len(r.events()) >= 1)
    provider = webhook_receiver.provider
    assert provider is not None
    assert webhook_receiver.batches()[0].header("authorization") == (
        f"Bearer {provider.issued[-1]}"
    )
    webhook_receiver.revoke_tokens()
    send_mail(hook_server, "bob@example.test", subject="second")
    webhook_receiver.wait_for(lambda r: len(r.events(accepted=True)) >= 2)
    assert len(provider.issued) >= 2
    assert [b.status for b in webhook_receiver.batches()] == [200, 401, 200]
    assert webhook_receiver.batches()[-1].header("authorization") == (
        f"Bearer {provider.issued[-1]}"
    )
    wrong = {**body, "auth_request_details": {**body["auth_request_details"]}}
    wrong["auth_request_details"]["body"] = {**body["auth_request_details"]["body"]}
    wrong["auth_request_details"]["body"]["client_secret"] = "wrong"
    r = api.post("/webhooks", json=wrong)
    assert r.status_code == 400 and "token endpoint" in r.json()["errors"][0]["description"]
    assert "wrong" not in r.text


def test_failed_batches_are_retried_with_the_same_id_and_shown_in_batch_status(
    api: httpx.Client, hook_server: ServerThread, webhook_receiver: WebhookReceiver
):
    hook_id = api.post("/webhooks", json=basic_hook(webhook_receiver)).json()["results"]["id"]
    webhook_receiver.fail_next(2, status=503)
    start_worker(hook_server)
    send_mail(hook_server, "ann@example.test")
    wait_status(api, hook_id, webhook_receiver, count=3)
    batches = webhook_receiver.batches()
    assert len({b.header("x-messagesystems-batch-id") for b in batches}) == 1
    assert len({b.body for b in batches}) == 1
    status = api.get(f"/webhooks/{hook_id}/batch-status", params={"limit": 10}).json()
    rows = [(s["attempts"], s["response_code"], s.get("failure_code")) for s in status["results"]]
    assert rows == [(3, "200", None), (2, "503", "http_status"), (1, "503", "http_status")]
    shown = api.get(f"/webhooks/{hook_id}").json()["results"]
    assert shown["last_failure"] and shown["last_successful"]
    only = api.get(f"/webhooks/{hook_id}/batch-status", params={"limit": 1}).json()
    assert len(only["results"]) == 1


def test_slow_receiver_times_out_and_is_retried(
    api: httpx.Client, hook_server: ServerThread, webhook_receiver: WebhookReceiver
):
    hook_id = api.post("/webhooks", json=basic_hook(webhook_receiver)).json()["results"]["id"]
    webhook_receiver.delay = 3.0
    start_worker(
        hook_server,
        WorkerSettings(poll_interval=0.05, retry=RetryPolicy(first=0.05, cap=0.2), timeout=0.5),
    )
    send_mail(hook_server, "ann@example.test")
    webhook_receiver.wait_for(lambda r: len(r.batches()) >= 1)
    webhook_receiver.delay = 0.0
    status = wait_status(api, hook_id, webhook_receiver, count=2)
    assert status[-1]["failure_code"] == "timeout" and status[-1]["response_code"] == "0"


def test_cursor_survives_a_restart_without_duplicate_batches(
    start_server, pki: Pki, webhook_receiver: WebhookReceiver
):
    tables = {
        "delivery": {"enabled": False, "ca_file": str(webhook_receiver.ca_file)},
        "api": API_LOOPBACK_TARGETS,
    }
    first = start_server(tables=tables)
    with client(first, pki, make_key(first)) as api:
        assert api.post("/webhooks", json=basic_hook(webhook_receiver)).status_code == 200
    worker = start_worker(first)
    send_mail(first, "ann@example.test", subject="before")
    webhook_receiver.wait_for(lambda r: len(r.events()) >= 1)
    stop_worker(first, worker)
    first.stop()

    second = start_server(tables=tables)
    send_mail(second, "bob@example.test", subject="after")
    worker = start_worker(second)
    webhook_receiver.wait_for(lambda r: len(r.events()) >= 2)
    stop_worker(second, worker)
    events = webhook_receiver.events()
    assert [e["subject"] for e in events] == ["before", "after"]
    assert len({e["event_id"] for e in events}) == 2
    assert len(webhook_receiver.batches()) == 2


def test_delivery_events_carry_the_tls_record(
    start_server, dns_server, smtp_sink, sink_certs, pki: Pki, tmp_path: Path
):
    with WebhookReceiver(tmp_path / "receiver") as receiver:
        bundle = trust_bundle(tmp_path, sink_certs.ca_file, receiver.ca_file)
        sink = smtp_sink(cert=sink_certs.good)
        rig = start_rig(start_server, dns_server, sink, ca_file=bundle, api=API_LOOPBACK_TARGETS)
        with client(rig.server, pki, make_key(rig.server)) as api:
            body = {"name": "tls", "target": receiver.url(), "events": ["delivery"]}
            assert api.post("/webhooks", json=body).status_code == 200
        worker = start_worker(rig.server)
        rig.submit(["bob@example.net"])
        receiver.wait_for(lambda r: len(r.events()) >= 1)
        stop_worker(rig.server, worker)
        (event,) = receiver.events()
    assert event["type"] == "delivery" and event["rcpt_to"] == "bob@example.net"
    assert event["outbound_tls"] == "1" and event["num_retries"] == "0"
    assert event["tls"]["version"] == "TLSv1.3" and event["tls"]["verified"] is True
    assert event["timestamp"].isdigit()
