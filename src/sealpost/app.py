"""The composition root: the only place that wires config, store, TLS, listeners together.

``Sealpost(config)`` builds every part from the config; ``start()`` opens the store and the
listeners, ``run()`` serves until SIGTERM/SIGINT, reloading certificates on SIGHUP and when
their files change; ``stop()`` drains for at most ``[server] drain_timeout`` seconds
(``shutdown``), then the store is closed and one summary line is logged (``model.drain``).
A second SIGTERM/SIGINT exits at once, status 1: every acknowledged message is already
durable in the queue.

``Sealpost(config, seat)`` is one worker process of several (``[server] workers``): it serves
on the sockets the supervisor bound, counts connections in the shared limit table, and opens
its own store connections. Every worker runs a dispatcher on the shared queue (its leases
carry its seat; the per-domain sessions are counted across the workers, on SQLite in
``delivery.shared_slots``) and serves the API (its request budgets in the seat's shared
table, ``workers.budgets``); only the primary runs the webhook worker and the TLS-RPT
intake. Every worker watches its certificate files, and follows the settings any node or
process changes in the store (``change_follower``: the DKIM signer, and on the primary the
webhook worker; on SQLite the workers ring each other's ``store.change_bell``). The
primary also sends the TLS reports (``[tlsrpt]``, RFC 8460) after each midnight UTC.
The sending domains' DKIM keys are in the store, sealed under the key-encryption key of
``[dkim] key_encryption_key_file`` (``domains.stored_keys``): ``start()`` makes or reads it
once the store is open (refusing to start when the store holds keys and the file is
missing), and the primary imports the key files of earlier versions before the first
refresh of the signer.
What is not wiring lives beside it: ``startup`` (``prepare``, run once before the workers
fork; the free-space watch; the retention settings), ``listeners`` (starting the SMTP, API
and metrics listeners), ``session_settings`` (the SMTP policy, timeouts and limits from the
config, shared with ``config_reload``) and ``shutdown`` (the stop signals, the drain).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from sealpost.api.app import asgi
from sealpost.api.context import ApiContext
from sealpost.api.rate_limit import per_process
from sealpost.api.server import ApiServer
from sealpost.change_follower import ChangeFollower
from sealpost.config.model import Config
from sealpost.config_reload import ConfigReloader, LiveParts
from sealpost.console.app import with_console
from sealpost.delivery.dispatcher import Dispatcher
from sealpost.delivery.pool import SessionPool
from sealpost.delivery.shared_slots import SharedDomainSlots
from sealpost.dkim.keyring import Keyring
from sealpost.dkim.keys import load_key
from sealpost.domains.registry import SendingDomains
from sealpost.domains.signers import SigningKeys
from sealpost.domains.stored_keys import ensure_keyring, import_key_files
from sealpost.inbound.auth import Authenticator
from sealpost.inbound.context import ListenerContext
from sealpost.inbound.limits import AuthFailureGuard
from sealpost.listeners import (
    Bound,
    listener_socket,
    metrics_registry,
    serve_api,
    serve_metrics,
    serve_smtp,
)
from sealpost.model.drain import DrainTally
from sealpost.model.tls_record import TlsRecord
from sealpost.net.egress import EgressGuard
from sealpost.net.session_tickets import TicketKeyChain, TicketKeys
from sealpost.net.tls import CertificateSet, tls_record_from_ssl
from sealpost.node_presence import NodeIdInUse, NodePresence
from sealpost.observability.metrics import Metrics
from sealpost.outbound import Outbound, build_outbound, build_resolver, check_dnssec
from sealpost.retention.purger import Purger
from sealpost.session_settings import connection_limiter, server_policy, session_timeouts
from sealpost.shutdown import Deliveries, StopSignals, drain
from sealpost.startup import retention_settings, space_watch, warn_loose_modes
from sealpost.store import open_store
from sealpost.store.errors import StoreError
from sealpost.store.free_space import SpaceWatch, open_when_room
from sealpost.store.sqlite.database import Database
from sealpost.submission.activity import log_summaries
from sealpost.submission.door import Submission
from sealpost.submission.local_hold import LocalHold
from sealpost.tlsrpt import wiring as tlsrpt_wiring
from sealpost.tlsrpt.daily import run_daily
from sealpost.tlsrpt.intake import ReportIntake
from sealpost.tlsrpt.post import ReportPoster
from sealpost.tlsrpt.send import TlsReporter
from sealpost.webhooks.worker import WebhookWorker
from sealpost.webhooks.worker import from_config as webhook_worker
from sealpost.workers.lifeline import watch_lifeline
from sealpost.workers.seat import WorkerSeat

log = logging.getLogger("sealpost")


@dataclass
class Sealpost:
    config: Config
    servers: list[asyncio.Server] = field(default_factory=list)
    bound: list[Bound] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)  # one registry per server
    seat: WorkerSeat | None = None  # one worker of several; None: the whole server

    def __post_init__(self) -> None:
        cfg = self.config
        seat = self.seat
        # The primary (or the only process) runs webhooks, TLS reports and the purger.
        self.primary = seat is None or seat.primary
        # One integrity check per start: with workers, prepare() made it before the fork.
        self.store = open_store(
            cfg.store.url,
            base_dir=cfg.base_dir,
            node_id=cfg.cluster.node,
            quick_check=seat is None,
            worker=None if seat is None else seat.index,
        )
        if seat is not None and seat.writer_socket and isinstance(self.store, Database):
            self.store.share_writer(seat.writer_socket)  # new mail: the queue writer
        if seat is not None and isinstance(self.store, Database):
            self.store.share_changes(seat.changes, seat.index)  # settings: the others follow
        # [store] min_free: new mail refused (452 / 503) while the queue's disk is under it
        self.space: SpaceWatch = space_watch(cfg, quiet=not self.primary)
        self.metrics.domains = frozenset(cfg.metrics.domains)
        self.store.observe_commits(self.metrics.commit_seconds.observe)
        self.certs = CertificateSet(
            cfg.tls.cert_file,
            cfg.tls.key_file,
            [(s.name, s.cert_file, s.key_file) for s in cfg.tls.sni],
        )
        # Session tickets any worker can open (net.session_tickets): the seat's chain.
        chain = seat.tickets if seat is not None else TicketKeyChain.new(time.time())
        self.tickets = TicketKeys(chain, self.certs.context)
        self.tickets.refresh(time.time())
        srv = cfg.server
        self.limiter = connection_limiter(
            srv, board=seat.board if seat else None, worker=seat.index if seat else 0
        )
        self.guard = AuthFailureGuard(
            srv.auth_failures_per_ip,
            srv.auth_failure_window,
            board=seat.board if seat else None,
        )
        self.authenticator = Authenticator(self.store, self.guard, srv.auth_failure_delay)
        # DKIM keys: the config's [[dkim.keys]] plus those of verified sending domains.
        static_keys = [load_key(k.domain, k.selector, k.key_file) for k in cfg.dkim.keys]
        self.signing_keys = SigningKeys(self.store, static_keys)
        # What this process keeps from the store follows changes made by any node or process.
        self.follower = ChangeFollower(self.store, {"sending_domain": self.signing_keys.refresh})
        # Mail for local domains without a static route stays here: stored held at once.
        hold = LocalHold.of(srv.local_domains, cfg.delivery.routes)
        self.submission = Submission(
            self.store,
            time.time,
            self.signing_keys,
            hostname=cfg.server.hostname,
            local_hold=hold,
            suppressions=self.store,  # authenticated SMTP submissions skip suppressed rcpts
            keys=self.store,  # X-MSYS-API skip_suppression: only with the key's grant
        )
        self.submission.on_accepted(self.metrics.count_accepted)
        self.resolver = build_resolver(cfg)
        # DESIGN.md section 9: every connection an API caller can aim goes through this.
        self.egress = EgressGuard(self.resolver, cfg.api.allowed_private_targets)
        self.secret: Keyring | None = None  # read in start(), once the store is open
        self.api: ApiServer | None = None
        self.metrics_server: ApiServer | None = None
        self.webhooks: WebhookWorker | None = None
        self.dispatcher: Dispatcher | None = None
        self.pool: SessionPool | None = None
        self.outbound: Outbound | None = None  # the dispatcher's parts a reload updates
        self.reloader = ConfigReloader(self.config, self._live_parts)
        self._dispatching: asyncio.Task[None] | None = None
        self.presence: NodePresence | None = None
        self.reporter: TlsReporter | None = None  # [tlsrpt] enabled, on the primary
        self._report_poster: ReportPoster | None = None
        self.intake: ReportIntake | None = None
        self._intake_task: asyncio.Task[None] | None = None
        self.purger: Purger | None = None  # [retention], on the primary
        self.timeouts = session_timeouts(srv)
        self._stop = asyncio.Event()
        self.contexts: list[ListenerContext] = []
        self._signals = StopSignals(self._stop, srv.drain_timeout, self._open_sessions)
        self._deliveries_at_stop = 0
        self.drained: DrainTally | None = None  # what stop() did, once it has

    def _storage_low(self) -> bool:
        return self.space.low

    def _tls_record(self, ssl_object: object) -> TlsRecord:
        return tls_record_from_ssl(ssl_object, self.certs.sni_of(ssl_object))

    async def start(self) -> None:
        if self.seat is None:  # one process; with workers, prepare() checked before the fork
            await check_dnssec(self.config, self.resolver)
        self.space.check()  # one line now if the disk is already under [store] min_free
        await open_when_room(self.store, self.space)
        await self.follower.prime()  # before the first read, so no later change is missed
        try:
            self.secret = await ensure_keyring(
                self.config.dkim_secret_file,
                self.store,
                self.config.dkim.previous_key_encryption_key_files,
            )
            if self.primary:  # key files of earlier versions: into the store (idempotent)
                await import_key_files(self.store, self.secret, time.time)
        except BaseException:
            await self.store.close()
            raise
        self.signing_keys.open_with(self.secret)
        await self.signing_keys.refresh()
        if self.primary:  # the node's one registration: a node id in use refuses the start
            ring = self.secret  # adopted in place on SIGHUP: the heartbeat sees new keys
            presence = NodePresence(self.store, self.config.cluster.node, kek_ids=ring.ids)
            try:
                await presence.claim()
            except NodeIdInUse:
                await self.store.close()
                raise
            self.presence = presence
            warn_loose_modes(self.config)
            self.webhooks = webhook_worker(self.store, self.config, self.egress)
            self.webhooks.on_batch(self.metrics.count_webhook_batch)
            self.webhooks.start()
            if self.config.tlsrpt.enabled:
                self._start_reporter()
            self.follower.follow("webhook", self._wake_webhooks)
            # TLS-RPT reports by mail: read from held mail after the 250 (tlsrpt/intake.py).
            reports = self.config.tls_reports
            self.intake = ReportIntake(
                self.store, limit=reports.max_report_bytes, interval=reports.scan_interval
            )
            self.submission.on_held(self.intake.wake)
            self.purger = Purger(self.store, retention_settings(self.config))
        if self.config.delivery.enabled:  # in every worker: each claims its own share
            await self._start_dispatcher()
        for listener in self.config.smtp.listeners:
            ctx = ListenerContext(
                name=listener.name,
                policy=server_policy(self.config.server, listener, self._storage_low),
                limiter=self.limiter,
                authenticator=self.authenticator,
                submission=self.submission,
                timeouts=self.timeouts,
                ssl_context=lambda: self.certs.context,
                tls_record=self._tls_record,
                metrics=self.metrics,
            )
            sock = listener_socket(self.seat, listener.name, listener.address)
            server, bound = await serve_smtp(listener, ctx, sock)
            self.contexts.append(ctx)
            self.servers.append(server)
            self.bound.append(bound)
        if self.config.api.enabled:  # in every worker: the API's state is in the store
            await self._start_api()
        if self.config.metrics.enabled and self.primary:
            await self._start_metrics()

    async def _start_dispatcher(self) -> None:
        async def send_dsn(recipient: str, data: bytes) -> None:
            await self.submission.submit_dsn(recipient, data)

        seat = self.seat
        self.outbound = build_outbound(
            self.config,
            self.store,
            send_dsn,
            self.resolver,
            self.metrics.count_sts_fetch,
            workers=1 if seat is None else seat.workers,
            slots=None
            if seat is None or seat.domain_board is None
            else SharedDomainSlots(seat.domain_board, seat.index),
        )
        self.dispatcher, self.pool = self.outbound.dispatcher, self.outbound.pool
        self.dispatcher.on_recorded(self.metrics.count_attempts)
        # The leases this process's owner holds (the node's ``[cluster] node_id``, and the
        # worker's seat) are its predecessor's: a restarted worker's, or the previous run's.
        # With workers, ``startup.prepare`` released the whole node's before the fork.
        try:
            recovered = await self.store.release_own_leases()
        except StoreError as exc:  # a full disk: those messages are due when the leases end
            log.warning(
                "the leases of the previous run were not released (%s); their "
                "messages are due again when the leases expire",
                exc,
            )
            recovered = 0
        if recovered:
            log.info("%d message(s) were in delivery when it stopped; due again", recovered)
        self.submission.on_queued(self.dispatcher.wake)

    def _start_reporter(self) -> None:
        """TLS reports (RFC 8460), sent after each midnight UTC by ``run_daily``."""
        self.reporter, self._report_poster = tlsrpt_wiring.reporter(
            self.config, self.store, self.resolver, self.submission
        )
        unsigned = tlsrpt_wiring.unsigned_warning(self.config, self.signing_keys)
        if unsigned:
            log.warning("%s", unsigned)

    async def _start_api(self) -> None:
        assert self.secret is not None
        ctx = ApiContext(
            self.config,
            self.store,
            self.submission,
            SendingDomains(self.store, self.config.server.data_dir, self.resolver, self.secret),
            resolver=self.resolver,
            egress=self.egress,
            signing_keys=self.signing_keys,
            webhooks=self.webhooks,  # None but on the primary: the others' changes ring
            storage_low=self._storage_low,
            budgets=self.seat.budgets.window if self.seat else per_process,
        )
        served = asgi(ctx)
        console = self.config.console.enabled
        if console:
            served = with_console(served, ctx)
        sock = listener_socket(self.seat, "api", self.config.api.address)
        self.api, bound = await serve_api(served, sock, lambda: self.certs.context, console=console)
        self.bound.append(bound)

    async def _start_metrics(self) -> None:
        cfg = self.config.metrics
        sock = listener_socket(self.seat, "metrics", cfg.address)
        registry = metrics_registry(self.metrics, self.seat)
        self.metrics_server, bound = await serve_metrics(
            cfg, registry, self.store.queue_depth, self.space, self._listeners_up, sock
        )
        self.bound.append(bound)

    def _listeners_up(self) -> bool:
        """Every SMTP listener of this process serving, and the API when it should be."""
        smtp = len(self.servers) == len(self.config.smtp.listeners)
        api = self.api is not None or not self.config.api.enabled
        return smtp and api and all(server.is_serving() for server in self.servers)

    def reload_certificates(self) -> None:
        if self.certs.reload():
            log.info("certificates reloaded")

    def _live_parts(self) -> LiveParts:
        return LiveParts(
            self.limiter,
            self.guard,
            self.contexts,
            self.submission,
            self.outbound,
            self.purger,
            self.signing_keys,
        )

    def reload(self) -> None:
        """SIGHUP: the certificates, then the config file (``config_reload``)."""
        self.reload_certificates()
        self.reloader.reload()  # self.config stays what the server started with

    def install_signals(self) -> None:
        """SIGTERM/SIGINT drain, a second one exits at once; SIGHUP reloads certificates and
        the config file. A worker leaves SIGINT (a terminal's Ctrl-C reaches the whole
        process group) to its supervisor, which forwards it as SIGTERM. Called before the
        ready line (or the worker's ready report): a SIGTERM sent the moment a caller sees
        it must drain, not meet the default action and kill the process."""
        self._signals.install(worker=self.seat is not None, reload=self.reload)

    async def run(self) -> None:
        """Serve until SIGTERM/SIGINT (``install_signals``, if not done yet), then drain."""
        self.install_signals()
        await self.run_until_stopped()

    def _open_sessions(self) -> int:
        return sum(len(ctx.connections) for ctx in self.contexts)

    async def run_until_stopped(self) -> None:
        """Serve (watching certificate files) until ``request_stop``."""
        loop = asyncio.get_running_loop()
        watcher = loop.create_task(self.certs.watch(self.config.tls.reload_interval, self._stop))
        summaries = loop.create_task(log_summaries(lambda: self.submission.counts, self._stop))
        tasks = [watcher, loop.create_task(self.follower.run(self._stop))]
        tasks.append(loop.create_task(self.tickets.rotate(self._stop)))
        tasks.append(loop.create_task(self.space.run(self._stop)))
        if self.presence is not None:
            tasks.append(loop.create_task(self.presence.run(self._stop)))
        if self.purger is not None:
            tasks.append(loop.create_task(self.purger.run(self._stop)))
        if self.intake is not None:  # not cancelled: it writes its cursor as it stops
            self._intake_task = loop.create_task(self.intake.run(self._stop))
        if self.dispatcher is not None:
            self._dispatching = loop.create_task(self.dispatcher.run(self._stop))
        if self.reporter is not None:
            t = self.config.tlsrpt
            daily = run_daily(
                self.reporter,
                self.store,
                self._stop,
                delay_max=t.send_delay_max,
                keep_days=t.keep_days,
            )
            tasks.append(loop.create_task(daily))
        if self.seat is not None:
            watch_lifeline(loop, self.seat.lifeline, self._supervisor_gone)
        await self._stop.wait()
        if self.dispatcher is not None:
            self._deliveries_at_stop = self.dispatcher.in_flight
        for task in tasks:
            task.cancel()
        await summaries
        await self.stop()
        assert self.drained is not None
        if self.seat is not None:  # the supervisor adds up every worker's and logs one line
            self.seat.report_drained(self.drained.to_wire())
        else:
            log.info("%s", self.drained.line())

    async def _wake_webhooks(self) -> None:
        """A webhook changed (maybe through another node's API): look at them all now."""
        if self.webhooks is not None:
            self.webhooks.wake()

    def request_stop(self) -> None:
        self._stop.set()

    def _supervisor_gone(self) -> None:
        log.error("the supervisor process is gone; this worker drains and exits")
        if self.seat is not None:
            self.seat.remove_writer_directory()  # its new mail: through its own writer now
        self._stop.set()

    async def stop(self) -> None:
        """Drain (``shutdown.drain``), then close everything; ``drained`` says how it went."""
        deliveries = None
        if self._dispatching is not None and self.dispatcher is not None:
            deliveries = Deliveries(self.dispatcher, self._dispatching, self._deliveries_at_stop)
        self.drained = await drain(
            self.contexts,
            self.servers,
            [self.api, self.metrics_server],
            deliveries,
            self.config.server.drain_timeout,
        )
        if self._intake_task is not None:
            await asyncio.wait([self._intake_task], timeout=10)
        if self.pool is not None:
            await self.pool.close_all()
        if self.webhooks is not None:
            await self.webhooks.stop()
        if self._report_poster is not None:
            await self._report_poster.close()
        if self.presence is not None:
            await self.presence.release()
        if self.seat is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self.seat.lifeline)
        await self.store.close()
