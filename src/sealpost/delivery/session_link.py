"""One outbound connection: a Stream and the sans-I/O SmtpClient driven over it, bounded.

``Link.run`` writes what the client asks and reads until the operation completes; every
wait has a timeout (RFC 5321 section 4.5.3.2: ``command_timeout`` for replies, 5 minutes by
default; ``data_timeout`` for the reply after the final dot, 10 minutes, because a timeout
there "would typically result in delivery of multiple copies"). A timeout or a lost
connection ends the operation with a synthesized 4.4.2 reply and the client is unusable.
``open_link`` connects to the target's addresses in order (``connect_timeout`` each), reads
the greeting and says EHLO. A 5xx greeting is TRANSIENT like Postfix's default
``smtp_skip_5xx_greeting``; a 5xx to both EHLO and HELO is PERMANENT.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sealpost.delivery.types import Outcome, Target
from sealpost.model.reply import Reply
from sealpost.model.tls_record import TlsRecord
from sealpost.model.tlsrpt import TlsFailure
from sealpost.net.stream import Stream, StreamClosed
from sealpost.smtp.client import SmtpClient
from sealpost.smtp.client_events import Completion, Event, Greeted, Hello, QuitDone, Send, Step

log = logging.getLogger("sealpost.delivery")

TIMED_OUT = Reply.of(451, "4.4.2", "timeout waiting for the server")
LOST = Reply.of(451, "4.4.2", "connection lost")
UNUSABLE = Reply.of(451, "4.4.2", "session not usable")
QUIT_TIMEOUT = 10.0

C = TypeVar("C", bound=Completion)


@dataclass(frozen=True, slots=True)
class ClientSettings:
    helo_name: str
    ca_file: Path | None = None
    connect_timeout: float = 30
    command_timeout: float = 300
    data_timeout: float = 600
    tls_handshake_timeout: float = 30
    broken_tls_memory: float = 3600  # seconds a failed handshake keeps a host in plaintext
    auth: tuple[str, str] | None = field(default=None, repr=False)  # smarthost credentials


@dataclass(frozen=True, slots=True)
class OpenFailure:
    """No usable session: the reply to report, what it means, what TLS achieved."""

    reply: Reply
    outcome: Outcome
    tls: TlsRecord | None
    failure: TlsFailure | None


class Link:
    """A Stream and the SmtpClient that talks over it."""

    def __init__(self, stream: Stream, settings: ClientSettings) -> None:
        self.stream = stream
        self.client = SmtpClient(settings.helo_name)
        self._settings = settings

    async def run(self, events: list[Event], kind: type[C], timeout: float | None = None) -> C:
        """Write what the client asks, read until the operation's completion event."""
        while True:
            done = next((e for e in events if not isinstance(e, Send)), None)
            sends = [e.data for e in events if isinstance(e, Send)]
            out = sends[0] if len(sends) == 1 else b"".join(sends)  # no copy of a big DATA
            events = []
            if out:
                try:
                    await self.stream.write(out, timeout or self._timeout())
                except TimeoutError:
                    events = self.client.abort(TIMED_OUT)
                except (OSError, StreamClosed):
                    events = self.client.abort(LOST)
            if done is not None:
                assert isinstance(done, kind), done
                return done
            if events:
                continue
            try:
                chunk = await self.stream.read(timeout or self._timeout())
            except TimeoutError:
                events = self.client.abort(TIMED_OUT)
                continue
            except (OSError, StreamClosed):
                chunk = b""
            events = self.client.feed(chunk) if chunk else self.client.abort(LOST)

    def _timeout(self) -> float:
        if self.client.waiting_for is Step.MESSAGE:
            return self._settings.data_timeout
        return self._settings.command_timeout

    @property
    def usable(self) -> bool:
        return self.client.usable and not self.stream.at_eof

    async def close(self) -> None:
        """QUIT when the session allows it, then close; never raises."""
        try:
            if self.usable:
                timeout = min(self._settings.command_timeout, QUIT_TIMEOUT)
                await self.run(self.client.quit(), QuitDone, timeout)
        except Exception:  # closing must not fail the caller
            log.debug("QUIT failed", exc_info=True)
        await self.stream.close()


async def open_link(target: Target, settings: ClientSettings) -> Link | OpenFailure:
    """TCP to the first address that answers, then the greeting and EHLO."""
    problems = []
    for address in target.addresses:
        try:
            stream = await Stream.connect(address, target.port, settings.connect_timeout)
        except (OSError, TimeoutError) as exc:
            problems.append(f"{address}: {exc or 'connect timeout'}")
            continue
        link = Link(stream, settings)
        greeted = await link.run([], Greeted)
        if greeted.reply.code != 220:
            await link.close()
            return OpenFailure(greeted.reply, Outcome.TRANSIENT, None, None)
        hello = await link.run(link.client.ehlo(), Hello)
        if hello.extensions is None:
            await link.close()
            permanent = hello.reply.is_permanent
            outcome = Outcome.PERMANENT if permanent else Outcome.TRANSIENT
            return OpenFailure(hello.reply, outcome, None, None)
        return link
    detail = "; ".join(problems) or "no address"
    reply = Reply.of(451, "4.4.1", f"cannot connect to {target.host}: {detail}")
    return OpenFailure(reply, Outcome.TRANSIENT, None, None)
