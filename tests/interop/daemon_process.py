"""Liveness and termination of a daemonized process group (a Postfix master and children).

Owns the "is it really gone?" question for daemons that re-parent to PID 1: in containers
whose PID 1 does not reap, a dead daemon lingers as a zombie, so a zombie counts as stopped.
Also hands out free loopback ports for daemons that cannot bind port 0 and report it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time

import psutil

_POLL = 0.05


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (Postfix cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def named(pid: int, name: str) -> bool:
    """Guard against a recycled pid before signalling it."""
    try:
        return psutil.Process(pid).name() == name
    except psutil.NoSuchProcess:
        return False


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    members = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def terminate_group(leader: int, timeout: float) -> bool:
    """SIGTERM the group leader, wait (bounded) for the whole group, then SIGKILL the group.

    Returns True when the group ended on SIGTERM alone.
    """
    os.kill(leader, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(leader) or group_members(leader):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(leader, signal.SIGKILL)
            return False
        time.sleep(_POLL)
    return True
