"""SIGHUP's config reload (``config_reload``) on a real server: a limit changed in the file
is obeyed by the next SMTP connection while an open one stays up; a file that does not
validate keeps the running configuration with one ERROR line; keys that need a restart are
named in the INFO line and not applied. The handler is called on the server's loop, as the
SIGHUP handler calls it."""

from __future__ import annotations

import logging
import os
import signal
import smtplib
import time

from sealpost.retention.purger import RetentionSettings
from tests.serve_process import ServerProcess
from tests.support import ServerThread, write_config

LIMITS = {"limit_exempt": [], "max_connections_per_ip": 5}


def reload(server: ServerThread) -> None:
    async def call() -> None:
        assert server.app is not None
        server.app.reload()

    server.call(call)


def size_limit(port: int) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("client.test")
        return int(client.esmtp_features["size"])


def test_a_changed_limit_applies_to_new_connections_and_a_bad_file_is_refused(
    start_server, tmp_path, pki, caplog
):
    caplog.set_level(logging.INFO, logger="sealpost")
    server = start_server(server=LIMITS)
    port = server.ports["plain"]
    assert size_limit(port) == 10_240_000

    kept = smtplib.SMTP("127.0.0.1", port, timeout=10)
    kept.ehlo("client.test")
    write_config(
        tmp_path,
        pki,
        server={**LIMITS, "max_message_size": 20_000, "max_connections_per_ip": 2},
        store_url="sqlite:///var/elsewhere.db",
        tables={"retention": {"event_days": 2.5}},
    )
    reload(server)
    line = next(r.getMessage() for r in caplog.records if "config reloaded" in r.getMessage())
    assert "server.max_message_size" in line and "retention.event_days" in line
    assert "needing a restart: store.url" in line
    assert server.app.purger.settings == RetentionSettings(event_days=2.5)
    assert server.app.config.store.url.endswith("queue.db"), "the store is not switched"

    assert size_limit(port) == 20_000  # a new connection: the new size
    assert kept.noop()[0] == 250, "the open connection stays up"
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as second:
        second.ehlo("client.test")  # kept + this one = 2, the new per-IP limit
        try:
            third = smtplib.SMTP("127.0.0.1", port, timeout=10)
        except smtplib.SMTPConnectError as exc:
            assert exc.smtp_code == 421
        else:
            code, _ = third.ehlo("client.test")
            third.close()
            assert code == 421, "the third connection from this IP is refused"
    kept.quit()

    caplog.clear()
    (tmp_path / "sealpost.toml").write_text(
        '[server]\nhostname = "x.test"\nmax_message_size = "big"\n'
    )
    reload(server)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "server.max_message_size" in errors[0]
    assert "kept" in errors[0]
    assert size_limit(port) == 20_000, "the running configuration is kept"


def test_sighup_to_the_supervisor_reloads_every_worker(tmp_path, pki):
    config = write_config(tmp_path, pki, server={"workers": 2})
    server = ServerProcess(config).start()
    try:
        port = server.ports["plain"]
        assert size_limit(port) == 10_240_000
        write_config(tmp_path, pki, server={"workers": 2, "max_message_size": 30_000})
        os.kill(server.proc.pid, signal.SIGHUP)
        seen: list[int] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until 8 connections in a row see the new size
            seen.append(size_limit(port))
            if seen[-8:] == [30_000] * 8:
                break
            time.sleep(0.05)
        assert seen[-8:] == [30_000] * 8, f"some worker kept the old size: {seen[-8:]}"
    finally:
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(20)


def test_a_dkim_key_added_to_the_file_signs_after_a_reload_and_a_bad_one_is_refused(
    start_server, tmp_path, pki, caplog
):
    """Issue 15 part 6: SIGHUP reloads the config's DKIM keys; a key file that cannot be
    read refuses the whole reload (nothing half-applied)."""
    import asyncio

    from sealpost.dkim.keys import generate_key

    caplog.set_level(logging.INFO, logger="sealpost")
    server = start_server(server=LIMITS)
    assert not server.app.signing_keys.is_verified("shop.test")
    private, _ = generate_key("ed25519-sha256")
    key_file = tmp_path / "s1.key"
    key_file.write_bytes(private)
    entry = {"domain": "shop.test", "selector": "s1", "key_file": str(key_file)}
    write_config(tmp_path, pki, server=LIMITS, tables={"[[dkim.keys]]": [entry]})
    reload(server)

    async def settled() -> bool:
        for _ in range(100):  # the refresh runs as a task on the server's loop
            if server.app.signing_keys.is_verified("shop.test"):
                return True
            await asyncio.sleep(0.05)
        return False

    assert server.call(settled)
    signed = server.app.signing_keys.sign(b"From: a@shop.test\r\nSubject: s\r\n\r\nbody\r\n")
    assert signed.startswith(b"DKIM-Signature:") and b"d=shop.test" in signed
    line = next(r.getMessage() for r in caplog.records if "config reloaded" in r.getMessage())
    assert "applied dkim.keys" in line

    caplog.clear()
    key_file.write_bytes(b"not a key")
    other = {"domain": "other.test", "selector": "s2", "key_file": str(key_file)}
    write_config(
        tmp_path,
        pki,
        server={**LIMITS, "max_message_size": 20_000},
        tables={"[[dkim.keys]]": [other]},
    )
    reload(server)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "refused" in errors[0], errors
    assert size_limit(server.ports["plain"]) == 10_240_000, "nothing else was applied"
    assert server.app.signing_keys.is_verified("shop.test"), "the running keys are kept"
