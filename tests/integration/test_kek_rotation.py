"""Rotating the key-encryption key (KEK) of the sending domains' stored DKIM keys, end to end
on a real store (SQLite and PostgreSQL) and real ``Sealpost`` nodes.

The full rotation of docs/cluster.md: domains made (and their keys sealed) under KEK1; the
config switched to KEK2 with KEK1 as previous and a SIGHUP, so the running node learns KEK2
without a restart (a domain made then is sealed with KEK2, the old ones still sign);
``sealpost dkim reseal`` (a real subprocess, with the node running) re-seals the rest;
``sealpost dkim kek-status`` counts every key under KEK2 and none under KEK1; a node started
with KEK2 only signs for every domain and dkimpy verifies the signatures. A node with KEK1
only, or with a previous file that is missing, refuses to start naming the option, the file
and the key ids. Neither KEK appears in any log record (DEBUG) or CLI output.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dkim as dkimpy
import pytest

from sealpost import node_presence
from sealpost.config.loader import load_config
from sealpost.dkim.sealing import create_secret, load_secret, sealed_with
from sealpost.domains.registry import SendingDomains
from tests.fakes.resolver import ZoneResolver
from tests.support import Pki, ServerThread, write_config

DOMAINS = ("one.test", "two.test")
LATE = "late.test"  # made through the node after it learned KEK2 by SIGHUP
MESSAGE = "From: Ann <ann@{d}>\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nHello.\r\n"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("pg_url")
    return "sqlite:///var/queue.db"


def configure(tmp_path: Path, pki: Pki, url: str, current: Path, *previous: Path) -> Path:
    dkim = {
        "key_encryption_key_file": str(current),
        "previous_key_encryption_key_files": [str(p) for p in previous],
    }
    return write_config(
        tmp_path,
        pki,
        listeners=[{"name": "mx", "tls": "none"}],
        store_url=url,
        tables={"dkim": dkim},
    )


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sealpost", "dkim", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def make_domain(server: ServerThread, resolver: ZoneResolver, domain: str) -> None:
    """A sending domain with a generated key, made and verified through the node's keyring."""
    assert server.app is not None and server.app.secret is not None
    registry = SendingDomains(
        server.app.store, server.config.server.data_dir, resolver, server.app.secret
    )

    async def make() -> None:
        record = await registry.create(domain, key_bits=1024)
        assert record.key is not None
        name = f"{record.key.selector}._domainkey.{domain}"
        resolver.add(name, "TXT", f"v=DKIM1; k=rsa; p={record.key.public}")
        await registry.verify(domain)

    server.call(make)
    # The node learns the domain through its change follower, a moment later.
    assert until(server, lambda: server.app.signing_keys.is_verified(domain)), domain


def verifies(server: ServerThread, resolver: ZoneResolver, domain: str) -> bool:
    """The node signs a message from ``domain`` and dkimpy verifies it with the records."""
    assert server.app is not None
    signed = server.app.signing_keys.sign(MESSAGE.format(d=domain).encode())

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        answer = asyncio.run(resolver.txt(name.decode().rstrip(".")))
        return "".join(answer.records).encode()

    return f"d={domain};".encode() in signed and bool(dkimpy.verify(signed, dnsfunc=dnsfunc))


def sealed_ids(server: ServerThread) -> set[str | None]:
    assert server.app is not None
    keys = server.call(server.app.store.dkim_keys)
    return {sealed_with(blob) for blob in keys.values()}


def until(server: ServerThread, condition: Callable[[], bool]) -> bool:
    async def wait() -> bool:
        for _ in range(200):
            if condition():
                return True
            await asyncio.sleep(0.05)
        return False

    return server.call(wait)


def reload(server: ServerThread) -> None:
    async def call() -> None:
        assert server.app is not None
        server.app.reload()

    server.call(call)


def published(server: ServerThread, ids: tuple[str, ...]) -> bool:
    """The node's registry entry lists ``ids`` (its heartbeat carried them)."""
    assert server.app is not None

    async def wait() -> bool:
        for _ in range(200):
            if [n.kek_ids for n in await server.app.store.nodes()] == [ids]:
                return True
            await asyncio.sleep(0.05)
        return False

    return server.call(wait)


def test_a_full_rotation_while_the_node_runs_then_a_start_with_the_new_key_only(
    tmp_path: Path,
    pki: Pki,
    store_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(node_presence, "HEARTBEAT_INTERVAL", 0.2)  # the node's, in-process
    shared = store_url.startswith("postgres")  # SQLite's registry is in the server's process
    kek1, kek2 = tmp_path / "kek1.key", tmp_path / "kek2.key"
    assert create_secret(kek1) and create_secret(kek2)
    id1, id2 = load_secret(kek1).key_id, load_secret(kek2).key_id
    resolver = ZoneResolver()
    outputs: list[str] = []

    # 1. The keys are sealed under KEK1.
    config = configure(tmp_path, pki, store_url, kek1)
    node = ServerThread(load_config(config)).start()
    try:
        for domain in DOMAINS:
            make_domain(node, resolver, domain)
        assert sealed_ids(node) == {id1}

        # 2. KEK2 current, KEK1 previous, on a SIGHUP: learnt without a restart. Before the
        # SIGHUP the node does not hold KEK2: reseal refuses (on PostgreSQL, where the CLI
        # sees the node's registry entry), and writes nothing.
        assert published(node, (id1,))
        config = configure(tmp_path, pki, store_url, kek2, kek1)
        me = {"node_id": node.config.cluster.node, "host": socket.gethostname()}
        if shared:
            early = cli(config, "reseal", "--json")
            outputs += [early.stdout, early.stderr]
            assert early.returncode == 1, early.stdout
            refusal = json.loads(early.stdout)
            assert refusal["refused"] and refusal["key_id"] == id2
            assert refusal["nodes"] == [{**me, "holds_current": "no", "kek_ids": [id1]}]
            text = " ".join(early.stderr.split())
            assert me["node_id"] in text and me["host"] in text and "SIGHUP" in text, text
            assert sealed_ids(node) == {id1}, "refused: nothing written"
            shown = cli(config, "kek-status")
            assert "no" in shown.stdout and "SIGHUP" in shown.stdout, shown.stdout
            looked = cli(config, "reseal", "--dry-run")  # shows the nodes, does not refuse
            assert looked.returncode == 0 and me["host"] in looked.stdout, looked.stdout
            outputs += [shown.stdout, looked.stdout]
        reload(node)
        assert published(node, (id2, id1)), "the next heartbeat carried KEK2"
        assert until(node, lambda: node.app.secret.key_id == id2), "the node took KEK2"
        assert node.app.secret.ids() == (id2, id1)
        make_domain(node, resolver, LATE)  # the API seals with the new current key
        assert sealed_ids(node) == {id1, id2}
        for domain in (*DOMAINS, LATE):
            assert verifies(node, resolver, domain), f"{domain} signs during the rotation"

        before = cli(config, "kek-status", "--json")
        outputs += [before.stdout, before.stderr]
        assert before.returncode == 0, before.stderr
        counts = json.loads(before.stdout)
        assert (counts["current"], counts["previous"], counts["unknown"]) == (1, 2, 0)

        # 3. Re-seal while the node runs: a dry run first writes nothing.
        dry = cli(config, "reseal", "--dry-run", "--json")
        outputs += [dry.stdout, dry.stderr]
        assert dry.returncode == 0, dry.stderr
        assert json.loads(dry.stdout)["resealed"] == 2 and json.loads(dry.stdout)["dry_run"]
        seen = [{**me, "holds_current": "yes", "kek_ids": [id2, id1]}] if shared else []
        assert json.loads(dry.stdout)["nodes"] == seen
        assert sealed_ids(node) == {id1, id2}, "--dry-run wrote nothing"
        done = cli(config, "reseal", "--json")
        outputs += [done.stdout, done.stderr]
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert (report["resealed"], report["already_current"], report["failed"]) == (2, 1, 0)
        assert report["key_id"] == id2
        assert sealed_ids(node) == {id2}
        again = cli(config, "reseal")  # people's output; nothing left to do
        outputs += [again.stdout, again.stderr]
        assert again.returncode == 0 and "re-sealed 0" in again.stdout, again.stdout

        status = cli(config, "kek-status", "--json")
        outputs += [status.stdout, status.stderr]
        after = json.loads(status.stdout)
        assert (after["current"], after["previous"], after["unknown"]) == (3, 0, 0)
        assert {r["key_id"]: r["keys"] for r in after["by_key"]} == {id2: 3, id1: 0}
        shown = cli(config, "kek-status")
        outputs += [shown.stdout, shown.stderr]
        assert id1 in shown.stdout and "remove" in shown.stdout, shown.stdout
    finally:
        node.stop()

    # 4. KEK1 leaves the config: a node with KEK2 only starts and signs for every domain.
    config = configure(tmp_path, pki, store_url, kek2)
    node = ServerThread(load_config(config)).start()
    try:
        assert node.app is not None and node.app.secret is not None
        assert node.app.secret.ids() == (id2,)
        for domain in (*DOMAINS, LATE):
            assert verifies(node, resolver, domain), f"{domain} signs with KEK2 only"
    finally:
        node.stop()

    # 5. A node with the old key only, or a previous file that is missing, refuses to start.
    configure(tmp_path, pki, store_url, kek1)
    with pytest.raises(RuntimeError) as info:
        ServerThread(load_config(tmp_path / "sealpost.toml")).start()
    text = str(info.value)
    assert "[dkim] key_encryption_key_file" in text and str(kek1) in text
    assert id2 in text and id1 in text, "names the ids the store needs and the node has"
    missing = tmp_path / "gone" / "kek0.key"
    configure(tmp_path, pki, store_url, kek2, missing)
    with pytest.raises(RuntimeError) as info:
        ServerThread(load_config(tmp_path / "sealpost.toml")).start()
    assert "[dkim] previous_key_encryption_key_files" in str(info.value)
    assert str(missing) in str(info.value)

    # No KEK, in any form, in a log record or the CLI's output.
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    assert len(caplog.records) > 10, "the nodes logged (DEBUG)"
    text += "\n".join(outputs)
    for kek in (kek1, kek2):
        encoded = kek.read_text().strip()
        raw = base64.b64decode(encoded)
        assert encoded not in text and raw.hex() not in text and repr(raw) not in text


def test_a_sighup_with_an_unreadable_kek_file_or_an_early_drop_keeps_the_running_keys(
    tmp_path: Path, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    kek1, kek2 = tmp_path / "kek1.key", tmp_path / "kek2.key"
    assert create_secret(kek1) and create_secret(kek2)
    id1 = load_secret(kek1).key_id
    resolver = ZoneResolver()
    node = ServerThread(load_config(configure(tmp_path, pki, "sqlite:///var/queue.db", kek1)))
    node.start()
    try:
        make_domain(node, resolver, "one.test")
        # A previous file that cannot be read: the whole reload is refused, one ERROR line.
        caplog.set_level(logging.INFO, logger="sealpost")
        missing = tmp_path / "nowhere.key"
        configure(tmp_path, pki, "sqlite:///var/queue.db", kek2, missing)
        reload(node)
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "refused" in errors[0], errors
        assert "previous_key_encryption_key_files" in errors[0] and str(missing) in errors[0]
        assert node.app.secret.ids() == (id1,)

        # KEK2 alone before any reseal: KEK1's keys would not open, so the keys stay.
        caplog.clear()
        configure(tmp_path, pki, "sqlite:///var/queue.db", kek2)
        reload(node)
        assert until(node, lambda: any("not reloaded" in r.getMessage() for r in caplog.records)), (
            "the check against the store ran"
        )
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and id1 in errors[0], errors
        assert node.app.secret.ids() == (id1,), "the running keys are kept"
        assert verifies(node, resolver, "one.test")
    finally:
        node.stop()


def test_the_cli_names_a_missing_kek_file_and_exits_1_when_a_key_cannot_be_resealed(
    tmp_path: Path, pki: Pki
) -> None:
    """``reseal`` re-seals what it can and exits 1 naming the key it could not (its --json
    still printed); a key file that cannot be read ends both commands with what to do."""
    from sealpost.dkim.sealing import seal
    from sealpost.store import open_store

    kek1, kek2, stranger = (tmp_path / f"{n}.key" for n in ("kek1", "kek2", "stranger"))
    for path in (kek1, kek2, stranger):
        assert create_secret(path)
    config = configure(tmp_path, pki, "sqlite:///var/queue.db", kek2, kek1)
    cfg = load_config(config)

    async def seed() -> None:
        store = open_store(cfg.store.url, base_dir=cfg.base_dir)
        await store.open()
        try:
            await store.put_dkim_key(
                "a.test", "s1", seal(load_secret(kek1), "a.test", "s1", b"A"), 1
            )
            await store.put_dkim_key(
                "b.test", "s1", seal(load_secret(stranger), "b.test", "s1", b"B"), 1
            )
        finally:
            await store.close()

    asyncio.run(seed())
    done = cli(config, "reseal", "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert (report["resealed"], report["failed"]) == (1, 1)
    assert report["failures"][0]["key"] == "s1._domainkey.b.test"
    assert load_secret(stranger).key_id in report["failures"][0]["reason"]
    shown = cli(config, "reseal")
    assert shown.returncode == 1 and "failed s1._domainkey.b.test" in " ".join(shown.stdout.split())
    status = json.loads(cli(config, "kek-status", "--json").stdout)
    assert (status["current"], status["previous"], status["unknown"]) == (1, 0, 1)
    people = cli(config, "kek-status")
    assert "unknown" in people.stdout and "does not have" in " ".join(people.stdout.split())

    kek1.unlink()
    for command in (("reseal",), ("kek-status", "--json")):
        gone = cli(config, *command)
        assert gone.returncode == 1 and not gone.stdout
        said = " ".join(gone.stderr.split())
        assert "previous_key_encryption_key_files" in said and str(kek1) in said, said
        assert "Traceback" not in gone.stderr


def test_reseal_force_writes_while_a_node_lacks_the_key_and_warns(
    tmp_path: Path, pki: Pki, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--force re-seals although the running node does not hold the new key (yet), saying so;
    once SIGHUPed the node opens the re-sealed key."""
    monkeypatch.setattr(node_presence, "HEARTBEAT_INTERVAL", 0.2)
    kek1, kek2 = tmp_path / "kek1.key", tmp_path / "kek2.key"
    assert create_secret(kek1) and create_secret(kek2)
    id1, id2 = load_secret(kek1).key_id, load_secret(kek2).key_id
    resolver = ZoneResolver()
    node = ServerThread(load_config(configure(tmp_path, pki, pg_url, kek1))).start()
    try:
        make_domain(node, resolver, "one.test")
        assert published(node, (id1,))
        config = configure(tmp_path, pki, pg_url, kek2, kek1)
        assert cli(config, "reseal").returncode == 1, "refused without --force"
        assert sealed_ids(node) == {id1}
        forced = cli(config, "reseal", "--force")
        assert forced.returncode == 0, forced.stderr
        text = " ".join(forced.stdout.split())
        assert "Warning: --force" in text and "re-sealed 1" in text, text
        assert sealed_ids(node) == {id2}
        reload(node)
        assert published(node, (id2, id1))
        signed = False
        for _ in range(100):  # the refresh after the SIGHUP opens the re-sealed key
            signed = verifies(node, resolver, "one.test")
            if signed:
                break
            time.sleep(0.05)
        assert signed, "the node signs with the re-sealed key once it holds KEK2"
    finally:
        node.stop()
