"""The server as a real process (``sealpost serve``): signals, live certificate reload, logs.

SIGHUP reloads the TLS certificate without a restart (new handshakes see the new certificate,
sessions opened before keep working); the file watcher does the same on its own with
``[tls] reload_interval``; SIGTERM stops the process cleanly (exit 0) even with clients in
the middle of a session; and AUTH secrets never reach the log, even at debug level
(checklist: secrets in logs). Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509

from sealpost.store import open_store
from tests.serve_process import ServerProcess
from tests.support import HOSTNAME, Conversation, Pki, make_pki, write_config

WAIT = 15.0  # upper bound for anything the server does asynchronously (reload, shutdown)
IMPLICIT = {"name": "submissions", "tls": "implicit", "auth": True}


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def edit_config(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def stop(server: ServerProcess) -> str:
    """SIGTERM; the process must exit 0 within WAIT seconds. Returns its stderr."""
    server.proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = server.proc.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError(f"no exit within {WAIT} s of SIGTERM") from None
    assert server.proc.returncode == 0, stderr
    return stderr


def tls_conversation(port: int, pki: Pki) -> Conversation:
    """An implicit-TLS session past the banner."""
    conv = Conversation(port)
    conv.starttls(pki.client_context())
    code, text = conv.reply()
    assert code == 220, text
    return conv


def peer_serial(port: int, pki: Pki) -> int:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        pki.client_context().wrap_socket(raw, server_hostname=HOSTNAME) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def replace_file(path: Path, data: bytes) -> None:
    """Atomically, as certbot-style renewals do: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def renew_certificate(pki: Pki) -> int:
    """Write a new leaf from the same CA over the served files; return its serial."""
    leaf = pki.ca.issue_cert(HOSTNAME, "localhost", "127.0.0.1")
    replace_file(pki.key_file, leaf.private_key_pem.bytes())
    replace_file(pki.cert_file, b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).serial_number


def wait_for_serial(port: int, pki: Pki, serial: int) -> None:
    deadline = time.monotonic() + WAIT
    seen = None
    while time.monotonic() < deadline:
        seen = peer_serial(port, pki)
        if seen == serial:
            return
        time.sleep(0.1)
    raise AssertionError(f"still serving serial {seen} after {WAIT} s, wanted {serial}")


# --- certificate reload --------------------------------------------------------------------


def test_sighup_reloads_the_certificate_and_keeps_open_sessions(tmp_path: Path, pki: Pki, spawn):
    config = write_config(tmp_path, pki, listeners=[IMPLICIT])
    edit_config(config, "reload_interval = 1", "reload_interval = 3600")  # only SIGHUP reloads
    server = spawn(config)
    port = server.ports["submissions"]
    old_serial = peer_serial(port, pki)

    held = tls_conversation(port, pki)
    assert held.cmd("EHLO before.test")[0] == 250

    new_serial = renew_certificate(pki)
    assert new_serial != old_serial
    assert peer_serial(port, pki) == old_serial, "files alone must not reload within the hour"

    server.proc.send_signal(signal.SIGHUP)
    wait_for_serial(port, pki, new_serial)

    code, text = held.cmd("NOOP")
    assert code == 250, text
    fresh = tls_conversation(port, pki)
    assert fresh.cmd("EHLO after.test")[0] == 250
    assert fresh.cmd("QUIT")[0] == 221
    assert held.cmd("QUIT")[0] == 221
    held.close()
    fresh.close()
    stderr = stop(server)
    assert "reload failed" not in stderr


def test_changed_files_are_picked_up_without_a_signal(tmp_path: Path, pki: Pki, spawn):
    config = write_config(tmp_path, pki, listeners=[IMPLICIT])
    assert "reload_interval = 1" in config.read_text()
    server = spawn(config)
    port = server.ports["submissions"]
    old_serial = peer_serial(port, pki)
    new_serial = renew_certificate(pki)
    assert new_serial != old_serial
    wait_for_serial(port, pki, new_serial)  # bounded poll: the watcher checks every second
    stop(server)


class StderrTail:
    """Reads a running server's stderr on a thread, so a test can wait for a log line."""

    def __init__(self, server: ServerProcess) -> None:
        assert server.proc.stderr is not None
        self._stream = server.proc.stderr
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            self.lines.append(line)

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return
            time.sleep(0.05)
        raise AssertionError(f"no log line with {text!r} after {WAIT} s: {self.lines}")


def test_sighup_with_a_broken_certificate_keeps_serving_the_old_one(
    tmp_path: Path, pki: Pki, spawn
):
    config = write_config(tmp_path, pki, listeners=[IMPLICIT])
    edit_config(config, "reload_interval = 1", "reload_interval = 3600")
    server = spawn(config)
    tail = StderrTail(server)
    port = server.ports["submissions"]
    old_serial = peer_serial(port, pki)

    other = pki.ca.issue_cert(HOSTNAME)  # a key that does not match the certificate
    replace_file(pki.key_file, other.private_key_pem.bytes())
    server.proc.send_signal(signal.SIGHUP)
    tail.wait_for("reload failed")
    assert server.proc.poll() is None, "a bad certificate on reload must not stop the server"
    assert peer_serial(port, pki) == old_serial

    new_serial = renew_certificate(pki)  # a matching pair again
    server.proc.send_signal(signal.SIGHUP)
    wait_for_serial(port, pki, new_serial)

    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(WAIT) == 0


# --- shutdown ------------------------------------------------------------------------------


def _queued_ids(directory: Path) -> list[str]:
    async def read() -> list[str]:
        store = open_store("sqlite:///var/queue.db", base_dir=directory)
        await store.open()
        try:
            return [row.id for row in await store.list(limit=100)]
        finally:
            await store.close()

    return asyncio.run(read())


def test_sigterm_with_clients_mid_session_exits_0(tmp_path: Path, pki: Pki, spawn):
    plain = {"name": "plain", "tls": "none"}
    # The unfinished DATA is cut after the drain time (issue 17): 2 s, not the default 30.
    config = write_config(tmp_path, pki, listeners=[plain, IMPLICIT], server={"drain_timeout": 2})
    server = spawn(config)

    in_data = Conversation(server.ports["plain"])
    assert in_data.reply()[0] == 220
    assert in_data.cmd("EHLO mid.test")[0] == 250
    assert in_data.cmd("MAIL FROM:<a@sender.test>")[0] == 250
    assert in_data.cmd("RCPT TO:<u@example.test>")[0] == 250
    assert in_data.cmd("DATA")[0] == 354
    in_data.send(b"Subject: never finished\r\n\r\nhalf a bo")

    idle_tls = tls_conversation(server.ports["submissions"], pki)
    assert idle_tls.cmd("EHLO idle.test")[0] == 250

    stderr = stop(server)
    assert "Traceback" not in stderr
    for conv in (in_data, idle_tls):  # RFC 5321 section 3.8: 421 before the close
        code, text = conv.reply()
        assert (code, text[:10]) == (421, "421 4.3.2 "), text
        assert conv.closed()
    in_data.close()
    idle_tls.close()
    assert _queued_ids(tmp_path) == [], "an unfinished DATA must not be queued"


# --- secrets in logs -----------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_auth_secrets_never_reach_the_debug_log(tmp_path: Path, pki: Pki, spawn):
    config = write_config(tmp_path, pki, listeners=[IMPLICIT])
    edit_config(config, 'level = "warning"', 'level = "debug"')
    created = subprocess.run(
        [sys.executable, "-m", "sealpost", "keys", "create", "--json", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    wrong_key = key[:-1] + ("0" if key[-1] != "0" else "1")  # well formed, known id, wrong
    wrong_secret = "Not-The-Key-But-A-Secret-42"
    plain_ok = _b64(f"\0SMTP_Injection\0{key}")
    plain_wrong_key = _b64(f"\0SMTP_Injection\0{wrong_key}")
    plain_wrong_secret = _b64(f"\0SMTP_Injection\0{wrong_secret}")

    server = spawn(config)
    port = server.ports["submissions"]

    failing = tls_conversation(port, pki)
    assert failing.cmd("EHLO fail.test")[0] == 250
    assert failing.cmd(f"AUTH PLAIN {plain_wrong_key}")[0] == 535
    assert failing.cmd(f"AUTH PLAIN {plain_wrong_secret}")[0] == 535
    assert failing.cmd("QUIT")[0] == 221  # before the per-session failure limit closes it
    failing.close()

    failing = tls_conversation(port, pki)
    assert failing.cmd("EHLO fail-login.test")[0] == 250
    assert failing.cmd("AUTH LOGIN")[0] == 334
    assert failing.cmd(_b64("SMTP_Injection"))[0] == 334
    assert failing.cmd(_b64(wrong_secret))[0] == 535
    assert failing.cmd("QUIT")[0] == 221
    failing.close()

    ok = tls_conversation(port, pki)
    assert ok.cmd("EHLO ok.test")[0] == 250
    code, text = ok.cmd(f"AUTH PLAIN {plain_ok}")
    assert code == 235, text
    assert ok.cmd("QUIT")[0] == 221
    ok.close()

    log = stop(server)
    assert '"level": "debug"' in log, "the server should have logged at debug level"
    for secret in (
        key,
        key[8:],  # the part after the public id
        wrong_key,
        wrong_secret,
        plain_ok,
        plain_wrong_key,
        plain_wrong_secret,
        _b64(wrong_secret),
    ):
        assert secret not in log, f"secret {secret[:6]}... appears in the log"
