"""The outbound-facing CLI over real processes: ``sealpost events [--follow] [--json]`` and
``sealpost queue retry|cancel``."""

from __future__ import annotations

import json
import os
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.serve_process import ServerProcess
from tests.support import make_pki, write_config


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "sealpost", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def send(port: int, rcpt: str = "u@example.test") -> str:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("client.test")
        client.mail("a@sender.test")
        client.rcpt(rcpt)
        code, text = client.data(b"Subject: cli\r\n\r\nhello\r\n")
        assert code == 250
    return text.decode().rsplit(" ", 1)[-1]


@pytest.fixture
def running(tmp_path: Path):
    config = write_config(
        tmp_path, make_pki(tmp_path / "pki"), listeners=[{"name": "mx", "tls": "none"}]
    )
    server = ServerProcess(config).start()
    yield config, server
    server.terminate()


def test_events_json_and_table(running):
    config, server = running
    mid = send(server.ports["mx"])
    out = cli("events", "--json", "-c", str(config))
    assert out.returncode == 0, out.stderr
    [event] = [json.loads(line) for line in out.stdout.splitlines()]
    assert event["type"] == "injection" and event["message_id"] == mid
    assert event["rcpt_to"] == "u@example.test" and event["recv_method"] == "esmtp"
    assert isinstance(event["event_id"], str) and event["timestamp"].endswith("Z")
    assert event["msg_size"].isdigit()
    table = cli("events", "-c", str(config), "--type", "injection")
    assert table.returncode == 0 and mid in table.stdout
    bad = cli("events", "-c", str(config), "--type", "nonsense")
    assert bad.returncode != 0 and "unknown event type" in bad.stderr


def test_events_follow_prints_new_events(running):
    config, server = running
    follower = subprocess.Popen(
        [sys.executable, "-m", "sealpost", "events", "--follow", "--json", "-c", str(config)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        mid = send(server.ports["mx"])
        assert follower.stdout is not None
        line = follower.stdout.readline()  # bounded: the process is killed below regardless
        assert json.loads(line)["message_id"] == mid
    finally:
        follower.kill()
        follower.wait(10)


def test_queue_retry_and_cancel(running):
    config, server = running
    mid = send(server.ports["mx"])  # a local domain without a route: held
    held = json.loads(cli("queue", "list", "--state", "held", "--json", "-c", str(config)).stdout)
    assert [(r["id"], r["state"]) for r in held] == [(mid, "held")]
    assert "held" in cli("queue", "list", "-c", str(config)).stdout
    retried = cli("queue", "retry", mid, "-c", str(config))  # releases it (postsuper -H)
    assert retried.returncode == 0, retried.stderr
    shown = json.loads(cli("queue", "show", mid, "--json", "-c", str(config)).stdout)
    assert shown["state"] == "queued"
    assert cli("queue", "list", "--state", "held", "--json", "-c", str(config)).stdout == "[]\n"
    cancelled = cli("queue", "cancel", mid, "-c", str(config))
    assert cancelled.returncode == 0, cancelled.stderr
    shown = json.loads(cli("queue", "show", mid, "--json", "-c", str(config)).stdout)
    assert shown["state"] == "cancelled"
    assert [r["status"] for r in shown["recipients"]] == ["cancelled"]
    again = cli("queue", "cancel", mid, "-c", str(config))
    assert again.returncode != 0 and "queue list" in again.stderr
    assert cli("queue", "retry", "nope", "-c", str(config)).returncode != 0
