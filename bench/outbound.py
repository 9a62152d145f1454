"""The outbound case of issue 6: drain N queued messages to 200 domains into one sink MX.

Owns how both servers get the same queue and how the drain is timed. Each server takes the
N messages (~5 KB, one recipient each, recipients spread round-robin over 200 domains)
through its own SMTP inbound path at full speed *untimed*, with outbound delivery held;
then delivery is released and the clock runs until the sink has counted all N.

* Sealpost (init's config plus the inbound changes, ``bench.sealpost_config``): injected on
  init's ``submission`` listener over STARTTLS with SMTP AUTH (``SMTP_Injection`` + an API
  key, the only way it relays, RFC 5321 section 7.1) while ``[delivery] enabled = false``;
  stopped, restarted with delivery on, ``smarthost`` = the sink (each change listed with its
  reason in the report). The clock starts before the restart,
  so Sealpost's start-up (interpreter, imports, store open) is inside its window, and the
  CPU of the restarted process is counted from its birth.
* Postfix (the interop suite's ``SenderRole``: ``relayhost = [127.0.0.1]:SINK``): injected in
  plaintext from ``mynetworks`` with ``defer_transports = smtp``, so qmgr parks every message
  in the deferred queue; then ``postconf -e defer_transports=``, ``postfix reload``,
  ``postqueue -f``. The clock starts before ``postconf``. Twice: as configured by default
  (one sink session per message: its connection cache never holds a TLS connection), and
  with the cache engaged (``smtp_connection_cache_destinations`` = the relay host,
  ``smtp_tls_connection_reuse = yes`` through tlsproxy(8)); the sink's session count shows
  whether it engaged.

Both relay every domain to the same static next hop (no DNS for either), at TLS level
``may`` with STARTTLS offered by the sink and its CA trusted, with the same session limits:
Sealpost ``concurrency`` = ``per_domain_concurrency``; Postfix ``default_process_limit`` and
``default_destination_concurrency_limit`` equal to them (Postfix counts its one relayhost as
one destination, so the per-domain limit of Sealpost must not exceed the total).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.interop.postfix_config import queue_timers
from tests.interop.postfix_peer import (
    PostfixPeer,
    PostfixPeerError,
    SenderRole,
    TlsLevel,
    free_loopback_port,
)

from bench.peers import PeerError, Pki, SealpostServer
from bench.resources import ResourceUsage, TreeMonitor
from bench.sealpost_config import SUBMISSION_LISTENER, BenchConfig
from bench.sink import SinkProcess, SinkProgress
from bench.smtp_session import SessionError, SmtpSession, Target, build_message, client_tls_context

OUT_DOMAINS = 200
MAIL_FROM = "loadgen@client.bench.test"
_POSTCONF = "/usr/sbin/postconf"
_POSTFIX = "/usr/sbin/postfix"
_POLL = 0.05
# While Postfix parks the loaded queue, each message is deferred once and left alone: with the
# peer's 1 s timers qmgr took every deferred message back to the error transport each second,
# and on a slow machine 20,000 churned for the whole drain timeout (2 million log lines) and
# never sat in "deferred" all at once. The release restores the drain's timers; its flush
# ignores the parked messages' retry times (mail_flush_deferred's QMGR_REQ_SCAN_ALL).
_PARKED_TIMER_S = 3600
_DRAIN_TIMER_S = 1  # the peer's timers during the drain (the interop peer's default)
_KICK = 5.0  # seconds without every message deferred before qmgr is woken (_wait_deferred)


@dataclass(frozen=True)
class OutboundSettings:
    """One outbound run: N messages, D domains, the same session limits for both servers."""

    messages: int
    domains: int = OUT_DOMAINS
    concurrency: int = 20
    inject_connections: int = 10
    timeout: float | None = None  # drain bound; default 60 s + 50 ms per message

    @property
    def drain_timeout(self) -> float:
        return self.timeout if self.timeout is not None else 60.0 + self.messages / 20


@dataclass(frozen=True)
class OutboundMeasurement:
    """One server draining its queue into the sink."""

    server: str
    messages: int
    delivered: int
    elapsed: float  # delivery enabled -> the sink has them all (or the timeout)
    to_first: float  # delivery enabled -> first message at the sink
    inject_seconds: float  # untimed loading, for the record
    usage: ResourceUsage
    sink_sessions: int = 0  # SMTP sessions the sink saw during the drain
    sink_tls_sessions: int = 0  # of which used STARTTLS

    @property
    def msgs_per_s(self) -> float:
        return self.delivered / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def steady_msgs_per_s(self) -> float | None:
        """First to last message at the sink: the rate without the start-up latency."""
        span = self.elapsed - self.to_first
        return (self.delivered - 1) / span if self.delivered > 1 and span > 0 else None

    @property
    def cpu_per_thousand(self) -> float | None:
        return self.usage.cpu_seconds * 1000 / self.delivered if self.delivered else None

    def to_dict(self) -> dict[str, object]:
        steady = self.steady_msgs_per_s
        cpu = self.cpu_per_thousand
        return {
            "server": self.server,
            "messages": self.messages,
            "delivered": self.delivered,
            "elapsed_s": round(self.elapsed, 4),
            "to_first_s": round(self.to_first, 4),
            "msgs_per_s": round(self.msgs_per_s, 2),
            "steady_msgs_per_s": None if steady is None else round(steady, 2),
            "cpu_s_per_1k": None if cpu is None else round(cpu, 3),
            "inject_s": round(self.inject_seconds, 3),
            "sink_sessions": self.sink_sessions,
            "sink_tls_sessions": self.sink_tls_sessions,
            **self.usage.to_dict(),
        }


def recipient(index: int, domains: int) -> str:
    return f"user{index}@d{index % domains:03d}.out.bench.test"


def inject(target: Target, settings: OutboundSettings) -> float:
    """Queue ``settings.messages`` messages through ``target``; returns the seconds taken.
    Raises PeerError if any message is refused: a partial queue would skew the drain."""
    import uvloop

    started = time.monotonic()
    uvloop.run(_inject(target, settings))
    return time.monotonic() - started


async def _inject(target: Target, settings: OutboundSettings) -> None:
    import asyncio

    tls = client_tls_context() if target.starttls else None
    connections = max(1, min(settings.inject_connections, settings.messages))

    async def one(first: int) -> None:
        session = SmtpSession(target, tls)
        try:
            await session.open()
            for index in range(first, settings.messages, connections):
                rcpt = recipient(index, settings.domains)
                await session.send(build_message(f"out.{index}"), rcpt_to=rcpt)
        except SessionError as exc:
            raise PeerError(f"loading the queue failed: {exc}") from None
        finally:
            await session.close()

    await asyncio.gather(*(one(k) for k in range(connections)))


def drain(
    sink: SinkProcess, monitor: TreeMonitor, t0: float, settings: OutboundSettings
) -> tuple[SinkProgress, float]:
    """Wait until the sink has every message or the timeout; returns (progress, elapsed)."""
    with monitor:
        progress = sink.wait_for(settings.messages, settings.drain_timeout)
    end = progress.last_at if progress.count >= settings.messages else time.monotonic()
    return progress, end - t0


def sealpost_held() -> list[tuple[str, object, str]]:
    """Changes (beyond the inbound ones) while the queue is loaded."""
    return [
        ("delivery.enabled", False, "held while the queue is loaded (untimed); on for the drain"),
        _NO_MTA_STS,
    ]


def sealpost_drain(
    pki: Pki, sink_port: int, settings: OutboundSettings
) -> list[tuple[str, object, str]]:
    """Changes (beyond the inbound ones) for the timed drain into the sink."""
    return [
        (
            "delivery.smarthost",
            f"127.0.0.1:{sink_port}",
            "every domain relayed to the one sink, like Postfix's relayhost (no DNS)",
        ),
        (
            "delivery.ca_file",
            str(pki.ca_file),
            "trust the sink's certificate, as Postfix does (level may does not require it)",
        ),
        (
            "delivery.concurrency",
            settings.concurrency,
            "equal to per_domain_concurrency and to Postfix's limits: one relay host",
        ),
        _NO_MTA_STS,
    ]


_NO_MTA_STS = (
    "mta_sts.enabled",
    False,
    "no policy fetches for the 200 test domains: loopback traffic only, like Postfix",
)


def run_sealpost(
    base: Path, pki: Pki, sink: SinkProcess, settings: OutboundSettings
) -> tuple[OutboundMeasurement, list[BenchConfig]]:
    """Load through init's ``submission`` listener (STARTTLS + AUTH), then drain."""
    server = SealpostServer(
        base, pki, name="sealpost-out", label="Sealpost (outbound: loading)", extra=sealpost_held()
    )
    configs = [server.config]
    key = json.loads(server.run("keys", "create", "--label", "bench", "--json"))["key"]
    try:
        server.start()
        port = server.ports[SUBMISSION_LISTENER]
        target = Target(server.host, port, True, MAIL_FROM, recipient(0, 1), auth_key=key)
        inject_seconds = inject(target, settings)
        server.stop()
        drain_config = sealpost_drain(pki, sink.port, settings)
        configs.append(server.reconfigure(drain_config, "Sealpost (outbound: drain)"))
        sink.reset()
        t0 = time.monotonic()
        server.start()
        monitor = TreeMonitor(server.root_pid, since_start=True)
        progress, elapsed = drain(sink, monitor, t0, settings)
    finally:
        server.stop()
    found = _measurement("Sealpost", settings, progress, elapsed, t0, inject_seconds, monitor)
    return found, configs


def _measurement(
    server: str,
    settings: OutboundSettings,
    progress: SinkProgress,
    elapsed: float,
    t0: float,
    inject_seconds: float,
    monitor: TreeMonitor,
) -> OutboundMeasurement:
    """One server's outbound figures from its drain into the sink."""
    assert monitor.usage is not None
    return OutboundMeasurement(
        server,
        settings.messages,
        progress.count,
        elapsed,
        (progress.first_at - t0) if progress.count else elapsed,
        inject_seconds,
        monitor.usage,
        progress.sessions,
        progress.tls_sessions,
    )


# Postfix's connection cache for the one relay host: the destination is named as in
# postconf(5), "a relay host name (without the [] or non-default TCP port)"; TLS connections
# are cached only through tlsproxy(8) with smtp_tls_connection_reuse (Postfix >= 3.4).
CACHED_POSTFIX = "Postfix (connection cache)"


def postfix_cache_settings(relay_host: str = "127.0.0.1") -> dict[str, str]:
    return {
        "smtp_connection_cache_destinations": relay_host,
        "smtp_tls_connection_reuse": "yes",
    }


def postfix_sender(
    base: Path, pki: Pki, sink_port: int, settings: OutboundSettings, *, cached: bool = False
) -> PostfixPeer:
    """A Postfix relaying everything to the sink, with smtp delivery deferred."""
    extra = {
        "defer_transports": "smtp",
        **queue_timers(_PARKED_TIMER_S),
        "default_process_limit": str(max(settings.concurrency, settings.inject_connections)),
        "default_destination_concurrency_limit": str(settings.concurrency),
        "smtp_tls_loglevel": "0",
    }
    if cached:
        extra |= postfix_cache_settings()
    return PostfixPeer(
        base,
        name="bench-postfix-out-cache" if cached else "bench-postfix-out",
        smtpd_port=free_loopback_port(),
        myhostname="out.bench.test",
        role=SenderRole(relay_port=sink_port, tls_level=TlsLevel.MAY, ca_file=pki.ca_file),
        queue_timer_seconds=_DRAIN_TIMER_S,
        extra_main_cf=extra,
    )


def run_postfix(
    base: Path, pki: Pki, sink: SinkProcess, settings: OutboundSettings, *, cached: bool = False
) -> OutboundMeasurement:
    peer = postfix_sender(base, pki, sink.port, settings, cached=cached)
    try:
        peer.start()
        target = Target("127.0.0.1", peer.smtpd_port, False, MAIL_FROM, recipient(0, 1))
        inject_seconds = inject(target, settings)
        _wait_deferred(peer, settings.messages, settings.drain_timeout)
        sink.reset()
        master = peer.master_pid
        assert master is not None
        monitor = TreeMonitor(master)
        t0 = time.monotonic()
        with monitor:
            _release(peer)
            progress = sink.wait_for(settings.messages, settings.drain_timeout)
        done = progress.count >= settings.messages
        elapsed = (progress.last_at if done else time.monotonic()) - t0
    finally:
        peer.stop()
    label = CACHED_POSTFIX if cached else "Postfix"
    return _measurement(label, settings, progress, elapsed, t0, inject_seconds, monitor)


def _wait_deferred(peer: PostfixPeer, count: int, timeout: float) -> None:
    """Until qmgr has parked all ``count`` messages in the deferred queue.

    Every ``_KICK`` seconds without that, ``postkick ... qmgr I`` asks qmgr to scan the
    incoming queue. A cleanup trigger lost while Postfix was starting otherwise left the
    messages in ``incoming`` until qmgr's own timer, about 60 s later (seen once on a loaded
    machine: ``delays=62/0/0/0``, past the timeout). Not ``postqueue -f``: a flush overrides
    ``defer_transports`` and delivers the deferred messages, so on a slow machine, where 20,000
    took longer than one kick to park, the count never came (2026-12-04)."""
    deferred = peer.layout.queue_dir / "deferred"
    start = time.monotonic()
    deadline, kick = start + timeout, start + _KICK
    while sum(1 for p in deferred.rglob("*") if p.is_file()) < count:
        now = time.monotonic()
        if now >= deadline:
            raise PeerError(f"Postfix did not defer {count} messages:\n{peer.log_tail()}")
        if now >= kick:
            # Best effort: postkick fails when qmgr does not read its FIFO in time (seen on
            # 2026-12-07 while qmgr churned the deferred queue, exit status 1 and nothing on
            # stderr, which aborted a whole run); the deadline above decides.
            with contextlib.suppress(PostfixPeerError, subprocess.TimeoutExpired):
                peer.scan_incoming(timeout=30)
            kick = now + _KICK
        time.sleep(_POLL)


def _release(peer: PostfixPeer) -> None:
    """``defer_transports`` emptied and the drain's queue timers back, ``postfix reload``,
    ``postqueue -f``."""
    config_dir = str(peer.layout.config_dir)
    timers = [f"{name}={value}" for name, value in queue_timers(_DRAIN_TIMER_S).items()]
    for argv in (
        [_POSTCONF, "-c", config_dir, "-e", "defer_transports=", *timers],
        [_POSTFIX, "-c", config_dir, "reload"],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise PeerError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
        if argv[0] == _POSTCONF:  # Postfix pauses on a main.cf younger than a second
            past = time.time() - 5
            os.utime(peer.layout.config_dir / "main.cf", (past, past))
    peer.flush(timeout=30)


def run_outbound(
    base: Path, pki: Pki, settings: OutboundSettings, configs: list[BenchConfig]
) -> list[OutboundMeasurement]:
    """Sealpost, Postfix as configured by default, Postfix with its connection cache on: into
    one sink started once. Sealpost's configs are appended to ``configs``."""
    with SinkProcess(pki.cert_file, pki.key_file) as sink:
        sealpost, used = run_sealpost(base, pki, sink, settings)
        configs += used
        return [
            sealpost,
            run_postfix(base, pki, sink, settings),
            run_postfix(base, pki, sink, settings, cached=True),
        ]
