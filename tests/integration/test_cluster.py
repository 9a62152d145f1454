"""Cluster mode (issue 13 item 2): several Sealpost nodes on one PostgreSQL queue.

Real parts only: the PostgreSQL server of ``tests/fixtures/postgres.py`` (a database of this
run's own), real ``sealpost serve`` processes with real SMTP listeners, and the loopback SMTP
sink as the destination (a static route). Every node sets ``poll_interval`` far beyond the
waits here, so prompt delivery of mail another node accepted can only come from LISTEN/NOTIFY.
Each node's EHLO name is its node id, so the sink tells which node delivered what.
Proved here: ``[cluster] node_id`` reaches the store, and a PostgreSQL node may run several
workers; a dispatcher wakes on mail another node queued; mail accepted by a node that does
not deliver goes out through the other at once; two ``serve`` processes (one of them with
two workers) deliver mail accepted by either exactly once, and one node's CLI reads the
events and queue of the whole cluster; a restarted node takes back its own leases, not a
live node's. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from sealpost.app import Sealpost
from sealpost.config.loader import load_config
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.ids import new_message_id
from sealpost.outbound import build_dispatcher
from sealpost.runner import worker_count
from sealpost.store.postgres import PostgresStore
from tests.fixtures.smtp_sink import SmtpSink
from tests.support import Pki, make_pki, write_config

POLL = 120.0  # seconds: nothing in these tests may wait for a poll
PROMPT = 10.0  # every message must reach the sink within this (far below POLL)
PLAIN = {"name": "mx", "tls": "none"}


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def node_config(
    directory: Path,
    pki: Pki,
    url: str,
    sink: SmtpSink,
    node_id: str,
    *,
    deliver: bool = True,
    workers: int = 1,
    delivery: dict[str, object] | None = None,
    extra: dict[str, dict[str, object]] | None = None,
) -> Path:
    """A node's sealpost.toml: its own directory and id, the shared database, mail for
    example.test routed to the sink; its EHLO name is its id, so the sink tells who sent."""
    directory.mkdir(parents=True, exist_ok=True)
    tables = {
        "cluster": {"node_id": node_id},
        "delivery": {
            "enabled": deliver,
            "poll_interval": POLL,
            "default_tls": "may",
            "helo_name": f"{node_id}.cluster.test",
            **(delivery or {}),
        },
        "delivery.routes": {"example.test": f"127.0.0.1:{sink.port}"},
        **(extra or {}),
    }
    return write_config(
        directory,
        pki,
        listeners=[PLAIN],
        server={"workers": workers},
        store_url=url,
        tables=tables,
    )


def inbound(*recipients: str) -> InboundMessage:
    return InboundMessage(
        Envelope("a@sender.test", recipients),
        SessionInfo("mx", "127.0.0.1", 1234, helo="client.test", local_hostname="mx.test"),
        b"Subject: queued by b\r\n\r\nbody\r\n",
    )


def send(port: int, subjects: list[str]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        for subject in subjects:
            body = f"Subject: {subject}\r\n\r\nbody of {subject}\r\n"
            client.sendmail("a@sender.test", ["u@example.test"], body)


def subjects_at(sink: SmtpSink) -> list[str]:
    found = []
    for received in list(sink.messages):
        for line in received.body.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                found.append(line[len(b"Subject: ") :].decode())
    return found


def wait_for(sink: SmtpSink, count: int, within: float) -> float:
    """Seconds until the sink holds ``count`` messages; fails after ``within``."""
    start = time.monotonic()
    while len(sink.messages) < count:
        if time.monotonic() - start > within:
            raise AssertionError(f"{len(sink.messages)} of {count} delivered in {within} s")
        time.sleep(0.02)
    return time.monotonic() - start


def cli(config: Path, *args: str) -> str:
    """``sealpost <args> -c config``'s output."""
    command = [sys.executable, "-m", "sealpost", *args, "-c", str(config)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout


def senders(sink: SmtpSink) -> Counter[str]:
    """Messages per EHLO name: how many each node delivered."""
    out: Counter[str] = Counter()
    for session in list(sink.sessions):
        ehlo = next((c.split()[1] for c in session.commands if c.upper().startswith("EHLO")), "")
        out[ehlo] += sum(1 for c in session.commands if c.upper() == "DATA")
    return out


def test_node_id_is_read_from_the_config_and_postgres_nodes_may_run_workers(
    tmp_path: Path, pki: Pki
) -> None:
    config = load_config(
        write_config(
            tmp_path,
            pki,
            server={"workers": 3},
            store_url="postgresql://sealpost@db.example.test/sealpost",
            tables={"cluster": {"node_id": "node-a"}},
        )
    )
    assert config.cluster.node == "node-a"
    assert Sealpost(config).store.node_id == "node-a", "the composition root passes it on"
    assert worker_count(config) == 3, "a PostgreSQL node runs its workers"
    memory = load_config(write_config(tmp_path, pki, server={"workers": 3}, store_url="memory://"))
    assert worker_count(memory) == 1


def test_a_dispatcher_wakes_on_mail_another_node_queued(
    tmp_path: Path, pki: Pki, pg_url: str, smtp_sink
) -> None:
    """Node b queues; node a's dispatcher (poll_interval 120 s) delivers it at once."""
    sink = smtp_sink()
    config = load_config(node_config(tmp_path, pki, pg_url, sink, "a"))

    async def main() -> float:
        a, b = PostgresStore(pg_url, node_id="a"), PostgresStore(pg_url, node_id="b")
        await a.open()
        await b.open()

        async def no_dsn(_recipient: str, _data: bytes) -> None:
            raise AssertionError("no bounce expected")

        dispatcher, pool = build_dispatcher(config, a, no_dsn)
        stop = asyncio.Event()
        running = asyncio.get_running_loop().create_task(dispatcher.run(stop))
        try:
            await asyncio.sleep(0.5)  # past the first scan: from now on only a wake-up is prompt
            started = time.monotonic()
            now = time.time()
            await b.enqueue(new_message_id(now), inbound("u@example.test"), now)
            while not sink.messages:
                assert time.monotonic() - started < PROMPT, "not delivered: no wake-up"
                await asyncio.sleep(0.02)
            return time.monotonic() - started
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)
            await pool.close_all()
            await a.close()
            await b.close()

    elapsed = asyncio.run(main())
    assert elapsed < PROMPT
    assert senders(sink) == Counter({"a.cluster.test": 1})


def test_mail_accepted_by_a_node_that_does_not_deliver_is_delivered_by_the_other_at_once(
    tmp_path: Path, pki: Pki, pg_url: str, smtp_sink, spawn
) -> None:
    sink = smtp_sink()
    a = spawn(node_config(tmp_path / "a", pki, pg_url, sink, "node-a", deliver=False))
    b = spawn(node_config(tmp_path / "b", pki, pg_url, sink, "node-b"))
    time.sleep(0.5)  # past b's first scan of the queue
    for n in range(3):
        send(a.ports["mx"], [f"only-b-{n}"])
        wait_for(sink, n + 1, PROMPT)
    assert sorted(subjects_at(sink)) == [f"only-b-{n}" for n in range(3)]
    assert senders(sink) == Counter({"node-b.cluster.test": 3})
    for server in (a, b):
        assert server.terminate() == ""  # stopped cleanly, nothing logged at warning level


def test_two_nodes_deliver_mail_accepted_by_either_exactly_once(
    tmp_path: Path, pki: Pki, pg_url: str, smtp_sink, spawn
) -> None:
    sink = smtp_sink()
    configs = {  # node b runs two worker processes: its first one is its dispatcher
        name: node_config(tmp_path / name, pki, pg_url, sink, name, workers=workers)
        for name, workers in (("node-a", 1), ("node-b", 2))
    }
    nodes = {name: spawn(path) for name, path in configs.items()}
    assert len(nodes["node-b"].worker_pids()) == 2
    time.sleep(0.5)
    started = time.monotonic()
    expected = []
    for batch in range(4):  # batches alternate between the nodes
        name = "node-a" if batch % 2 == 0 else "node-b"
        subjects = [f"{name}-{batch}-{n}" for n in range(5)]
        send(nodes[name].ports["mx"], subjects)
        expected += subjects
    wait_for(sink, len(expected), PROMPT)
    elapsed = time.monotonic() - started
    time.sleep(1.0)  # a duplicate would arrive now
    assert sorted(subjects_at(sink)) == sorted(expected), "each message exactly once"
    print(f"\n{len(expected)} messages sent and delivered in {elapsed:.2f} s: {senders(sink)}")

    # Node b's CLI reads the whole cluster: every injection and delivery, whoever did it.
    events = cli(configs["node-b"], "events", "--json", "--limit", "1000")
    kinds = Counter(json.loads(line)["type"] for line in events.splitlines())
    assert kinds == Counter({"injection": len(expected), "delivery": len(expected)})
    listing = cli(configs["node-b"], "queue", "list", "--json", "--limit", "1000")
    assert Counter(row["state"] for row in json.loads(listing)) == {"done": len(expected)}
    for server in nodes.values():
        assert server.terminate() == ""


def test_a_restarted_node_takes_back_its_own_leases_and_leaves_the_others(
    tmp_path: Path, pki: Pki, pg_url: str, smtp_sink, spawn
) -> None:
    """Leases held under node-b's id (its previous run, killed mid-delivery) are given back
    when node-b starts, so that mail goes out at once; a lease of a live node-c stays."""
    sink = smtp_sink()

    async def leave_leases() -> None:
        queuer = PostgresStore(pg_url, node_id="queuer")
        old_b, live_c = (
            PostgresStore(pg_url, node_id="node-b"),
            PostgresStore(pg_url, node_id="node-c"),
        )
        for store in (queuer, old_b, live_c):
            await store.open()
        now = time.time()
        for n, holder in enumerate((old_b, live_c)):
            await queuer.enqueue(new_message_id(now + n), inbound("u@example.test"), now)
            [claim] = await holder.claim_due(time.time(), 1, 3600)
            assert claim.message.id
        for store in (queuer, old_b, live_c):
            await store.close()

    asyncio.run(leave_leases())
    spawn(node_config(tmp_path / "b", pki, pg_url, sink, "node-b"))
    wait_for(sink, 1, PROMPT)
    time.sleep(1.0)  # node-c's message would arrive now if its lease had been taken
    assert len(sink.messages) == 1
    assert senders(sink) == Counter({"node-b.cluster.test": 1})
