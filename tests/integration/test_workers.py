"""``[server] workers = 2``: several processes serve one server (issue 12 item 4).

Every test runs ``sealpost serve`` as a real process with two workers and real loopback
clients. Which process serves a connection is read from the kernel (psutil: the worker that
holds the accepted socket), so nothing in the server has to reveal it. Proved here: both
workers accept; SIGHUP reaches each of them; a worker killed with ``kill -9`` is replaced and
serves again; killing the supervisor makes the workers drain and exit and frees the port;
SIGTERM drains and exits 0; the per-IP limit holds for the whole server; mail queued by
either worker reaches the sink at once (its own dispatcher wakes), not at the next poll; both
workers deliver, and the per-domain session limit holds for the two together; and a key
revoked by the CLI fails SMTP AUTH in every worker at once. Every wait is bounded.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import smtplib
import socket
import sqlite3
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.integration.test_process import (
    IMPLICIT,
    edit_config,
    peer_serial,
    renew_certificate,
    tls_conversation,
)
from tests.interop.daemon_process import free_loopback_port
from tests.serve_process import ServerProcess
from tests.support import HOSTNAME, Conversation, Pki, make_pki, write_config

WAIT = 15.0
PLAIN = {"name": "mx", "tls": "none"}
TWO = {"workers": 2}


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def serving_pid(server: ServerProcess, client: socket.socket) -> int:
    """The worker holding the server side of ``client``'s connection."""
    port = client.getsockname()[1]
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for pid in server.worker_pids():
            try:
                connections = psutil.Process(pid).net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                continue
            if any(c.raddr and c.raddr.port == port for c in connections):
                return pid
        time.sleep(0.02)
    raise AssertionError(f"no worker holds the connection from port {port}")


def hold_until_both(
    server: ServerProcess, connect: Callable[[], Conversation], limit: int = 40
) -> tuple[list[Conversation], dict[int, int]]:
    """Open connections (kept open) until two distinct workers serve them."""
    held: list[Conversation] = []
    by_pid: dict[int, int] = {}
    while len(by_pid) < 2 and len(held) < limit:
        conv = connect()
        held.append(conv)
        pid = serving_pid(server, conv.sock)
        by_pid[pid] = by_pid.get(pid, 0) + 1
    return held, by_pid


def banner(port: int) -> Conversation:
    conv = Conversation(port)
    code, text = conv.reply()
    assert code == 220, text
    return conv


def stop(server: ServerProcess) -> str:
    server.proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = server.proc.communicate(timeout=WAIT + 45)
    except subprocess.TimeoutExpired:
        server.kill_all()
        raise AssertionError("no exit after SIGTERM") from None
    assert server.proc.returncode == 0, stderr
    return stderr


def test_two_workers_accept_on_the_same_sockets(tmp_path: Path, pki: Pki, spawn):
    server = spawn(write_config(tmp_path, pki, listeners=[PLAIN], server=TWO))
    assert len(server.worker_pids()) == 2
    held, by_pid = hold_until_both(server, lambda: banner(server.ports["mx"]))
    assert set(by_pid) == set(server.worker_pids()), by_pid
    for conv in held:
        assert conv.cmd("QUIT")[0] == 221
        conv.close()
    stop(server)


def test_sighup_reloads_the_certificate_in_every_worker(tmp_path: Path, pki: Pki, spawn):
    config = write_config(tmp_path, pki, listeners=[IMPLICIT], server=TWO)
    edit_config(config, "reload_interval = 1", "reload_interval = 3600")  # only SIGHUP reloads
    server = spawn(config)
    port = server.ports["submissions"]
    old_serial = peer_serial(port, pki)
    new_serial = renew_certificate(pki)
    server.proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)  # the signal is forwarded, then each worker reloads
    held, by_pid = hold_until_both(server, lambda: tls_conversation(port, pki))
    assert len(by_pid) == 2, "the connections did not reach both workers"
    serials = {
        conv.sock.getpeercert(binary_form=True) and _serial(conv.sock.getpeercert(True))
        for conv in held
    }
    assert serials == {new_serial}, f"old serial {old_serial} still served: {serials}"
    for conv in held:
        conv.close()
    stop(server)


def _serial(der: bytes | None) -> int:
    from cryptography import x509

    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def resumed_on(
    server: ServerProcess, port: int, client: ssl.SSLContext, session: ssl.SSLSession | None
) -> tuple[ssl.SSLSession, bool, int]:
    """One implicit-TLS session showing ``session``: the session held after the banner (a
    TLS 1.3 ticket comes after the handshake), whether it was resumed, and the worker."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=WAIT) as raw,
        client.wrap_socket(raw, server_hostname=HOSTNAME, session=session) as tls,
    ):
        pid = serving_pid(server, tls)
        assert tls.recv(512).startswith(b"220 "), "no banner"
        tls.sendall(b"QUIT\r\n")
        tls.recv(512)
        assert tls.session is not None
        return tls.session, tls.session_reused, pid


def test_a_session_ticket_from_either_worker_resumes_on_both(tmp_path: Path, pki: Pki, spawn):
    # Each worker's SSL_CTX made its own ticket key: a client resumed only when the kernel
    # gave its next connection to the worker that issued the ticket (net/session_tickets).
    server = spawn(write_config(tmp_path, pki, listeners=[IMPLICIT], server=TWO))
    port = server.ports["submissions"]
    client = pki.client_context()
    session, reused, first = resumed_on(server, port, client, None)
    assert not reused
    outcomes: dict[int, list[bool]] = {}
    for _ in range(40):
        session, reused, pid = resumed_on(server, port, client, session)
        outcomes.setdefault(pid, []).append(reused)
        if (
            len(outcomes) == 2
            and len(outcomes[first]) > 0
            and sum(map(len, outcomes.values())) >= 6
        ):
            break
    assert set(outcomes) == set(server.worker_pids()), "the connections did not reach both"
    assert all(all(results) for results in outcomes.values()), outcomes
    stop(server)


def test_a_killed_worker_is_replaced_and_serves(tmp_path: Path, pki: Pki, spawn):
    server = spawn(write_config(tmp_path, pki, listeners=[PLAIN], server=TWO))
    first = sorted(server.worker_pids())
    victim = first[1]
    psutil.Process(victim).send_signal(signal.SIGKILL)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        now = server.worker_pids()
        if victim not in now and len(now) == 2:
            break
        time.sleep(0.05)
    replacement = set(server.worker_pids()) - set(first)
    assert len(replacement) == 1, server.worker_pids()
    held, by_pid = hold_until_both(server, lambda: banner(server.ports["mx"]))
    assert replacement <= set(by_pid), f"the new worker serves nothing: {by_pid}"
    for conv in held:
        conv.close()
    stop(server)


def send_one(port: int, tag: str) -> str:
    with smtplib.SMTP("127.0.0.1", port, timeout=WAIT) as client:
        client.ehlo("writer.test")
        client.mail("a@sender.test")
        client.rcpt("u@example.test")
        code, text = client.data(f"Subject: {tag}\r\n\r\nbody\r\n".encode())
    assert code == 250, text
    return text.decode()


def test_new_mail_is_committed_by_the_supervisors_queue_writer(tmp_path: Path, pki: Pki, spawn):
    """With SQLite the supervisor runs the queue writer in its own loop: the workers' new
    mail is written to disk by the supervisor process, and the run directory that holds
    its socket is private and removed at the end."""
    server = spawn(write_config(tmp_path, pki, listeners=[PLAIN], server=TWO))
    supervisor = psutil.Process(server.proc.pid)
    assert len(server.worker_pids()) == 2
    run_dir = _writer_directory(supervisor)
    assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700
    before = supervisor.io_counters().write_bytes
    for n in range(5):
        send_one(server.ports["mx"], f"first-{n}")
    assert supervisor.io_counters().write_bytes > before, "the queue writer wrote nothing"
    stop(server)
    assert not os.path.exists(run_dir)


def test_ctrl_c_to_the_whole_group_drains_the_workers_and_exits_0(tmp_path: Path, pki: Pki, spawn):
    """A terminal's Ctrl-C reaches every process of the group: the workers ignore it and
    the supervisor stops them, its queue writer serving until the last one is gone; exit 0,
    and the mail acknowledged before is stored."""
    config = write_config(tmp_path, pki, listeners=[PLAIN], server=TWO)
    server = spawn(config, preexec=os.setsid)  # its own group, as under a terminal
    send_one(server.ports["mx"], "before-ctrl-c")
    workers = [psutil.Process(pid) for pid in server.worker_pids()]
    os.killpg(server.proc.pid, signal.SIGINT)
    try:
        server.proc.wait(WAIT + 45)
    except subprocess.TimeoutExpired:
        server.kill_all()
        raise AssertionError("no exit after SIGINT") from None
    assert server.proc.returncode == 0, server.proc.communicate()[1]
    assert not [w.pid for w in workers if _alive(w)]
    assert "Traceback" not in server.proc.communicate()[1]


def _writer_directory(supervisor: psutil.Process) -> str:
    """The private directory of the queue writer's socket, from the supervisor's sockets."""
    paths = [c.laddr for c in supervisor.net_connections(kind="unix") if c.laddr]
    sockets = [path for path in paths if path.endswith("/writer.sock")]
    assert len(sockets) == 1, paths
    return os.path.dirname(sockets[0])


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_killing_the_supervisor_stops_the_workers_and_frees_the_port(
    tmp_path: Path, pki: Pki, spawn
):
    port = free_loopback_port()
    listener = {**PLAIN, "address": f"127.0.0.1:{port}"}
    config = write_config(tmp_path, pki, listeners=[listener], server=TWO)
    server = spawn(config)
    held = banner(port)  # a client mid-session does not keep the workers alive
    workers = [psutil.Process(pid) for pid in server.worker_pids()]
    run_dir = _writer_directory(psutil.Process(server.proc.pid))
    server.kill()
    _, alive = psutil.wait_procs(workers, timeout=WAIT)
    assert not alive, "workers outlived their supervisor"
    assert not os.path.exists(run_dir), "nobody removed the killed writer's directory"
    held.close()
    again = spawn(config)
    assert again.ports["mx"] == port
    conv = banner(port)
    assert conv.cmd("QUIT")[0] == 221
    conv.close()
    stop(again)


def test_sigterm_drains_every_worker_and_exits_0(tmp_path: Path, pki: Pki, spawn):
    server = spawn(write_config(tmp_path, pki, listeners=[PLAIN], server=TWO))
    held, by_pid = hold_until_both(server, lambda: banner(server.ports["mx"]))
    for conv in held:
        assert conv.cmd("EHLO drain.test")[0] == 250
    workers = [psutil.Process(pid) for pid in by_pid]
    stop(server)
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    for conv in held:  # idle sessions: 421 4.3.2 at once (RFC 5321 section 3.8), closed
        code, text = conv.reply()
        assert (code, text[:10]) == (421, "421 4.3.2 "), text
        assert conv.closed()
        conv.close()


def test_the_per_ip_limit_holds_for_the_whole_server(tmp_path: Path, pki: Pki, spawn):
    limits = {**TWO, "max_connections_per_ip": 3, "limit_exempt": []}
    server = spawn(write_config(tmp_path, pki, listeners=[PLAIN], server=limits))
    port = server.ports["mx"]
    for _ in range(20):  # until the three admitted ones are spread over both workers
        held = [banner(port) for _ in range(3)]
        pids = {serving_pid(server, conv.sock) for conv in held}
        if len(pids) == 2:
            break
        for conv in held:
            assert conv.cmd("QUIT")[0] == 221
            conv.close()
        time.sleep(0.1)
    assert len(pids) == 2, "three connections never spread over both workers"
    fourth = Conversation(port)
    code, text = fourth.reply()
    assert (code, text[:9]) == (421, "421 4.7.0"), text
    fourth.close()
    for conv in held:
        conv.close()
    stop(server)


def test_mail_queued_by_any_worker_is_delivered_at_once(
    tmp_path: Path, pki: Pki, spawn, dns_server, smtp_sink
):
    sink = smtp_sink()
    tables = {
        "dns": {"nameservers": [dns_server.nameserver], "timeout": 2},
        "delivery": {"enabled": True, "poll_interval": 120, "default_tls": "may"},
        "delivery.routes": {"example.test": f"127.0.0.1:{sink.port}"},
    }
    config = write_config(tmp_path, pki, listeners=[PLAIN], server=TWO, tables=tables)
    server = spawn(config)
    port = server.ports["mx"]
    time.sleep(0.5)  # past the dispatcher's first scan: from now on only a wake-up is prompt
    served: set[int] = set()
    for n in range(12):
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo("wake.test")
            assert client.sock is not None
            served.add(serving_pid(server, client.sock))
            client.sendmail("a@sender.test", ["u@example.test"], f"Subject: w{n}\r\n\r\nx\r\n")
        deadline = time.monotonic() + 5  # far below the 120 s poll
        while len(sink.messages) <= n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(sink.messages) == n + 1, f"message {n} not delivered within 5 s"
        if len(served) == 2 and n >= 1:
            break
    assert len(served) == 2, "every message was served by the same worker"
    stop(server)


def sink_holders(server: ServerProcess, sink_port: int) -> set[int]:
    """The workers that hold a connection to the sink now."""
    holders = set()
    for pid in server.worker_pids():
        with contextlib.suppress(psutil.NoSuchProcess):
            conns = psutil.Process(pid).net_connections(kind="tcp")
            if any(c.raddr and c.raddr.port == sink_port for c in conns):
                holders.add(pid)
    return holders


def queue_for_the_sink(
    tmp_path: Path, pki: Pki, spawn, dns_server, sink, count: int, *, per_domain: int
) -> ServerProcess:
    """Two workers delivering example.test to ``sink``, and ``count`` messages for it, one
    connection each (so both workers accept some)."""
    tables = {
        "dns": {"nameservers": [dns_server.nameserver], "timeout": 2},
        "delivery": {"enabled": True, "default_tls": "may", "per_domain_concurrency": per_domain},
        "delivery.routes": {"example.test": f"127.0.0.1:{sink.port}"},
    }
    server = spawn(write_config(tmp_path, pki, listeners=[PLAIN], server=TWO, tables=tables))
    for n in range(count):
        with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as client:
            client.sendmail("a@sender.test", [f"u{n}@example.test"], f"Subject: {n}\r\n\r\nx\r\n")
    return server


def test_every_worker_delivers_and_the_per_domain_limit_holds_for_both(
    tmp_path: Path, pki: Pki, spawn, dns_server, smtp_sink
):
    sink = smtp_sink(stall={"DOT": 0.4})  # each delivery holds its session a while
    count = 24
    server = queue_for_the_sink(tmp_path, pki, spawn, dns_server, sink, count, per_domain=3)
    delivering: set[int] = set()  # the workers seen holding a connection to the sink
    deadline = time.monotonic() + 30
    while len(sink.messages) < count and time.monotonic() < deadline:
        delivering |= sink_holders(server, sink.port)
        time.sleep(0.05)
    assert sorted(m.recipients[0] for m in sink.messages) == sorted(
        f"u{n}@example.test" for n in range(count)
    ), "each message once"
    assert len(delivering) == 2, "one worker did all the delivering"
    assert sink.peak_transactions <= 3, "the workers together went over per_domain_concurrency"
    stop(server)


def test_a_worker_killed_while_delivering_leaves_its_mail_to_its_successor_alone(
    tmp_path: Path, pki: Pki, spawn, dns_server, smtp_sink
):
    """kill -9 of one worker in the middle of deliveries: its successor releases the leases
    its seat held (due at once, not after the hour-long lease) and nothing else, so the only
    messages sent twice are the ones that worker had in a session (at most its share of
    ``per_domain_concurrency``, 2), never the other worker's."""
    sink = smtp_sink(stall={"DOT": 1.0})
    count = 20
    server = queue_for_the_sink(tmp_path, pki, spawn, dns_server, sink, count, per_domain=4)
    deadline = time.monotonic() + WAIT
    while len(holders := sink_holders(server, sink.port)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(holders) == 2, "both workers deliver"
    victim = max(holders, key=lambda pid: psutil.Process(pid).create_time())
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60  # far below the 3600 s lease
    expected = {f"u{n}@example.test" for n in range(count)}
    while {m.recipients[0] for m in sink.messages} != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    received = [m.recipients[0] for m in sink.messages]
    assert set(received) == expected, "a message of the killed worker was not delivered"
    assert len(received) - count <= 2, f"sent twice beyond the killed worker's: {received}"
    assert victim not in server.worker_pids() and len(server.worker_pids()) == 2
    stop(server)


def test_workers_that_keep_dying_stop_the_server_with_an_error(tmp_path: Path, pki: Pki, spawn):
    server = spawn(write_config(tmp_path, pki, listeners=[PLAIN], server=TWO))
    for _ in range(6):  # the sixth restart within a minute is one too many
        if server.proc.poll() is not None:
            break
        pids = server.worker_pids()
        assert pids, "no worker to kill"
        psutil.Process(pids[-1]).send_signal(signal.SIGKILL)
        deadline = time.monotonic() + WAIT
        while pids[-1] in server.worker_pids():  # reaped: each kill is one restart
            if time.monotonic() > deadline:
                raise AssertionError("the killed worker was not reaped")
            time.sleep(0.02)
        while len(server.worker_pids()) < 2 and server.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError("the worker was not replaced")
            time.sleep(0.02)
    _, stderr = server.proc.communicate(timeout=WAIT + 45)
    assert server.proc.returncode == 1, stderr
    assert "keep dying" in stderr


def auth_reply(conv: Conversation, key: str) -> int:
    assert conv.cmd("EHLO client.test")[0] == 250
    token = base64.b64encode(f"\0SMTP_Injection\0{key}".encode()).decode()
    return conv.cmd(f"AUTH PLAIN {token}")[0]


def test_a_revoked_key_is_refused_by_every_worker_at_once(tmp_path: Path, pki: Pki, spawn):
    """The workers share one SQLite file and keep no key in memory: a key revoked (here by
    the CLI, another process) fails SMTP AUTH in each worker on the next try."""
    config = write_config(tmp_path, pki, listeners=[IMPLICIT], server=TWO)
    server = spawn(config)
    port = server.ports["submissions"]

    def sealpost(*args: str) -> str:
        command = [sys.executable, "-m", "sealpost", *args, "-c", str(config)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
        return done.stdout

    made = json.loads(sealpost("keys", "create", "--label", "revoked", "--json"))
    held, by_pid = hold_until_both(server, lambda: tls_conversation(port, pki))
    assert len(by_pid) == 2, "the connections did not reach both workers"
    assert [auth_reply(conv, made["key"]) for conv in held] == [235] * len(held)
    for conv in held:
        conv.close()
    sealpost("keys", "revoke", made["id"])
    held, by_pid = hold_until_both(server, lambda: tls_conversation(port, pki))
    assert len(by_pid) == 2, "the connections did not reach both workers"
    assert [auth_reply(conv, made["key"]) for conv in held] == [535] * len(held)
    for conv in held:
        conv.close()


class Https:
    """One kept-alive HTTPS connection to the API, spoken by hand, so the test can tell
    (``serving_pid``) which worker serves it."""

    def __init__(self, port: int, pki: Pki) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.sock = pki.client_context().wrap_socket(raw, server_hostname="localhost")
        self.buf = b""

    def request(
        self, method: str, path: str, *, key: str = "", body: object = None
    ) -> tuple[int, dict[str, str], bytes]:
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", "Host: localhost", f"Content-Length: {len(data)}"]
        head += [f"Authorization: {key}"] if key else []
        head += ["Content-Type: application/json"] if body is not None else []
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        while b"\r\n\r\n" not in self.buf:
            self._read()
        top, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status, *fields = top.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (f.split(":", 1) for f in fields)}
        while len(self.buf) < int(headers["content-length"]):
            self._read()
        size = int(headers["content-length"])
        answer, self.buf = self.buf[:size], self.buf[size:]
        return int(status.split()[1]), headers, answer

    def _read(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed; got {self.buf!r}")
        self.buf += chunk

    def close(self) -> None:
        self.sock.close()


def api_on_both(server: ServerProcess, pki: Pki) -> dict[int, Https]:
    """One API connection held by each worker (``hold_until_both`` for HTTPS), by pid."""
    held: dict[int, Https] = {}
    spare: list[Https] = []
    while len(held) < 2 and len(spare) < 40:
        conn = Https(server.ports["api"], pki)
        pid = serving_pid(server, conn.sock)
        if pid in held:
            spare.append(conn)
        else:
            held[pid] = conn
    for conn in spare:
        conn.close()
    assert len(held) == 2, "the API connections did not reach both workers"
    return held


def test_every_worker_serves_the_api_and_its_log_in_budget_is_the_servers(
    tmp_path: Path, pki: Pki, spawn
):
    """Both workers answer the API; the console's log-in attempts per client IP are counted
    for the whole server (``workers.budgets``), not once per worker."""
    tables = {"console": {"enabled": True, "login_per_minute": 3}}
    server = spawn(write_config(tmp_path, pki, listeners=[PLAIN], server=TWO, tables=tables))
    first, second = api_on_both(server, pki).values()
    # No form token: each attempt is counted, then refused with 403 (login.py).
    assert [first.request("POST", "/console/login")[0] for _ in range(2)] == [403, 403]
    assert second.request("POST", "/console/login")[0] == 403
    for conn in (first, second):
        status, headers, _ = conn.request("POST", "/console/login")
        assert status == 429, "three attempts on two workers used the IP's budget"
        # The two-window estimate may say more than a window: at most two (workers.budgets).
        assert 1 <= int(headers["retry-after"]) <= 120
        assert conn.request("GET", "/api/v1/webhooks")[0] == 401, "the worker still answers"
        conn.close()
    stop(server)


def test_a_domain_verified_through_either_workers_api_is_signed_for_by_both(
    tmp_path: Path, pki: Pki, spawn, dns_server
):
    """A sending domain created and verified through the API of one worker: the other
    worker signs its mail too, moments later (the ``ChangeBell`` rang), not at the change
    follower's next look."""
    tables = {"dns": {"nameservers": [dns_server.nameserver], "timeout": 2.0}}
    config = write_config(tmp_path, pki, listeners=[IMPLICIT], server=TWO, tables=tables)
    server = spawn(config)
    command = [sys.executable, "-m", "sealpost", "keys", "create", "--json", "-c", str(config)]
    made = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    key = json.loads(made.stdout)["key"]
    api = api_on_both(server, pki)
    for n, (pid, conn) in enumerate(sorted(api.items())):
        domain = f"signed{n}.example"
        status, _, body = conn.request(
            "POST", "/api/v1/sending-domains", key=key, body={"domain": domain}
        )
        assert status == 200, body
        dkim = json.loads(body)["results"]["dkim"]
        dns_server.add(
            f"{dkim['selector']}._domainkey.{domain}", "TXT", f"v=DKIM1; k=rsa; p={dkim['public']}"
        )
        verify = {"dkim_verify": True}
        status, _, body = conn.request(
            "POST", f"/api/v1/sending-domains/{domain}/verify", key=key, body=verify
        )
        assert status == 200 and json.loads(body)["results"]["dkim_status"] == "valid", body
        began = time.monotonic()
        while not all(signed_by(server, pki, key, domain, other) for other in api if other != pid):
            assert time.monotonic() - began < WAIT, f"{domain}: not signed by the other worker"
            time.sleep(0.1)
        took = time.monotonic() - began
        print(f"{domain} verified on {pid}: signed by the other after {took:.2f} s")
    for conn in api.values():
        conn.close()
    stop(server)


def signed_by(server: ServerProcess, pki: Pki, key: str, domain: str, pid: int) -> bool:
    """Submit one message from ``domain`` through worker ``pid``: is it DKIM-signed?"""
    port = server.ports["submissions"]
    held, _ = hold_until_both(server, lambda: tls_conversation(port, pki))
    try:
        conv = next(c for c in held if serving_pid(server, c.sock) == pid)
        assert auth_reply(conv, key) == 235
        assert conv.cmd(f"MAIL FROM:<a@{domain}>")[0] == 250
        assert conv.cmd("RCPT TO:<u@example.test>")[0] == 250
        assert conv.cmd("DATA")[0] == 354
        conv.send(
            f"From: a@{domain}\r\nTo: u@example.test\r\nSubject: s\r\n\r\nbody\r\n.\r\n".encode()
        )
        code, text = conv.reply()
        assert code == 250, text
    finally:
        for conv in held:
            conv.close()
    queue_id = text.split()[-1]
    with contextlib.closing(sqlite3.connect(server.config_path.parent / "var/queue.db")) as db:
        (data,) = db.execute("SELECT data FROM messages WHERE id = ?", (queue_id,)).fetchone()
    return f"d={domain};".encode() in bytes(data)
