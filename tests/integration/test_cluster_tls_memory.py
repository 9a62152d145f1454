"""The broken-TLS memory is shared by the nodes on one PostgreSQL database (docs/cluster.md):
node a's STARTTLS handshake with a host fails, node a delivers in plaintext on a new
connection and remembers the host; node b, which never met the failure, then goes to that
host in plaintext at once, without STARTTLS.

Real parts only: the PostgreSQL server of ``tests/fixtures/postgres.py``, real ``sealpost
serve`` processes, and the loopback SMTP sink whose TLS handshake fails."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest

from tests.integration.test_cluster import PROMPT, node_config, wait_for
from tests.support import Pki, make_pki


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def send(port: int, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail("a@sender.test", ["u@example.test"], f"Subject: {subject}\r\n\r\nbody\r\n")


def test_a_host_one_node_found_broken_goes_plaintext_from_another_node(
    tmp_path: Path, pki: Pki, pg_url: str, smtp_sink, spawn
) -> None:
    sink = smtp_sink(cert=(pki.cert_file, pki.key_file), handshake="fail")
    a = spawn(node_config(tmp_path / "a", pki, pg_url, sink, "node-a"))
    send(a.ports["mx"], "through a")
    wait_for(sink, 1, PROMPT)
    assert "STARTTLS" in sink.sessions[0].commands, "a tried TLS and failed"
    assert "STARTTLS" not in sink.sessions[1].commands and len(sink.sessions) == 2
    a.terminate()
    b = spawn(node_config(tmp_path / "b", pki, pg_url, sink, "node-b"))
    send(b.ports["mx"], "through b")
    wait_for(sink, 2, PROMPT)
    assert len(sink.sessions) == 3, "b did not try TLS and fall back: one session"
    assert "STARTTLS" not in sink.sessions[2].commands
    assert "EHLO node-b.cluster.test" in sink.sessions[2].commands
    b.terminate()
