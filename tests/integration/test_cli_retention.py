"""``sealpost purge`` and ``sealpost store vacuum`` as real subprocesses on a SQLite store:
a recipient's erasure counts first (``--dry-run --json``), refuses without an answer, then
removes that person's messages, events and suppression entries and nothing else; an
``--expired`` round purges what ``[retention]`` says and gives the pages back; a file made
before auto_vacuum was switched on is rewritten by ``store vacuum`` and then shrinks."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from sealpost.config.loader import load_config
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.events import EventRecord
from sealpost.model.ids import new_message_id
from sealpost.model.queue import RecipientResult
from sealpost.model.suppression import Suppression, SuppressionSource, SuppressionType
from sealpost.store import open_store
from tests.support import make_pki, write_config

T0 = 1_700_000_000.0


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sealpost", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def fill(config: Path, body_bytes: int = 100) -> None:
    cfg = load_config(config)

    async def main() -> None:
        store = open_store(cfg.store.url, base_dir=cfg.base_dir)
        await store.open()
        try:
            for i, rcpt in enumerate(["Ann@example.test", "bob@example.test"] * 10):
                mid = new_message_id(T0 + i)
                msg = InboundMessage(
                    envelope=Envelope(mail_from="app@sender.test", recipients=(rcpt,)),
                    session=SessionInfo(listener="api", client_ip="127.0.0.1", client_port=1),
                    data=os.urandom(body_bytes),
                )
                event = EventRecord("injection", mid, T0, {}, rcpt.lower())
                await store.enqueue(mid, msg, T0, [event])
                [claim] = await store.claim_due(T0, 1, 60)
                await store.record_attempt(claim, [RecipientResult(rcpt, "delivered")], T0)
            await store.put_suppressions(
                [
                    Suppression(
                        "ann@example.test",
                        SuppressionType.NON_TRANSACTIONAL,
                        SuppressionSource.MANUALLY_ADDED,
                        "",
                        T0,
                        T0,
                    )
                ]
            )
        finally:
            await store.close()

    asyncio.run(main())


def counts(config: Path, address: str) -> tuple[int, int]:
    cfg = load_config(config)

    async def main() -> tuple[int, int]:
        store = open_store(cfg.store.url, base_dir=cfg.base_dir)
        await store.open()
        try:
            found = await store.erase_recipient(address, dry_run=True)
            return found.messages, found.events
        finally:
            await store.close()

    return asyncio.run(main())


def test_purge_recipient_dry_run_confirmation_and_erasure(tmp_path):
    config = write_config(tmp_path, make_pki(tmp_path))
    fill(config)
    dry = cli("purge", "--recipient", "ANN@example.test", "--dry-run", "--json", "-c", str(config))
    assert dry.returncode == 0, dry.stderr
    found = json.loads(dry.stdout)
    assert (found["messages"], found["events"], found["suppressions"]) == (10, 10, 1)
    refused = cli("purge", "--recipient", "ann@example.test", "-c", str(config), stdin="n\n")
    assert refused.returncode == 1 and "nothing deleted" in refused.stderr
    done = cli("purge", "--recipient", "ann@example.test", "--yes", "--json", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["messages"] == 10
    assert counts(config, "ann@example.test") == (0, 0)
    assert counts(config, "bob@example.test") == (10, 10), "another recipient's data is kept"


def test_expired_round_and_vacuum_of_an_old_file_shrink_it(tmp_path):
    config = write_config(tmp_path, make_pki(tmp_path))
    database = tmp_path / "var" / "queue.db"
    database.parent.mkdir()
    old = sqlite3.connect(database)  # a table first: auto_vacuum can no longer switch alone
    old.execute("CREATE TABLE before_version_14 (x)")
    old.close()
    fill(config, body_bytes=100_000)
    round_one = cli("purge", "--expired", "--json", "-c", str(config))
    assert round_one.returncode == 0, round_one.stderr
    result = json.loads(round_one.stdout)
    assert result["messages"] == 20 and result["events"] == 20
    assert result["storage_after"]["auto_vacuum"] == "none"
    assert result["transmissions"] == 0
    assert result["pages_returned"] == 0, "nothing comes back without auto_vacuum"
    vacuumed = cli("store", "vacuum", "--json", "-c", str(config))
    assert vacuumed.returncode == 0, vacuumed.stderr
    sizes = json.loads(vacuumed.stdout)
    assert sizes["bytes_after"] < sizes["bytes_before"] / 4
    fill(config, body_bytes=100_000)
    round_two = json.loads(cli("purge", "--expired", "--json", "-c", str(config)).stdout)
    assert round_two["storage_after"]["auto_vacuum"] == "incremental"
    assert round_two["pages_returned"] > 400  # 2 MB of bodies in 4 KB pages
    assert round_two["storage_after"]["page_count"] < round_two["storage_before"]["page_count"] / 4
    text = cli("purge", "--expired", "-c", str(config))
    assert text.returncode == 0, text.stderr
    assert "0 transmission record(s)" in text.stdout, text.stdout
