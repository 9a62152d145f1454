"""Queue administration end to end (issue 15 part 4): a real server (real sockets, HTTPS API,
the dispatcher delivering over real SMTP to a sink found through a real DNS server) on a real
store. A suspension keeps mail for a domain queued without attempts until resume; ``bounce``
sends the sender a DSN through the dispatcher's DSN path, ``cancel`` sends none; grants and
bad input are refused before anything changes; 10k-message bulk actions are timed (printed,
not asserted) on SQLite and PostgreSQL; the CLI does the same on the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from sealpost.api_keys import create_key
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.grants import Grant
from sealpost.model.ids import new_message_id
from sealpost.model.queue import Submitted
from tests.integration.delivery_rig import WAIT, message_bytes, start_rig
from tests.support import Pki, ServerThread


def client(server: ServerThread, pki: Pki, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"https://127.0.0.1:{server.ports['api']}/api/v1",
        verify=pki.client_context(),
        headers={"Authorization": key},
        timeout=60,
    )


def key_with(server: ServerThread, *grants: Grant) -> str:
    key, _ = server.call(lambda: create_key(server.app.store, "q", 0.0, grants=set(grants)))
    return key


def wait_for(predicate, what: str):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if (value := predicate()) is not None and value is not False:
            return value
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def test_suspend_then_bounce_cancel_and_resume(
    start_server, dns_server, smtp_sink, sink_certs, pki
):
    sink = smtp_sink(cert=sink_certs.good)
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    server = rig.server
    with client(server, pki, key_with(server, Grant.QUEUE_MANAGE, Grant.QUEUE_VIEW)) as api:
        answer = api.post("/queue/suspensions", json={"domain": "Example.NET", "reason": "test"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"]["domain"] == "example.net"
        bounced = rig.submit(["x@example.net"], mail_from="alice@sealpost.test")
        cancelled = rig.submit(["y@example.net"], mail_from="carol@sealpost.test")
        kept = rig.submit(["z@example.net", "w@example.net"], mail_from="dave@sealpost.test")
        # The dispatcher parks them all (no attempt) instead of delivering.
        wait_for(lambda: rig.stored(kept).next_attempt_at > time.time() + 600, "kept parked")
        assert [rig.stored(m).attempts for m in (bounced, cancelled, kept)] == [0, 0, 0]
        assert sink.messages == []
        shape = api.get("/queue").json()["results"]
        [row] = [d for d in shape["domains"] if d["domain"] == "example.net"]
        assert row["recipients"] == 4 and row["state"] == "queued"
        # cancel: a dry run counts, the action cancels, no DSN
        sel = {"sender": "carol@sealpost.test"}
        dry = api.post("/queue", json={"action": "cancel", "selection": sel, "dry_run": True})
        assert dry.json()["results"] == {
            "action": "cancel",
            "selection": sel,
            "count": 1,
            "dry_run": True,
        }
        assert rig.stored(cancelled).state == "queued", "a dry run changes nothing"
        done = api.post("/queue", json={"action": "cancel", "selection": sel})
        assert done.json()["results"]["count"] == 1
        assert rig.stored(cancelled).state == "cancelled"
        # bounce: the dispatcher fails it at once despite the suspension, DSN to alice
        sel = {"sender": "alice@sealpost.test", "domain": "example.net"}
        assert api.post("/queue", json={"action": "bounce", "selection": sel}).status_code == 200
        [event] = rig.wait_events("bounce")
        assert event.message_id == bounced and event.fields["bounce_class"] == "25"
        dsns = wait_for(
            lambda: [m for m in rig.all_messages() if m.message.envelope.mail_from == ""],
            "a DSN",
        )
        assert [d.message.envelope.recipients for d in dsns] == [("alice@sealpost.test",)]
        assert b"Final-Recipient: rfc822; x@example.net" in dsns[0].message.data
        assert b"Action: failed" in dsns[0].message.data
        assert rig.stored(bounced).state == "done"
        # resume: the kept message is delivered at once, its first attempt
        assert api.delete("/queue/suspensions/example.net").status_code == 200
        wait_for(lambda: rig.stored(kept).state == "done", "kept delivered")
        assert rig.stored(kept).attempts == 1
        assert len(sink.messages) == 1, "only the kept message went out"
        assert api.delete("/queue/suspensions/example.net").status_code == 404
        admin = [e.fields["action"] for e in rig.events("admin")]
        assert admin == ["suspend", "cancel", "bounce", "resume"]
        assert all(e.fields["by"] for e in rig.events("admin"))


def test_grants_and_bad_input_change_nothing(start_server, pki):
    server = start_server()
    viewer = key_with(server, Grant.QUEUE_VIEW)
    other = key_with(server, Grant.TRANSMISSIONS_MODIFY)
    manager = key_with(server, Grant.QUEUE_MANAGE)
    body = {"action": "hold", "all": True}
    with client(server, pki, other) as api:
        assert api.get("/queue").status_code == 403
        answer = api.post("/queue", json=body)
        assert answer.status_code == 403 and "queue/manage" in answer.text
    with client(server, pki, viewer) as api:
        assert api.get("/queue").status_code == 200
        assert api.get("/queue/suspensions").json() == {"results": []}
        assert api.post("/queue", json=body).status_code == 403
        assert api.post("/queue/suspensions", json={"domain": "a.test"}).status_code == 403
    with client(server, pki, manager) as api:
        assert api.get("/queue").status_code == 403, "manage does not imply view"
        cases = [
            ({"action": "hold"}, "selection"),
            ({"action": "melt", "all": True}, "action"),
            ({"selection": {"domain": "a.test"}}, "action"),
            ({"action": "hold", "selection": {"older_than": "soon"}}, "selection.older_than"),
            ({"action": "hold", "selection": {"domain": "no such"}}, "selection.domain"),
            ({"action": "hold", "selection": {"state": "done"}}, "selection.state"),
            ({"action": "hold", "selection": {"sender": 5}}, "selection.sender"),
            ({"action": "hold", "all": True, "dry_run": "yes"}, "dry_run"),
        ]
        for payload, field in cases:
            answer = api.post("/queue", json=payload)
            assert answer.status_code == 422, (payload, answer.text)
            assert field in answer.json()["errors"][0]["description"], (payload, answer.text)
        for payload, field in [({"domain": "a.test", "for": "-1h"}, "for"), ({}, "domain")]:
            answer = api.post("/queue/suspensions", json=payload)
            assert answer.status_code == 422 and field in answer.text
    assert server.call(lambda: server.app.store.list_events(types=["admin"])) == []


def _bulk(server: ServerThread, n: int) -> None:
    """``n`` messages to bulk.test, queued well in the future (the dispatcher is off)."""
    session = SessionInfo("api", "127.0.0.1", 1)
    now = time.time()
    for start in range(0, n, 2000):
        items = [
            Submitted(
                new_message_id(now + i * 1e-4),
                InboundMessage(
                    Envelope("app@sender.test", (f"u{i}@bulk.test",)), session, message_bytes()
                ),
            )
            for i in range(start, min(n, start + 2000))
        ]
        server.call(
            lambda items=items: server.app.store.enqueue_batch(items, now, not_before=now + 86400)
        )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_bulk_hold_release_retry_on_10k_messages(backend, start_server, pki, request):
    url = request.getfixturevalue("pg_url") if backend == "postgres" else "sqlite:///var/q.db"
    server = start_server(store_url=url)
    _bulk(server, 10_000)
    timings = {}
    with client(server, pki, key_with(server, Grant.QUEUE_MANAGE)) as api:
        for action in ("hold", "release", "retry"):
            body = {"action": action, "selection": {"domain": "bulk.test"}}
            dry = api.post("/queue", json={**body, "dry_run": True}).json()["results"]["count"]
            started = time.perf_counter()
            count = api.post("/queue", json=body).json()["results"]["count"]
            timings[action] = time.perf_counter() - started
            assert dry == count == 10_000, action
    counts = server.call(lambda: server.app.store.count())
    assert counts["queued"] == 10_000 and counts["held"] == 0
    events = server.call(lambda: server.app.store.list_events(types=["admin"], limit=100))
    assert len(events) == 30 and {e.fields["count"] for e in events} == {1000}
    print(f"\n10k bulk on {backend}: " + ", ".join(f"{a} {t:.2f} s" for a, t in timings.items()))


def test_the_cli_holds_summarises_and_suspends(start_server, pki, tmp_path):
    server = start_server()
    _bulk(server, 30)
    config = str(tmp_path / "sealpost.toml")

    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "sealpost", "queue", *args, "-c", config],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    dry = json.loads(cli("hold", "--domain", "bulk.test", "--dry-run", "--json"))
    assert dry["count"] == 30 and dry["dry_run"] is True
    assert "held: 30 message(s)" in cli("hold", "--domain", "bulk.test")
    shape = json.loads(cli("summary", "--json"))
    assert shape["domains"][0] == {
        "domain": "bulk.test",
        "state": "held",
        "recipients": 30,
        "by_age": [30] + [0] * 9,
    }
    assert "TOTAL" in cli("summary")
    assert "30 message(s)" in cli("release", "--all")
    assert "suspended bulk.test until" in cli("suspend", "--domain", "bulk.test", "--for", "2h")
    assert json.loads(cli("suspensions", "--json"))[0]["domain"] == "bulk.test"
    assert "resumed bulk.test" in cli("resume", "--domain", "bulk.test")
    refused = subprocess.run(
        [sys.executable, "-m", "sealpost", "queue", "cancel", "-c", config],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "no selection" in refused.stderr
