"""``sealpost serve`` as a real subprocess, for crash, signal, worker and CLI tests.

``ServerProcess(config).start()`` launches ``sealpost serve -c CONFIG``, waits for the
``sealpost ready: ...`` line (``READY``) and reads the bound ports from it (``ready_ports``);
``launch()`` and ``wait_ready()`` are the two halves, for a test that reads the server's
output before it is ready. ``args``/``cwd`` run another command line (``serve --dev`` in a
directory); ``log_dir`` sends stdout and stderr to files there instead of pipes, for a long
run whose unread output would fill a pipe. The ``spawn`` fixture (tests/conftest.py) kills
whatever a test left running.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

READY = re.compile(r"sealpost ready: (.*)")


def ready_ports(line: str) -> dict[str, int]:
    """``sealpost ready: mx=127.0.0.1:2525/starttls, api=...`` -> ``{"mx": 2525, ...}``;
    empty when ``line`` is not the ready line."""
    match = READY.search(line)
    if not match:
        return {}
    ports = {}
    for part in match.group(1).split(", "):
        name, addr = part.split("=", 1)
        ports[name] = int(addr.split("/")[0].rsplit(":", 1)[1])
    return ports


@dataclass
class ServerProcess:
    config_path: Path | None
    ports: dict[str, int] = field(default_factory=dict)
    wrapper: tuple[str, ...] = ()  # e.g. ("strace", "-f", ...) in front of the server
    preexec: Callable[[], None] | None = None  # e.g. resource limits for the server
    args: tuple[str, ...] = ()  # the sealpost command line; default: serve -c config_path
    cwd: Path | None = None
    log_dir: Path | None = None  # stdout.log and stderr.log there instead of pipes

    def launch(self) -> ServerProcess:
        args = self.args or ("serve", "-c", str(self.config_path))
        command = [*self.wrapper, sys.executable, "-m", "sealpost", *args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.log_dir is None:
            self.proc = subprocess.Popen(
                command,
                cwd=self.cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                preexec_fn=self.preexec,
            )
            return self
        with self._out_path.open("wb") as out, self._err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                command, cwd=self.cwd, stdout=out, stderr=err, env=env, preexec_fn=self.preexec
            )
        return self

    def wait_ready(self, timeout: float = 30) -> str:
        """The ready line (``ports`` read from it); the process is killed when it does not
        come within ``timeout`` seconds or the process ends first."""
        line = self._ready_from_file(timeout) if self.log_dir else self._ready_from_pipe(timeout)
        if line:
            self.ports.update(ready_ports(line))
            return line
        self.proc.kill()
        self.proc.wait(10)
        raise RuntimeError("server process did not start: " + self.stderr())

    def start(self, timeout: float = 30) -> ServerProcess:
        self.launch().wait_ready(timeout)
        return self

    def _ready_from_pipe(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if READY.search(line):
                return line
        return ""

    def _ready_from_file(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self._out_path.read_text().splitlines():
                if READY.search(line):
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        return ""

    @property
    def _out_path(self) -> Path:
        assert self.log_dir is not None
        return self.log_dir / "stdout.log"

    @property
    def _err_path(self) -> Path:
        assert self.log_dir is not None
        return self.log_dir / "stderr.log"

    def stderr(self) -> str:
        """What the server wrote to stderr (with pipes: the rest, once it has ended)."""
        if self.log_dir is not None:
            return self._err_path.read_text()
        return self.proc.stderr.read() if self.proc.stderr else ""

    def pids(self) -> list[int]:
        """The server's processes: ``sealpost serve`` and its workers (``[server] workers``)."""
        return [self.proc.pid, *self.worker_pids()]

    def worker_pids(self) -> list[int]:
        """The supervisor's worker processes (its queue writer runs in it): its children
        that are forks of it (the same command line), until they are reaped. A worker that
        is exiting has no command line left (its memory is gone before it is a zombie): it
        still counts. Any other child the supervisor may run for a moment does not."""
        try:
            command = psutil.Process(self.proc.pid).cmdline()
        except psutil.Error:
            return []
        pids = []
        for child in self._children():
            try:
                own = child.cmdline()
            except psutil.ZombieProcess:
                own = []
            except psutil.Error:
                continue
            if own in ([], command):
                pids.append(child.pid)
        return pids

    def _children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM (the server drains) and its exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def terminate(self) -> str:
        """SIGTERM, then the rest of stderr once the server has ended (pipes only)."""
        self.proc.terminate()
        _, stderr = self.proc.communicate(timeout=20)
        return stderr

    def kill(self) -> None:
        """``kill -9`` of ``sealpost serve`` alone (its workers notice and drain)."""
        self.proc.kill()
        self.proc.wait(10)

    def kill_all(self) -> None:
        """``kill -9`` of every process of the server at once: a crash of the whole server."""
        workers = [c.pid for c in self._children()]  # the queue writer too
        self.proc.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)
        psutil.wait_procs(_processes(workers), timeout=10)


def _processes(pids: list[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            found.append(psutil.Process(pid))
    return found
