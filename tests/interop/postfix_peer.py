"""A real Postfix as a test peer on loopback: sender (relay), receiver (MX) or benchmark sink.

Owns the lifecycle of one private Postfix instance (configuration lives in ``postfix_config``):
start, stop, inject over SMTP, flush, wait for the queue, read its maildir and its log. Each
instance has its own config, queue and data directories under ``workdir/name``, binds only
127.0.0.1 on a high port, and never touches /etc/postfix or the system queue. Postfix replies
``250`` to the final dot only after fsyncing the queue file, the responsibility RFC 5321
section 6.1 puts on a receiver (it MUST NOT lose accepted mail), which makes it a fair
baseline for benchmarks.

Traps met with Postfix 3.7.11 on Debian bookworm (no systemd, no syslog, run as root):

* ``postfix -c DIR start`` chdir()s to ``queue_directory`` *before* its own check/create
  step: the queue directory must exist (root-owned, 0755) or start fails with ``fatal:
  chdir``. ``post-install create-missing`` (run by start) then makes the subdirectories with
  the right owners; ``postfix -c DIR set-permissions`` is not needed.
* Every command needs ``-c DIR`` (``postmap``, ``postqueue``, ``postconf`` too): with the
  debconf "No configuration" choice /etc/postfix/main.cf does not exist and they die with
  ``fatal: open /etc/postfix/main.cf``. ``-c`` for a non-default directory works here only
  because we are root; a non-root ``postqueue -c`` would require the directory to be listed in
  ``alternate_config_directories`` of that (missing) default main.cf.
* ``data_directory`` must be per instance: it holds ``master.lock``, so with the default
  /var/lib/postfix the second master dies with "fatal: open lock file .../master.lock:
  unable to set exclusive lock".
* No syslog: ``maillog_file`` + a ``postlog unix-dgram ... postlogd`` line in master.cf
  (start fails with "missing 'postlog' service" otherwise), and the file must be under
  ``maillog_file_prefixes`` (default only /var and /dev/stdout), so we set it to workdir.
* Postfix connects to its internal services by *absolute* path
  (``$queue_directory/private/NAME``): AF_UNIX paths are limited to 107 bytes, so deep pytest
  ``tmp_path`` directories can break it; we check the length up front.
* Daemons run as ``postfix`` without chroot, so every ancestor of the queue directory must be
  searchable by that user; pytest's ``/tmp/pytest-of-root`` is 0700. The ``postfix_workdir``
  fixture makes a short 0755 directory in /tmp instead; start() checks and explains.
* Every Postfix program refuses to read a main.cf modified less than a second ago and
  pauses 300 ms at a time until it is old enough: a freshly written config made each start
  ~2 s slower. We back-date main.cf/master.cf with ``os.utime``.
* ``postqueue -f`` (flush) also kicks the ``pickup`` service and fails with "mail system is
  down" without it, so master.cf keeps pickup; it only reads this instance's own (empty)
  maildrop, never the system's.
* smtpd's default ``local_recipient_maps = proxy:unix:passwd.byname $alias_maps`` needs the
  proxymap service and hangs every session ("connect to subsystem private/proxymap") when
  master.cf lacks it: we empty it (``mydestination`` is empty anyway). Default
  ``smtpd_client_connection_count_limit`` needs ``anvil``; the SMTP client needs ``scache``.
* ``smtpd_forbid_bare_newline`` exists in 3.7.11 (values no/normalize/reject) but its
  ``smtpd_forbid_bare_newline_exclusions`` defaults to ``$mynetworks``: every loopback client
  would be exempt, so the receiver empties it.
* ``local_header_rewrite_clients`` defaults to ``permit_inet_interfaces``: 127.0.0.1 counts as
  local, so Postfix would add Date/Message-ID/From and rewrite headers; we empty it.
* SMTP client SASL: ``smtp_sasl_security_options`` defaults to ``noplaintext`` (PLAIN and LOGIN
  refused, also over TLS via ``smtp_sasl_tls_security_options``); Cyrus needs the
  ``libsasl2-modules`` package (installed here) for PLAIN/LOGIN. ``static:{user:pass}``
  (braces keep commas and spaces in an API key) avoids building a hash map with postmap.
* ``smtputf8_enable`` defaults to "no" below compatibility level 1 (the level when main.cf
  does not say): we set ``compatibility_level = 3.6`` and ``smtputf8_enable = yes``.
* With ``postfix start`` the master daemonizes and is re-parented to PID 1; in a container
  whose PID 1 does not reap, stopped masters linger as zombies, so "stopped" means gone *or*
  zombie. ``postfix stop`` polls with ``sleep 1``; we signal the master ourselves instead.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import smtplib
import stat
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from tests.interop.daemon_process import alive, free_loopback_port, named, terminate_group
from tests.interop.postfix_config import (
    Delivery,
    InstanceLayout,
    ReceiverRole,
    Role,
    SaslCredentials,
    SenderRole,
    TlsLevel,
    render_main_cf,
    render_master_cf,
)

__all__ = [
    "Delivery",
    "PostfixPeer",
    "PostfixPeerError",
    "ReceiverRole",
    "Role",
    "SaslCredentials",
    "SenderRole",
    "TlsLevel",
    "free_loopback_port",
]

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
POSTQUEUE = "/usr/sbin/postqueue"
POSTKICK = "/usr/sbin/postkick"
_UNIX_PATH_MAX = 107  # sun_path is 108 bytes including the NUL
_LONGEST_SOCKET = "/private/proxywrite"
# Scan order follows the moves qmgr makes (incoming -> active <-> deferred) so a file renamed
# while we scan is still seen: active is scanned again after deferred.
_QUEUES = ("maildrop", "incoming", "active", "deferred", "active", "hold")
_QUEUED_AS = re.compile(r"queued as ([0-9A-Za-z]+)")
_POLL = 0.05  # seconds between checks in bounded waits
_RUNNING: set[PostfixPeer] = set()


class PostfixPeerError(RuntimeError):
    """Postfix could not be configured, started or driven; the message says why."""


class PostfixPeer:
    """One private Postfix instance; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        workdir: Path,
        *,
        name: str,
        smtpd_port: int,
        myhostname: str,
        role: Role,
        queue_timer_seconds: int = 1,
        extra_main_cf: Mapping[str, str] | None = None,
    ) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            raise ValueError(f"instance name must be [a-z0-9-]+: {name!r}")
        if smtpd_port < 1024:
            raise ValueError("test peers use ports >= 1024 only")
        self.name = name
        self.smtpd_port = smtpd_port
        self.myhostname = myhostname
        self.role = role
        self.layout = InstanceLayout(Path(workdir).resolve() / name)
        self._queue_timer = queue_timer_seconds
        self._extra = dict(extra_main_cf or {})
        self._master_pid: int | None = None
        if len(str(self.layout.queue_dir)) + len(_LONGEST_SOCKET) > _UNIX_PATH_MAX:
            raise PostfixPeerError(
                f"workdir too deep for AF_UNIX socket paths: {self.layout.queue_dir}"
            )

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 30) -> PostfixPeer:
        """Write the configuration and run ``postfix -c DIR start``; returns self."""
        if self._master_pid is not None:
            return self
        if os.geteuid() != 0:
            raise PostfixPeerError("Postfix test peers must run as root (postfix start)")
        self._prepare_directories()
        self._check_reachable_by_mail_owner()
        tls_files = self._install_tls_files()
        main_cf = render_main_cf(
            self.layout,
            name=self.name,
            myhostname=self.myhostname,
            role=self.role,
            tls_files=tls_files,
            queue_timer_seconds=self._queue_timer,
            extra=self._extra,
        )
        self._write_config("main.cf", main_cf)
        self._write_config("master.cf", render_master_cf(self.smtpd_port, self.role))
        self._check_config()
        result = self._run([POSTFIX, "-c", str(self.layout.config_dir), "start"], timeout)
        if result.returncode != 0:
            raise PostfixPeerError(
                f"postfix {self.name} did not start: {result.stdout}{result.stderr}\n"
                + self.log_tail()
            )
        pid_file = self.layout.queue_dir / "pid" / "master.pid"
        self._master_pid = int(pid_file.read_text().split()[0])
        _RUNNING.add(self)
        return self

    def stop(self, timeout: float = 10) -> None:
        """Stop the master and wait for every process of its group; idempotent."""
        pid, self._master_pid = self._master_pid, None
        _RUNNING.discard(self)
        if pid is not None and alive(pid) and named(pid, "master"):
            # The master forwards SIGTERM to its process group (what "postfix abort" does);
            # "postfix stop" would do the same but then poll with "sleep 1".
            terminate_group(pid, timeout)

    @property
    def running(self) -> bool:
        return self._master_pid is not None and alive(self._master_pid)

    @property
    def master_pid(self) -> int | None:
        return self._master_pid

    def __enter__(self) -> PostfixPeer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- driving it --------------------------------------------------------------------------

    def send(
        self,
        mail_from: str,
        rcpts: Sequence[str],
        message: bytes,
        *,
        mail_options: Sequence[str] = (),
        timeout: float = 10,
    ) -> str:
        """Inject one message through this instance's smtpd; returns Postfix's queue id."""
        with smtplib.SMTP(
            "127.0.0.1", self.smtpd_port, local_hostname="client.test", timeout=timeout
        ) as smtp:
            smtp.ehlo()
            code, reply = smtp.mail(mail_from, list(mail_options))
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, mail_from)
            for rcpt in rcpts:
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({rcpt: (code, reply)})
            code, reply = smtp.data(message)
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        match = _QUEUED_AS.search(reply.decode("ascii", "replace"))
        return match.group(1) if match else ""

    def flush(self, timeout: float = 10) -> None:
        """``postqueue -c DIR -f``: retry every deferred message now."""
        result = self._run([POSTQUEUE, "-c", str(self.layout.config_dir), "-f"], timeout)
        if result.returncode != 0:
            raise PostfixPeerError(f"postqueue -f failed: {result.stderr}")

    def scan_incoming(self, timeout: float = 10) -> None:
        """``postkick -c DIR public qmgr I``: qmgr scans the incoming queue now. Unlike
        ``flush`` it delivers nothing deferred (a flush overrides ``defer_transports``)."""
        argv = [POSTKICK, "-c", str(self.layout.config_dir), "public", "qmgr", "I"]
        result = self._run(argv, timeout)
        if result.returncode != 0:
            raise PostfixPeerError(f"postkick qmgr I failed: {result.stderr}")

    def postconf(self, parameter: str) -> str:
        """The effective value of one main.cf parameter (``postconf -c DIR -h``)."""
        result = self._run([POSTCONF, "-c", str(self.layout.config_dir), "-h", parameter], 10)
        if result.returncode != 0:
            raise PostfixPeerError(f"postconf {parameter}: {result.stderr}")
        return result.stdout.strip()

    # -- observing it ------------------------------------------------------------------------

    def queued_files(self) -> list[Path]:
        """Queue files still waiting in maildrop/incoming/active/deferred/hold."""
        found: dict[str, Path] = {}
        for queue in _QUEUES:
            for path in sorted((self.layout.queue_dir / queue).rglob("*")):
                if path.is_file():
                    found.setdefault(path.name, path)
        return list(found.values())

    def wait_queue_empty(self, timeout: float = 10) -> None:
        """Return once two scans in a row find nothing queued; ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout
        empty_scans = 0
        while empty_scans < 2:
            empty_scans = 0 if self.queued_files() else empty_scans + 1
            if empty_scans == 0 and time.monotonic() >= deadline:
                names = [p.name for p in self.queued_files()]
                raise TimeoutError(f"{self.name}: still queued {names}\n{self.log_tail()}")
            if empty_scans < 2:
                time.sleep(_POLL)

    def maildir_messages(self) -> list[bytes]:
        """Every delivered message (maildir new/ and cur/), oldest first."""
        inbox = self.layout.mail_dir / "inbox"
        paths = [p for sub in ("new", "cur") for p in (inbox / sub).glob("*") if p.is_file()]
        paths.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [p.read_bytes() for p in paths]

    def wait_maildir(self, count: int = 1, timeout: float = 10) -> list[bytes]:
        """Wait until at least ``count`` messages were delivered; returns them all."""
        deadline = time.monotonic() + timeout
        while len(messages := self.maildir_messages()) < count:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{self.name}: {len(messages)} of {count} messages\n{self.log_tail()}"
                )
            time.sleep(_POLL)
        return messages

    def log_text(self) -> str:
        """Everything this instance logged (its ``maillog_file``)."""
        try:
            return self.layout.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_log(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        """Wait until the log matches ``pattern`` (a regex); postlogd writes asynchronously."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while (match := regex.search(self.log_text())) is None:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name}: no {pattern!r} in log\n{self.log_tail()}")
            time.sleep(_POLL)
        return match

    # -- internals ---------------------------------------------------------------------------

    def _prepare_directories(self) -> None:
        layout = self.layout
        for directory in (layout.root, layout.config_dir, layout.queue_dir, layout.tls_dir):
            directory.mkdir(mode=0o755, parents=True, exist_ok=True)
            directory.chmod(0o755)
        if isinstance(self.role, ReceiverRole):
            owner = pwd.getpwnam("postfix")
            layout.mail_dir.mkdir(mode=0o755, exist_ok=True)
            os.chown(layout.mail_dir, owner.pw_uid, owner.pw_gid)

    def _check_reachable_by_mail_owner(self) -> None:
        owner = pwd.getpwnam("postfix")
        groups = {owner.pw_gid, *os.getgrouplist(owner.pw_name, owner.pw_gid)}
        for directory in _ancestors(self.layout.queue_dir):
            info = directory.stat()
            if info.st_uid == owner.pw_uid:
                bit = stat.S_IXUSR
            elif info.st_gid in groups:
                bit = stat.S_IXGRP
            else:
                bit = stat.S_IXOTH
            if not info.st_mode & bit:
                raise PostfixPeerError(
                    f"user postfix cannot search {directory} (mode {stat.filemode(info.st_mode)})"
                    "; use a workdir whose every parent is world-searchable (postfix_workdir)"
                )

    def _install_tls_files(self) -> dict[str, Path]:
        """Copy certificates into the instance so it does not depend on the caller's files."""
        wanted: dict[str, Path | None] = {}
        if isinstance(self.role, SenderRole):
            wanted["ca_file"] = self.role.ca_file
        else:
            wanted["cert_file"] = self.role.cert_file
            wanted["key_file"] = self.role.key_file
            if (self.role.cert_file is None) != (self.role.key_file is None):
                raise ValueError("cert_file and key_file go together")
        installed: dict[str, Path] = {}
        for key, source in wanted.items():
            if source is None:
                continue
            target = self.layout.tls_dir / f"{key}.pem"
            shutil.copyfile(source, target)
            target.chmod(0o600 if key == "key_file" else 0o644)
            installed[key] = target
        return installed

    def _write_config(self, name: str, text: str) -> None:
        """Write a config file dated in the past: Postfix programs refuse to read a main.cf
        modified within the last second (it might be half-written) and pause 300 ms at a
        time, which made every fresh start ~2 s slower."""
        path = self.layout.config_dir / name
        path.write_text(text)
        past = time.time() - 5
        os.utime(path, (past, past))

    def _check_config(self) -> None:
        """``postconf -n`` warns about misspelt or unused parameters: refuse those."""
        result = self._run([POSTCONF, "-c", str(self.layout.config_dir), "-n"], 10)
        warnings = [line for line in result.stderr.splitlines() if "warning" in line]
        if result.returncode != 0 or warnings:
            raise PostfixPeerError(f"bad main.cf for {self.name}: {result.stderr}")

    @staticmethod
    def _run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "MAIL_CONFIG"}
        return subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, env=env, check=False
        )


def _ancestors(path: Path) -> Iterable[Path]:
    yield from reversed([path, *path.parents])


@atexit.register
def _stop_all() -> None:
    """A crashed or interrupted test run must not leave masters behind."""
    for peer in list(_RUNNING):
        peer.stop()
