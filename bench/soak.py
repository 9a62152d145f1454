"""The kill campaign (issue 17 part 5): SIGKILL the whole server at random points under mixed
load, many times over, and account for every acknowledged message.

Owns the campaign: one data directory, one real SMTP sink (``tests/fixtures/smtp_sink.py``,
with a short stall before its reply to the final dot, so deliveries are often caught in
flight) and one real DNS server for the whole run; ``sealpost serve`` started again on the
same queue for every cycle. Built on the kill -9 durability test
(``tests/integration/test_durability.py``), with delivery out and the HTTPS API in added.

Cycles alternate between one process and a supervisor with two workers (``--workers``).
One cycle: start the server, wait for its ready line, run the load (SMTP clients on the mx
listener, a client POSTing ``/api/v1/transmissions`` over HTTPS), wait a random time, then
``kill -9`` every process of the server at once. With the server dead, the check:

- every message acknowledged in this cycle (SMTP ``250``, API ``200``) is in the queue
  (read straight from the SQLite file) or was delivered to the sink; otherwise it is lost;
- a message the sink received since the previous kill whose queue row is still ``queued``
  was in flight at this kill (delivered, its result not yet recorded): it will go out again,
  a duplicate that at-least-once delivery allows (RFC 5321 section 6.1 accepts duplicates
  over losses).

Every message carries one token (``soak-<run>-<n>``) in its subject and body, so the sink
and the queue rows are matched without knowing ids. After the last kill the server runs
once more until the sink has every acknowledged message, then stops with SIGTERM. The
result: kills, kill points (what was open when the kill came), acknowledged per door,
delivered, lost, duplicates (in flight or not), duration. Lost > 0 or an unexplained
duplicate makes the exit status 1.

    python -m bench.soak --kills 1000 --json soak.json   (or: make soak)

``--minutes`` stops the kills early and still reports what was done.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from tests.fixtures.dns_server import DnsServer
from tests.fixtures.smtp_sink import SinkOptions, SmtpSink
from tests.serve_process import READY, ready_ports
from tests.support import Pki, make_pki, write_config

TOKEN = re.compile(rb"soak-[0-9a-f]{6}-[0-9]+")
START_TIMEOUT = 60.0
DRAIN_TIMEOUT = 300.0


@dataclass
class Tally:
    """What the load saw; shared by the client threads (one lock)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[bytes, str] = field(default_factory=dict)  # token -> "smtp" | "api"
    cycle_acked: list[bytes] = field(default_factory=list)
    open_smtp: int = 0  # transactions between DATA and its reply, now
    open_api: int = 0  # transmissions POSTed and not yet answered, now
    refused: Counter[str] = field(default_factory=Counter)  # non-2xx answers

    def ack(self, token: bytes, door: str) -> None:
        with self.lock:
            self.acked[token] = door
            self.cycle_acked.append(token)

    def opened(self, door: str, delta: int) -> None:
        with self.lock:
            if door == "smtp":
                self.open_smtp += delta
            else:
                self.open_api += delta


@dataclass
class Results:
    kills: int = 0
    kill_points: Counter[str] = field(default_factory=Counter)
    in_flight: set[bytes] = field(default_factory=set)
    lost_at_kill: set[bytes] = field(default_factory=set)
    start_failures: int = 0


class Load:
    """SMTP and API clients against one running server, until ``stop``."""

    def __init__(self, run: str, tally: Tally, pki: Pki, key: str) -> None:
        self.run = run
        self.tally = tally
        self.pki = pki
        self.key = key
        self.counter = 0
        self._lock = threading.Lock()

    def token(self) -> bytes:
        with self._lock:
            self.counter += 1
            return f"soak-{self.run}-{self.counter}".encode()

    def smtp(self, port: int, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
                    client.ehlo("soak.test")
                    while not stop.is_set():
                        token = self.token()
                        body = b"Subject: " + token + b"\r\n\r\nbody " + token + b"\r\n"
                        client.mail("a@sender.test")
                        client.rcpt("u@example.test")
                        self.tally.opened("smtp", 1)
                        try:
                            code, _ = client.data(body)
                        finally:
                            self.tally.opened("smtp", -1)
                        if code == 250:
                            self.tally.ack(token, "smtp")
                        else:
                            self.tally.refused[f"smtp {code}"] += 1
                        time.sleep(random.uniform(0, 0.02))
            except (OSError, smtplib.SMTPException):
                time.sleep(0.02)  # the server died under us: expected

    def api(self, port: int, stop: threading.Event) -> None:
        ctx = self.pki.client_context()
        url = f"https://127.0.0.1:{port}/api/v1/transmissions"
        with httpx.Client(verify=ctx, headers={"Authorization": self.key}, timeout=5) as client:
            while not stop.is_set():
                token = self.token().decode()
                payload = {
                    "recipients": [{"address": "u@example.test"}],
                    "content": {"from": "a@sender.test", "subject": token, "text": token},
                }
                self.tally.opened("api", 1)
                try:
                    answer = client.post(url, json=payload)
                except httpx.HTTPError:
                    time.sleep(0.02)
                    continue
                finally:
                    self.tally.opened("api", -1)
                if answer.status_code == 200:
                    self.tally.ack(token.encode(), "api")
                else:
                    self.tally.refused[f"api {answer.status_code}"] += 1
                time.sleep(random.uniform(0, 0.02))


class Launcher:
    """``bench.soak_zygote``: forks ``sealpost serve`` on demand; stderr to one log file."""

    def __init__(self, config: Path, log: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.soak_zygote", str(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=env,
            )
        self.log = log

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(30)


class Server:
    """One ``sealpost serve`` (with its workers) forked by the launcher, in its own group."""

    def __init__(self, launcher: Launcher) -> None:
        self.launcher = launcher
        self.ports: dict[str, int] = {}
        self.pid = 0

    def start(self) -> Server:
        self.launcher.command("start")
        deadline = time.monotonic() + START_TIMEOUT
        ready = False
        while time.monotonic() < deadline and not (ready and self.pid):
            line = self.launcher.line()
            if not line:
                break
            if line.startswith("started "):
                self.pid = int(line.split()[1])
            if READY.search(line):
                ready = True
                self.ports.update(ready_ports(line))
        if ready and self.pid:
            return self
        if self.pid:
            self.kill()
        raise RuntimeError(f"the server did not start; see {self.launcher.log}")

    def _group(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(proc.pid) == self.pid:
                    found.append(proc)
            except (ProcessLookupError, psutil.Error):
                pass
        return found

    def kill(self) -> None:
        """``kill -9`` of every process of the server at once (its process group); returns
        once none of them runs (the workers, orphaned, may stay zombies for a while)."""
        procs = self._group()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.wait()
        deadline = time.monotonic() + 20
        while procs and time.monotonic() < deadline:
            procs = [p for p in procs if _running(p)]
            if procs:
                time.sleep(0.01)
        if procs:
            raise RuntimeError(f"processes outlived kill -9: {[p.pid for p in procs]}")

    def wait(self) -> int:
        self.launcher.command(f"wait {self.pid}")
        while True:
            line = self.launcher.line()
            if not line or line.startswith(f"exited {self.pid} "):
                return int(line.split()[2]) if line else -1

    def terminate(self, timeout: float = 120) -> int:
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and psutil.pid_exists(self.pid):
            try:
                if psutil.Process(self.pid).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.1)
        else:
            if time.monotonic() >= deadline:
                os.killpg(self.pid, signal.SIGKILL)
        return self.wait()


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Queue:
    """The queue file read directly (the server is dead when it is read): token -> (id, state)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[bytes, str] = {}  # token -> message id
        self._rowid = 0

    def scan(self) -> None:
        """Learn the rows added since the last scan."""
        db = sqlite3.connect(self.path, timeout=30)
        try:
            found = db.execute(
                "SELECT rowid, id, data FROM messages WHERE rowid > ? ORDER BY rowid",
                (self._rowid,),
            ).fetchall()
        finally:
            db.close()
        for rowid, message_id, data in found:
            self._rowid = max(self._rowid, rowid)
            match = TOKEN.search(bytes(data))
            if match:
                self.rows[match.group(0)] = message_id

    def states(self, tokens: list[bytes]) -> dict[bytes, str]:
        ids = {self.rows[t]: t for t in tokens if t in self.rows}
        if not ids:
            return {}
        db = sqlite3.connect(self.path, timeout=30)
        try:
            marks = ",".join("?" * len(ids))
            found = db.execute(
                f"SELECT id, state FROM messages WHERE id IN ({marks})", list(ids)
            ).fetchall()
        finally:
            db.close()
        return {ids[i]: state for i, state in found}


def delivered_tokens(sink: SmtpSink, start: int, end: int) -> list[bytes]:
    out = []
    for message in sink.messages[start:end]:
        match = TOKEN.search(message.body)
        if match:
            out.append(match.group(0))
    return out


def kill_point(tally: Tally, sink: SmtpSink) -> str:
    """What was open at the kill: SMTP DATA, an API request, a delivery (any combination)."""
    parts = []
    if tally.open_smtp:
        parts.append("smtp-data")
    if tally.open_api:
        parts.append("api-request")
    if sink.transactions:
        parts.append("delivery")
    return "+".join(parts) or "between"


def api_key(config: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "sealpost", "keys", "create", "-c", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return str(json.loads(done.stdout)["key"])


def campaign(
    directory: Path,
    kills: int,
    *,
    workers: tuple[int, ...] = (1, 2),
    minutes: float | None = None,
    load_min: float = 0.2,
    load_max: float = 1.0,
    smtp_clients: int = 2,
    seed: int | None = None,
    progress: bool = False,
) -> dict[str, object]:
    rng = random.Random(seed)
    run = f"{rng.getrandbits(24):06x}"
    pki = make_pki(directory / "pki")
    dns = DnsServer().start()
    sink = SmtpSink(SinkOptions(stall={"DOT": 0.03})).start()
    tables = {
        "dns": {"nameservers": [dns.nameserver], "timeout": 2},
        "delivery": {"enabled": True, "poll_interval": 1, "default_tls": "may"},
        "delivery.routes": {"example.test": f"127.0.0.1:{sink.port}"},
        "api": {"address": "127.0.0.1:0", "allow_unverified_domains": True},
    }
    listeners = [{"name": "mx", "tls": "none"}]

    def configure(count: int) -> Path:  # reread by every start
        return write_config(
            directory, pki, listeners=listeners, server={"workers": count}, tables=tables
        )

    config = configure(workers[0])
    key = api_key(config)
    tally = Tally()
    load = Load(run, tally, pki, key)
    queue = Queue(directory / "var" / "queue.db")
    results = Results()
    launcher = Launcher(config, directory / "server.log")
    seen = 0  # sink messages accounted for
    delivered_all: set[bytes] = set()
    began = time.monotonic()
    budget = began + minutes * 60 if minutes else None
    per_mode: Counter[int] = Counter()
    try:
        for cycle in range(kills):
            if budget is not None and time.monotonic() > budget:
                break
            count = workers[cycle % len(workers)]
            if len(workers) > 1:
                configure(count)
            per_mode[count] += 1
            try:
                server = Server(launcher).start()
            except RuntimeError:
                results.start_failures += 1
                raise
            stop = threading.Event()
            threads = [
                threading.Thread(target=load.smtp, args=(server.ports["mx"], stop), daemon=True)
                for _ in range(smtp_clients)
            ]
            threads.append(
                threading.Thread(target=load.api, args=(server.ports["api"], stop), daemon=True)
            )
            for t in threads:
                t.start()
            time.sleep(rng.uniform(load_min, load_max))
            results.kill_points[kill_point(tally, sink)] += 1
            server.kill()
            results.kills += 1
            stop.set()
            for t in threads:
                t.join(15)
            time.sleep(0.05)  # let the sink take in what was already on the wire
            end = len(sink.messages)
            queue.scan()
            with tally.lock:
                acked, tally.cycle_acked = tally.cycle_acked, []
            delivered_now = delivered_tokens(sink, seen, end)
            delivered_all.update(delivered_now)
            lost = [t for t in acked if t not in queue.rows and t not in delivered_all]
            results.lost_at_kill.update(lost)
            for token, state in queue.states(delivered_now).items():
                if state == "queued":
                    results.in_flight.add(token)
            seen = end
            if progress and (cycle + 1) % 25 == 0:
                print(
                    f"{cycle + 1} kills, {len(tally.acked)} acknowledged, "
                    f"{end} delivered, {len(results.lost_at_kill)} lost, "
                    f"{time.monotonic() - began:.0f} s",
                    flush=True,
                )
        # The last run: deliver everything that is left, then stop cleanly (SIGTERM).
        configure(workers[0])
        server = Server(launcher).start()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline:
            got = set(delivered_tokens(sink, 0, len(sink.messages)))
            if all(t in got for t in tally.acked):
                break
            time.sleep(0.2)
        status = server.terminate()
        elapsed = time.monotonic() - began
    finally:
        launcher.close()
        sink.stop()
        dns.stop()
    queue.scan()
    counts = Counter(delivered_tokens(sink, 0, len(sink.messages)))
    lost = sorted(t.decode() for t in tally.acked if t not in counts)
    duplicates = {t: n for t, n in counts.items() if n > 1}
    explained = [t for t in duplicates if t in results.in_flight]
    unexplained = sorted(t.decode() for t in duplicates if t not in results.in_flight)
    doors = Counter(tally.acked.values())
    return {
        "kills": results.kills,
        "kills_by_workers": {str(k): v for k, v in sorted(per_mode.items())},
        "kill_points": dict(results.kill_points.most_common()),
        "acknowledged": len(tally.acked),
        "acknowledged_smtp": doors["smtp"],
        "acknowledged_api": doors["api"],
        "refused": dict(tally.refused),
        "delivered_messages": len(counts),
        "delivered_total": sum(counts.values()),
        "unacknowledged_delivered": len([t for t in counts if t not in tally.acked]),
        "lost": len(lost),
        "lost_tokens": lost[:20],
        "missing_at_a_kill": len(results.lost_at_kill),
        "in_flight_at_kills": len(results.in_flight),
        "duplicates": len(duplicates),
        "duplicates_in_flight": len(explained),
        "duplicates_unexplained": len(unexplained),
        "unexplained_tokens": unexplained[:20],
        "final_exit_status": status,
        "seconds": round(elapsed, 1),
        "seconds_per_kill": round(elapsed / max(1, results.kills), 2),
    }


def passed(result: dict[str, object]) -> bool:
    return (
        result["lost"] == 0
        and result["missing_at_a_kill"] == 0
        and result["duplicates_unexplained"] == 0
        and result["final_exit_status"] == 0
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument(
        "--workers",
        default="1,2",
        help="[server] workers per cycle, in turn (default 1,2: one process, then a "
        "supervisor with two workers)",
    )
    parser.add_argument(
        "--minutes", type=float, help="stop killing after this long and report what was done"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", type=Path, help="write the result here as well")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args(argv)
    from bench.machine import describe_machine

    with tempfile.TemporaryDirectory(prefix="sealpost-soak-") as tmp:
        result = campaign(
            Path(tmp),
            args.kills,
            workers=tuple(int(n) for n in args.workers.split(",")),
            minutes=args.minutes,
            seed=args.seed,
            progress=True,
        )
        if args.keep:
            kept = Path(tempfile.mkdtemp(prefix="sealpost-soak-kept-"))
            subprocess.run(["cp", "-a", f"{tmp}/.", str(kept)], check=False)
            result["kept"] = str(kept)
    result["machine"] = describe_machine().to_dict()
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if passed(result) else 1


if __name__ == "__main__":
    sys.exit(main())
