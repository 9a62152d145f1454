"""Issue 17 part 3: ``store backup`` of a live queue while a real server receives over SMTP,
then ``store restore`` of it (refused while the server runs): every message acknowledged
with 250 before the backup started is in the restored queue, whole."""

from __future__ import annotations

import asyncio
import json
import os
import smtplib
import subprocess
import sys
import threading
from pathlib import Path

from sealpost.store import open_store
from tests.serve_process import ServerProcess
from tests.support import Pki, write_config

PLAIN = {"name": "plain", "tls": "none", "require_tls": False, "auth": False}


def sealpost(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sealpost", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )


class Load:
    """Sends messages over one SMTP connection until stopped; records each 250."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.acked: dict[str, bytes] = {}
        self.refused: list[tuple[int, bytes]] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=20) as client:
            client.ehlo("load.test")
            n = 0
            while not self.stop.is_set():
                body = f"Subject: {n}\r\n\r\n".encode() + b"line %d\r\n" % n * 50
                client.mail("a@sender.test")
                client.rcpt("u@example.test")
                code, text = client.data(body)
                with self.lock:
                    if code == 250:
                        self.acked[text.decode().rsplit(" ", 1)[-1]] = body
                    else:
                        self.refused.append((code, text))
                n += 1

    def snapshot(self) -> dict[str, bytes]:
        with self.lock:
            return dict(self.acked)


def test_backup_under_load_restores_every_message_acknowledged_before_it(tmp_path: Path, pki: Pki):
    config = write_config(tmp_path, pki, listeners=[PLAIN], server={"workers": 1})
    database = tmp_path / "var" / "queue.db"
    backup = tmp_path / "backups" / "queue-backup.db"
    backup.parent.mkdir()
    server = ServerProcess(config).start()
    load = Load(server.ports["plain"])
    load.thread.start()
    try:
        for _ in range(200):  # bounded: some mail in the queue before the backup
            if len(load.snapshot()) >= 30:
                break
            load.stop.wait(0.05)
        before = load.snapshot()
        assert len(before) >= 30
        result = sealpost("store", "backup", str(backup), "-c", str(config), "--json")
        load.stop.set()  # the server kept acknowledging while the backup ran
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["ok"] is True and report["problems"] == [], report
        counts = report["counts"]["messages"]
        assert counts["source"] == counts["copy"] >= len(before), counts
        refused = sealpost("store", "restore", str(backup), "-c", str(config))
        assert refused.returncode == 1, refused.stdout
        assert "stop the server" in " ".join(refused.stderr.split()), refused.stderr
    finally:
        load.stop.set()
        load.thread.join(30)
        server.terminate()
    assert not load.refused, load.refused[:3]
    assert len(load.acked) > len(before)
    restored = sealpost("store", "restore", str(backup), "-c", str(config), "--json")
    assert restored.returncode == 0, restored.stderr
    report = json.loads(restored.stdout)
    [aside] = [Path(p) for p in report["aside"] if p.endswith(tuple("0123456789Z"))]
    assert aside.exists() and aside.name.startswith("queue.db.before-restore-")

    async def stored() -> dict[str, bytes]:
        store = open_store(f"sqlite:///{database}")
        await store.open()
        try:
            found = {}
            for message_id in before:
                message = await store.get(message_id)
                if message is not None:
                    found[message_id] = message.message.data
            return found
        finally:
            await store.close()

    found = asyncio.run(stored())
    for message_id, body in before.items():  # every 250 before the backup began
        assert message_id in found, f"{message_id}, acknowledged before the backup, is lost"
        assert found[message_id].endswith(body)
