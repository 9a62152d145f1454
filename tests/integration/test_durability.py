"""Checklist K2: SIGKILL the server under load; every message acknowledged with 250 survives.

The server runs as a real subprocess (``sealpost serve``) on the real SQLite queue. Client
threads send messages as fast as they can and remember each id the server acknowledged;
the test kills the server mid-load, restarts it on the same data directory, and checks that
every acknowledged id is in the queue with its exact body. Bounded: a few rounds of ~1 s.
"""

from __future__ import annotations

import asyncio
import smtplib
import threading
import time
from pathlib import Path

from sealpost.store import open_store
from tests.support import Pki, ServerProcess, make_pki, write_config

LISTENERS = [{"name": "mx", "tls": "none"}]


def _client(port: int, stop: threading.Event, acked: dict[str, bytes], tag: str) -> None:
    n = 0
    while not stop.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
                client.ehlo("load.test")
                while not stop.is_set():
                    n += 1
                    body = f"Subject: {tag}-{n}\r\n\r\nbody {tag}-{n}\r\n".encode()
                    client.mail("a@sender.test")
                    client.rcpt("u@example.test")
                    code, text = client.data(body)
                    if code == 250:
                        acked[text.decode().rsplit(" ", 1)[-1]] = body
        except (OSError, smtplib.SMTPException):
            return  # the server died under us: expected


def _stored(config_dir: Path) -> dict[str, bytes]:
    async def read() -> dict[str, bytes]:
        store = open_store(f"sqlite:///{config_dir / 'var' / 'queue.db'}", base_dir=config_dir)
        await store.open()
        try:
            out = {}
            after = None
            while True:
                rows = await store.list(limit=1000, after=after)
                if not rows:
                    return out
                for row in rows:
                    msg = await store.get(row.id)
                    out[row.id] = msg.message.data
                after = rows[-1].id
        finally:
            await store.close()

    return asyncio.run(read())


def test_sigkill_under_load_loses_no_acknowledged_message(tmp_path: Path):
    pki: Pki = make_pki(tmp_path / "pki")
    config = write_config(tmp_path, pki, listeners=LISTENERS)
    acked: dict[str, bytes] = {}
    for round_no in range(3):
        server = ServerProcess(config).start()
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=_client, args=(server.ports["mx"], stop, acked, f"r{round_no}c{i}")
            )
            for i in range(8)
        ]
        for t in threads:
            t.start()
        time.sleep(0.7 + 0.3 * round_no)  # let load build up, then kill at an arbitrary point
        server.kill()
        stop.set()
        for t in threads:
            t.join(10)
    assert len(acked) > 50, "the load generator should have had many messages acknowledged"
    stored = _stored(tmp_path)
    missing = [i for i in acked if i not in stored]
    assert not missing, f"{len(missing)} acknowledged messages lost: {missing[:5]}"
    for message_id, body in acked.items():
        assert stored[message_id].endswith(body)
