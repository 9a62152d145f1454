"""The two servers under test, started and stopped by the harness on loopback high ports.

Owns their setup so that both get the same conditions: one certificate (a throwaway trustme
CA) offered over STARTTLS on one listener, mail for one local domain accepted and kept
durable before ``250`` (RFC 5321 section 6.1: a receiver MUST NOT lose mail it accepted),
nothing relayed, no throttling of a single loopback client.

* ``SealpostServer``: ``sealpost serve`` as a subprocess on what ``sealpost init`` writes,
  changed only where ``bench.sealpost_config`` lists it (addresses, certificate, hostname and
  local domain): SQLite store (WAL, ``synchronous=FULL``: the commit fsyncs before ``250``),
  delivery on, API on, init's log level and per-IP limits (loopback is exempt by default).
* ``PostfixServer``: the interop suite's ``PostfixPeer`` as a receiver that discards what it
  accepts (smtpd fsyncs the queue file before ``250``, then qmgr hands it to ``discard``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil
import trustme
from tests.interop.postfix_peer import (
    Delivery,
    PostfixPeer,
    ReceiverRole,
    free_loopback_port,
)

from bench.sealpost_config import (
    BENCH_DOMAIN,
    INIT_FILE,
    LOAD_LISTENER,
    SERVER_NAME,
    BenchConfig,
    build,
    inbound_settings,
    run_init,
)
from sealpost.config.loader import load_config

_READY = re.compile(r"sealpost ready: (.*)")
_POLL = 0.05


class PeerError(RuntimeError):
    """A server under test could not be started; the message says why."""


@dataclass(frozen=True)
class Pki:
    """The certificate both servers present."""

    cert_file: Path
    key_file: Path
    ca_file: Path


def make_pki(directory: Path) -> Pki:
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    ca = trustme.CA()
    leaf = ca.issue_cert(SERVER_NAME, "localhost", "127.0.0.1")
    pki = Pki(directory / "server.pem", directory / "server.key", directory / "ca.pem")
    leaf.private_key_pem.write_to_path(str(pki.key_file))
    pki.cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    ca.cert_pem.write_to_path(str(pki.ca_file))
    return pki


class Server(Protocol):
    """What the harness needs from a server under test."""

    label: str
    host: str
    port: int

    @property
    def root_pid(self) -> int: ...

    def settings(self) -> dict[str, str]: ...

    def stop(self) -> None: ...


class SealpostServer:
    """``sealpost serve`` in its own process, on the config ``sealpost init`` wrote into its
    work directory plus the documented changes (``bench.sealpost_config``); ``start()``
    returns once it is listening."""

    host = "127.0.0.1"

    def __init__(
        self,
        workdir: Path,
        pki: Pki,
        *,
        name: str = "sealpost",
        label: str = "Sealpost",
        extra: Sequence[tuple[str, object, str]] = (),
    ) -> None:
        self.label = label
        self.pki = pki
        self.workdir = workdir / name
        self.init_text = run_init(self.workdir)
        (self.workdir / "sealpost.init.toml").write_text(self.init_text)
        self.config_path = self.workdir / INIT_FILE
        self.config = self.reconfigure(extra)
        self.port = 0
        self.ports: dict[str, int] = {}  # listener name (and "api") -> bound port
        self.processes = 0  # processes in its tree once ready (workers, if any)
        self._proc: subprocess.Popen[bytes] | None = None

    def reconfigure(
        self, extra: Sequence[tuple[str, object, str]] = (), label: str | None = None
    ) -> BenchConfig:
        """Init's config with the inbound changes plus ``extra`` (labelled ``label`` in the
        report); takes effect at the next ``start()``."""
        settings = inbound_settings(self.pki.cert_file, self.pki.key_file) + list(extra)
        self.config = build(label or self.label, self.init_text, settings)
        self.config_path.write_text(self.config.text)
        return self.config

    def run(self, *args: str, timeout: float = 60) -> str:
        """``sealpost ARGS -c CONFIG`` (e.g. ``keys create --json``); returns stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "sealpost", *args, "-c", str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.workdir,
        )
        if done.returncode != 0:
            raise PeerError(f"sealpost {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    @property
    def root_pid(self) -> int:
        if self._proc is None:
            raise PeerError("Sealpost is not running")
        return self._proc.pid

    def start(self, timeout: float = 30) -> SealpostServer:
        stdout = self.workdir / "stdout.log"
        stderr = self.workdir / "stderr.log"
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "sealpost", "serve", "-c", str(self.config_path)],
                stdout=out,
                stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                cwd=self.workdir,
            )
        deadline = time.monotonic() + timeout
        while (match := _READY.search(stdout.read_text(errors="replace"))) is None:
            if self._proc.poll() is not None or time.monotonic() >= deadline:
                self.stop()
                raise PeerError(
                    "sealpost serve did not become ready: " + stderr.read_text(errors="replace")
                )
            time.sleep(_POLL)
        for part in match.group(1).split(", "):
            name, _, address = part.partition("=")
            if ":" in address:
                self.ports[name] = int(address.split("/")[0].rsplit(":", 1)[1])
        self.port = self.ports[LOAD_LISTENER]
        self.processes = self._count_processes()
        return self

    def _count_processes(self) -> int:
        if self._proc is None or self._proc.poll() is not None:
            return self.processes
        return 1 + len(psutil.Process(self._proc.pid).children(recursive=True))

    def settings(self) -> dict[str, str]:
        """What this server really runs with: the effective config, as ``serve`` loads it."""
        config = load_config(self.config_path)
        workers = getattr(config.server, "workers", None)  # tolerated: a newer option
        self.processes = self._count_processes()  # after the warm-up: workers are up
        return {
            "config": f"`sealpost init` + {len(self.config.changes)} changes (see the table)",
            "store": f"{config.store.url} (WAL, synchronous=FULL, group commit)",
            "delivery": "enabled" if config.delivery.enabled else "disabled",
            "log": f"{config.log.level} ({config.log.format})",
            "api": f"on ({config.api.address})" if config.api.enabled else "off",
            "listeners": ", ".join(f"{lst.name} ({lst.tls})" for lst in config.smtp.listeners),
            "workers": "n/a (no [server] workers option)" if workers is None else str(workers),
            "processes": str(self.processes),
            "limit_exempt": ", ".join(config.server.limit_exempt),
            "max_connections_per_ip": str(config.server.max_connections_per_ip),
        }

    def stop(self, timeout: float = 20) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# Postfix parameters whose effective values decide whether concurrency 50 is throttled.
_POSTFIX_LIMITS = (
    "mail_version",
    "default_process_limit",
    "smtpd_client_connection_count_limit",
    "smtpd_client_connection_rate_limit",
    "smtpd_client_event_limit_exceptions",
    "mynetworks",
    "in_flow_delay",
    "smtpd_tls_security_level",
    "virtual_transport",
)


class PostfixServer:
    """A private Postfix receiver (``PostfixPeer``) for ``bench.test`` that discards mail."""

    label = "Postfix"
    host = "127.0.0.1"

    def __init__(self, workdir: Path, pki: Pki, max_connections: int) -> None:
        self.port = free_loopback_port()
        extra: dict[str, str] = {}
        if max_connections + 10 > 100:  # default_process_limit caps smtpd processes
            extra["default_process_limit"] = str(max_connections + 10)
        self.peer = PostfixPeer(
            workdir,
            name="bench-postfix",
            smtpd_port=self.port,
            myhostname=SERVER_NAME,
            role=ReceiverRole(
                domains=(BENCH_DOMAIN,),
                cert_file=pki.cert_file,
                key_file=pki.key_file,
                delivery=Delivery.DISCARD,
            ),
            extra_main_cf=extra,
        )
        self.max_connections = max_connections
        self._settings: dict[str, str] = {}

    @property
    def root_pid(self) -> int:
        pid = self.peer.master_pid
        if pid is None:
            raise PeerError("Postfix is not running")
        return pid

    def start(self) -> PostfixServer:
        self.peer.start()
        self._settings = {name: self.peer.postconf(name) for name in _POSTFIX_LIMITS}
        limit = int(self._settings["default_process_limit"])
        if limit < self.max_connections:
            self.stop()
            raise PeerError(f"Postfix default_process_limit {limit} < {self.max_connections}")
        if "$mynetworks" not in self._settings["smtpd_client_event_limit_exceptions"]:
            self.stop()
            raise PeerError("loopback is not exempt from Postfix's anvil connection limits")
        return self

    def settings(self) -> dict[str, str]:
        return dict(self._settings)

    def stop(self) -> None:
        self.peer.stop()
