"""Test support: a trustme CA, configs written as real TOML files, and Sealpost run for real.

``ServerThread`` runs the composition root in its own event loop on a background thread, so
tests talk to it over real loopback sockets with blocking clients (smtplib, ssl sockets).
``sealpost serve`` as a subprocess is ``tests.serve_process.ServerProcess``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trustme
import uvloop

from sealpost.app import Sealpost
from sealpost.config.model import Config

HOSTNAME = "mx.example.test"

# The [api] table of a test whose webhooks or tls-checks reach loopback fixtures: the egress
# rule (DESIGN.md section 9) refuses 127.0.0.0/8 unless the operator allows it, like this.
API_LOOPBACK_TARGETS = {
    "address": "127.0.0.1:0",
    "allow_unverified_domains": True,
    "allowed_private_targets": ["127.0.0.0/8"],
}

DEFAULT_LISTENERS = [
    {"name": "mx", "tls": "starttls", "require_tls": False, "auth": False},
    {"name": "submission", "tls": "starttls", "require_tls": True, "auth": True},
    {"name": "submissions", "tls": "implicit", "require_tls": False, "auth": True},
    {"name": "plain", "tls": "none", "require_tls": False, "auth": False},
]


@dataclass
class Pki:
    ca: trustme.CA
    cert_file: Path
    key_file: Path
    ca_file: Path

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        return ctx


def make_pki(directory: Path, names: tuple[str, ...] = (HOSTNAME, "localhost", "127.0.0.1")) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert(*names)
    cert_file, key_file, ca_file = (directory / n for n in ("server.pem", "server.key", "ca.pem"))
    cert.private_key_pem.write_to_path(str(key_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in cert.cert_chain_pems[1:]:
        with open(cert_file, "ab") as fh:
            fh.write(extra.bytes())
    ca.cert_pem.write_to_path(str(ca_file))
    return Pki(ca, cert_file, key_file, ca_file)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _key(key: str) -> str:
    return key if key.replace("_", "").isalnum() else toml_value(key)


def write_config(
    directory: Path,
    pki: Pki,
    *,
    listeners: list[dict] | None = None,
    server: dict | None = None,
    store_url: str = "sqlite:///var/queue.db",
    tables: dict[str, dict] | None = None,
    store: dict | None = None,
) -> Path:
    """A real sealpost.toml. Outbound delivery is off unless ``tables`` turns it on (so no
    test ever asks the system resolver anything); ``tables`` maps "delivery", "dns",
    "mta_sts", "delivery.routes", ... to their keys."""
    server_cfg = {
        "hostname": HOSTNAME,
        "data_dir": "var",
        "local_domains": ["example.test"],
        "auth_failure_delay": 0.0,
        # A test that stops the server with a transaction left open waits this long (the
        # drain, issue 17), not the default 30 s; tests/integration/test_drain.py sets it.
        "drain_timeout": 5.0,
        **(server or {}),
    }
    lines = ["[server]"] + [f"{k} = {toml_value(v)}" for k, v in server_cfg.items()]
    lines += [
        "",
        "[tls]",
        f"cert_file = {toml_value(pki.cert_file)}",
        f"key_file = {toml_value(pki.key_file)}",
        "reload_interval = 1",
    ]
    for listener in listeners or DEFAULT_LISTENERS:
        entry = {"address": "127.0.0.1:0", **listener}
        lines += ["", "[[smtp.listeners]]"] + [f"{k} = {toml_value(v)}" for k, v in entry.items()]
    lines += ["", "[store]", f"url = {toml_value(store_url)}"]
    lines += [f"{k} = {toml_value(v)}" for k, v in (store or {}).items()]
    lines += ["", "[log]", 'level = "warning"']
    extra = {
        "delivery": {"enabled": False},
        "api": {"address": "127.0.0.1:0", "allow_unverified_domains": True},
        # No metrics listener unless a test asks (test_metrics_endpoint): its uvicorn start
        # and stop would cost every server test a third of its time.
        "metrics": {"enabled": False, "address": "127.0.0.1:0"},
        **(tables or {}),
    }
    for table, values in extra.items():
        if table.endswith("]]"):
            for entry in values:  # type: ignore[union-attr]
                lines += ["", table] + [f"{k} = {toml_value(v)}" for k, v in entry.items()]
            continue
        lines += ["", f"[{table}]"] + [f"{_key(k)} = {toml_value(v)}" for k, v in values.items()]
    path = directory / "sealpost.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class ServerThread:
    config: Config
    ports: dict[str, int] = field(default_factory=dict)
    app: Sealpost | None = None
    # The production event loop (runner.py), so tests exercise uvloop's transports; a test
    # may run on asyncio's own, the one used where uvloop is not installed.
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop

    def __post_init__(self) -> None:
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self.app = Sealpost(self.config)
            await self.app.start()
            self.ports = {b.name: b.port for b in self.app.bound}
            self._ready.set()
            await self.app.run_until_stopped()

        try:
            with asyncio.Runner(loop_factory=self.loop_factory) as runner:
                runner.run(main())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(20) or self._error:
            raise RuntimeError(f"server did not start: {self._error!r}")
        return self

    def call(self, coro_factory, timeout: float = 20):
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro_factory(), self._loop).result(timeout)

    def stop(self) -> None:
        if self._loop is not None and self.app is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.app.request_stop)
        self._thread.join(20)


class Conversation:
    """A raw SMTP client over a real socket: send exact bytes, read exact replies."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10) -> None:
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection((host, port), timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> tuple[int, str]:
        """Read one (possibly multi-line) reply."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed; got " + repr(self.buf))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), "\n".join(lines)

    def cmd(self, line: str) -> tuple[int, str]:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def starttls(self, ctx: ssl.SSLContext, server_hostname: str = HOSTNAME) -> None:
        assert not self.buf, f"unread bytes before TLS: {self.buf!r}"
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)

    def closed(self, timeout: float = 5) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionError, ssl.SSLError):
            return True

    def close(self) -> None:
        self.sock.close()
