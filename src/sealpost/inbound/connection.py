"""One inbound SMTP connection: drives the sans-I/O ``ServerSession`` from asyncio.

This is the only inbound code that touches a transport. It owns:
- reads: into the listener's one buffer (``asyncio.BufferedProtocol``), copied out at once;
  under TLS the loop decrypts straight into it instead of allocating a bytes object of its
  whole read size (256 KiB in uvloop) for every record (``net.large_buffers``);
- writes: all replies produced by one read go out in one write (pipelined replies, RFC 2920);
- STARTTLS (RFC 3207 section 4.2): the engine has already discarded every byte that followed
  the command; the upgrade happens on the same transport, so bytes not yet read from the
  socket are parsed as TLS records (checklist A1/A2); commands the client sends with its
  TLS ``Finished`` wait until the TLS transport is ours (asyncio's ``start_tls`` hands them
  over before it returns; fed then, they would meet the handshake wait and be lost);
- timers: idle timeout between commands, a DATA deadline that grows with the bytes received
  (minimum DATA rate, Postfix ``smtpd_min_data_rate``) under a hard cap, and the TLS handshake
  timeout (checklist G6, A8);
- durability: ``250`` after the final dot is sent only after ``Submission.submit`` returned,
  i.e. after the message is fsynced (RFC 5321 section 6.1); a message that names a sender
  the authenticated key may not use is answered ``550 5.7.1`` and nothing is queued, and
  one whose session's key was revoked since AUTH ``554 5.7.8``.
"""

from __future__ import annotations

import asyncio
import logging

from sealpost.inbound.context import ListenerContext
from sealpost.inbound.limits import REFUSAL_LIMITS
from sealpost.model.envelope import InboundMessage, SessionInfo
from sealpost.model.reply import Reply
from sealpost.smtp import replies
from sealpost.smtp.server import (
    Authenticate,
    Close,
    Event,
    MessageReady,
    Send,
    ServerSession,
    StartTls,
)
from sealpost.store.errors import StoreError
from sealpost.submission.sender_identity import ForeignSender
from sealpost.submission.smtp_api_header import BadSmtpApi

log = logging.getLogger("sealpost.smtp")

QUEUE_WRITE_ERROR = Reply.of(451, "4.3.0", "Error: queue file write error, try again later")


class SmtpConnection(asyncio.BufferedProtocol):
    def __init__(self, ctx: ListenerContext) -> None:
        self._ctx = ctx
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._session: ServerSession | None = None
        self._ip = ""
        self._port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0
        self._data_started: float | None = None
        self._data_bytes = 0
        self._closed = False
        self._counted = False
        self._ip_slot = False  # holds a per-IP slot until its SMTP session is over
        self._upgrading = False  # start_tls called: what arrives now was sent under TLS
        self._early: list[bytes] = []

    @property
    def tasks(self) -> set[asyncio.Task[None]]:
        return self._tasks

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        peer = transport.get_extra_info("peername") or ("", 0)
        self._ip, self._port = str(peer[0]), int(peer[1])
        if self._ctx.draining:  # RFC 5321 section 3.8: going down, 421 and close
            self._ctx.refused_draining += 1
            transport.write(replies.shutting_down(self._ctx.policy.hostname).to_bytes())
            transport.close()
            self._closed = True
            return
        refused = self._ctx.limiter.acquire(self._ip, self._loop.time())
        if refused is not None:
            log.info("refused connection from %s: %s", self._ip, refused)
            if self._ctx.metrics is not None:
                limit = REFUSAL_LIMITS.get(refused, "other")
                self._ctx.metrics.refused_connections.labels(limit=limit).inc()
            transport.write(refused.to_bytes())
            transport.close()
            self._closed = True
            return
        self._counted = True
        self._ip_slot = True
        tls = None
        if self._ctx.implicit_tls:
            tls = self._ctx.tls_record(transport.get_extra_info("ssl_object"))
        self._session = ServerSession(self._ctx.policy, tls=tls)
        self._ctx.connections.add(self)
        if self._ctx.metrics is not None:
            self._ctx.metrics.open_connections(self._ctx.name).inc()
        self._last = self._loop.time()
        self._perform(self._session.start())
        self._arm(self._ctx.timeouts.idle)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._ctx.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self._received(self._ctx.read_buffer[:nbytes].tobytes())

    def _received(self, data: bytes) -> None:
        session = self._session
        if session is None or self._closed:
            return
        if self._upgrading:
            self._early.append(data)
            return
        self._last = self._loop.time()
        if session.in_data:
            self._data_bytes += len(data)
        self._perform(session.feed(data))
        if session.in_data:
            if self._data_started is None:
                self._data_started, self._data_bytes = self._last, 0
        else:
            self._data_started = None

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._counted:
            self._counted = False
            self._ctx.limiter.release(self._ip, ip_slot=self._ip_slot)
            self._ip_slot = False
            if self._ctx.metrics is not None:
                self._ctx.metrics.open_connections(self._ctx.name).dec()
        self._ctx.connections.discard(self)
        # uvloop's TLS layer keeps this protocol's bound get_buffer/buffer_updated, and this
        # protocol its transport: a cycle that would hold the connection (and its TLS read
        # buffer) until the collector's next full pass.
        self._transport = None

    def pause_writing(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.resume_reading()

    # -- events -------------------------------------------------------------------------
    def _perform(self, events: list[Event]) -> None:
        transport = self._transport
        if transport is None:
            return
        out: list[bytes] = []
        for event in events:
            if isinstance(event, Send):
                out.append(event.reply.to_bytes())
                continue
            if out:
                transport.write(b"".join(out))
                out = []
            if isinstance(event, StartTls):
                self._spawn(self._start_tls())
            elif isinstance(event, Authenticate):
                self._spawn(self._authenticate(event))
            elif isinstance(event, MessageReady):
                self._spawn(self._store(event))
            elif isinstance(event, Close):
                self._session_over()
                self.close()
        if out and not self._closed:
            transport.write(b"".join(out))

    def _spawn(self, coro: object) -> None:
        task = self._loop.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_tls(self) -> None:
        assert self._transport is not None and self._session is not None
        self._upgrading = True  # start_tls takes the raw transport before it first waits
        try:
            transport = await self._loop.start_tls(
                self._transport,
                self,
                self._ctx.ssl_context(),
                server_side=True,
                ssl_handshake_timeout=self._ctx.timeouts.handshake,
            )
        except (TimeoutError, OSError, ConnectionError, Exception) as exc:
            log.info("TLS handshake with %s failed: %s", self._ip, exc or type(exc).__name__)
            self._abort()
            return
        if transport is None or self._closed:
            return
        self._transport = transport  # type: ignore[assignment]
        record = self._ctx.tls_record(transport.get_extra_info("ssl_object"))
        self._last = self._loop.time()
        self._perform(self._session.tls_established(record))
        self._upgrading = False
        early, self._early = b"".join(self._early), []
        if early:
            self._received(early)

    async def _authenticate(self, event: Authenticate) -> None:
        assert self._session is not None
        outcome = await self._ctx.authenticator.authenticate(
            self._ip, event.username, event.password
        )
        if not self._closed:
            self._last = self._loop.time()
            self._perform(self._session.auth_result(outcome))

    async def _store(self, event: MessageReady) -> None:
        session = self._session
        assert session is not None
        message = InboundMessage(
            envelope=event.envelope,
            session=SessionInfo(
                listener=self._ctx.name,
                client_ip=self._ip,
                client_port=self._port,
                helo=session.helo,
                esmtp=session.esmtp,
                auth_user=session.auth_user,
                tls=session.tls,
                local_hostname=self._ctx.policy.hostname,
                sender_domains=session.sender_domains,
            ),
            data=event.data,
        )
        try:
            revoked = session.auth_user is not None and not (
                await self._ctx.authenticator.still_valid(session.auth_user)
            )
            outcome = None if revoked else await self._ctx.submission.submit(message)
        except StoreError as exc:
            log.error("queue write failed for message from %s: %s", self._ip, exc)
            reply = QUEUE_WRITE_ERROR
        except Exception:
            log.exception("unexpected error while queueing a message from %s", self._ip)
            reply = QUEUE_WRITE_ERROR
        else:
            if outcome is None:
                log.info("refused from %s: key %s was revoked", self._ip, session.auth_user)
                reply = replies.key_revoked()
            elif isinstance(outcome, ForeignSender):
                log.info("refused from %s, key %s: %s", self._ip, session.auth_user, outcome)
                reply = replies.sender_not_owned(str(outcome))
            elif isinstance(outcome, BadSmtpApi):
                log.info("refused from %s, key %s: %s", self._ip, session.auth_user, outcome)
                reply = replies.bad_smtp_api_header(str(outcome))
            else:
                reply = Reply.of(250, "2.0.0", f"Ok: queued as {outcome.message_id}")
                if not outcome.queued:  # as SparkPost: accepted, a policy_rejection each
                    reply = Reply.of(
                        250, "2.0.0", f"Ok: {outcome.message_id} suppressed, nothing to send"
                    )
                # One line per message is DEBUG; INFO has the door's summary per interval.
                log.debug(
                    "queued %s state=%s from=<%s> nrcpt=%d size=%d listener=%s tls=%s",
                    outcome.message_id,
                    "held" if outcome.held else "queued",
                    event.envelope.mail_from,
                    len(event.envelope.recipients),
                    len(event.data),
                    self._ctx.name,
                    session.tls.version if session.tls else "none",
                )
        if not self._closed:
            self._last = self._loop.time()
            self._perform(session.store_result(reply))

    # -- timers and closing -------------------------------------------------------------
    def _arm(self, delay: float) -> None:
        self._timer = self._loop.call_later(max(delay, 0.05), self._check_deadline)

    def _deadline(self) -> float:
        t = self._ctx.timeouts
        idle_deadline = self._last + t.idle
        if self._data_started is None:
            return idle_deadline
        by_rate = self._data_started + t.idle + self._data_bytes / t.min_data_rate
        return min(idle_deadline, by_rate, self._data_started + t.data)

    def _check_deadline(self) -> None:
        session = self._session
        if self._closed or session is None:
            return
        now = self._loop.time()
        if session.waiting:  # our own work (store, auth, handshake) is not the client's fault
            self._last = now
            self._arm(self._ctx.timeouts.idle)
            return
        deadline = self._deadline()
        if now >= deadline:
            log.info("timeout from %s", self._ip)
            self._perform(session.timeout())
            return
        self._arm(min(deadline - now, 1.0) if self._data_started is not None else deadline - now)

    def _session_over(self) -> None:
        """QUIT answered (or a closing 421 sent): free the per-IP slot now, see limits.py."""
        if self._ip_slot:
            self._ip_slot = False
            self._ctx.limiter.session_over(self._ip)

    def drain(self, *, now: bool = False) -> None:
        """The server is stopping (``inbound.drain``): see ``ServerSession.shutdown``."""
        if self._session is not None and not self._closed:
            self._perform(self._session.shutdown(now=now))

    def close(self) -> None:
        if self._transport is not None and not self._closed:
            self._closed = True
            self._transport.close()

    def _abort(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.abort()
