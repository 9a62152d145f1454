"""The client side of an SMTP dialogue: the sans-I/O ``SmtpClient`` driven over a ``Stream``.

The one loop every outbound connection runs, a delivery session (``delivery.session_link``)
as well as a tls-check probe (``tlscheck.smtp_probe``): write what the client emits (every
``Send`` of one turn in one write, so a pipelined transaction leaves as one segment, RFC
2920), read what arrives and feed it to the client, until the operation's completion
event. Reply lines are bounded by the client (``smtp.client_replies``) and unread input by
the ``Stream``. Every wait has a timeout: the caller's, else the one for the reply awaited
(RFC 5321 section 4.5.3.2: ``Timeouts.data`` for the reply after the final dot, because a
timeout there "would typically result in delivery of multiple copies";
``Timeouts.command`` for every other reply).

What a connection fault does is the caller's choice (``OnFault``):

- ``ABORT`` (delivery): a timeout ends the running operation with ``TIMED_OUT``, a lost
  connection (reset, write error, end of stream) with ``LOST``, both synthesized by
  ``client.abort``: the caller gets a completion to act on and the client is unusable;
- ``RAISE`` (tls-check): the ``TimeoutError``, ``OSError`` or ``StreamClosed`` reaches the
  caller, which names the step that failed; an end of stream still ends the running
  operation with ``LOST``.

Either way, an end of stream with no operation running raises ``StreamClosed``.

STARTTLS (RFC 3207): ``starttls`` sends the command; after its ``220`` the caller runs
``handshake`` (the ``Stream`` throws away whatever arrived in the clear, section 4.2;
checklist B1) and then ``tls_established`` (the client forgets what EHLO said and says it
again). With implicit TLS (RFC 8314 section 3.3) ``handshake`` comes before the greeting.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from sealpost.model.reply import Reply
from sealpost.net.stream import Stream, StreamClosed
from sealpost.smtp.client import SmtpClient
from sealpost.smtp.client_events import (
    Completion,
    Event,
    Greeted,
    Hello,
    Send,
    StartTlsDone,
    Step,
)

TIMED_OUT = Reply.of(451, "4.4.2", "timeout waiting for the server")
LOST = Reply.of(451, "4.4.2", "connection lost")

C = TypeVar("C", bound=Completion)


class OnFault(Enum):
    """What a timeout or a lost connection does to the running operation."""

    ABORT = "abort"  # end it with TIMED_OUT / LOST (delivery sessions)
    RAISE = "raise"  # let the exception reach the caller (tls-check probes)


@dataclass(frozen=True, slots=True)
class Timeouts:
    command: float  # every reply but the one after the final dot
    data: float  # the reply after the final dot

    def for_reply(self, step: Step | None) -> float:
        return self.data if step is Step.MESSAGE else self.command


class Dialogue:
    """A ``Stream`` and the ``SmtpClient`` that talks over it."""

    def __init__(
        self,
        stream: Stream,
        client: SmtpClient,
        timeouts: Timeouts,
        *,
        on_fault: OnFault = OnFault.ABORT,
    ) -> None:
        self.stream = stream
        self.client = client
        self.timeouts = timeouts
        self._raise = on_fault is OnFault.RAISE

    async def complete(self, events: list[Event], timeout: float | None = None) -> Completion:
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
                    if self._raise:
                        raise
                    events = self.client.abort(TIMED_OUT)
                except (OSError, StreamClosed):
                    if self._raise:
                        raise
                    events = self.client.abort(LOST)
            if done is not None:
                return done
            if events:
                continue
            try:
                chunk = await self.stream.read(timeout or self._timeout())
            except TimeoutError:
                if self._raise:
                    raise
                events = self.client.abort(TIMED_OUT)
                continue
            except (OSError, StreamClosed):
                if self._raise:
                    raise
                chunk = b""
            if chunk:
                events = self.client.feed(chunk)
                continue
            events = self.client.abort(LOST)
            if not events:
                raise StreamClosed("connection closed")

    async def run(self, events: list[Event], kind: type[C], timeout: float | None = None) -> C:
        """``complete``, for an operation whose completion event is of type ``kind``."""
        done = await self.complete(events, timeout)
        assert isinstance(done, kind), done
        return done

    async def greeting(self) -> Greeted:
        """The server's greeting (RFC 5321 section 3.1)."""
        return await self.run([], Greeted)

    async def ehlo(self) -> Hello:
        """EHLO, and HELO after a 5xx to it (RFC 5321 section 3.2)."""
        return await self.run(self.client.ehlo(), Hello)

    async def starttls(self) -> StartTlsDone:
        """Send STARTTLS; ``220`` means: do the ``handshake`` now."""
        return await self.run(self.client.starttls(), StartTlsDone)

    async def handshake(
        self, context: ssl.SSLContext, server_hostname: str | None, timeout: float
    ) -> None:
        """TLS on this connection (after ``220`` to STARTTLS, or first with implicit TLS);
        raises ``TlsVerifyError`` / ``TlsHandshakeError`` from the ``Stream``."""
        await self.stream.start_tls(context, server_hostname, timeout)

    async def tls_established(self, *, verified: bool) -> Hello:
        """After the STARTTLS handshake: the client forgets what EHLO said and says it again."""
        return await self.run(self.client.tls_established(verified=verified), Hello)

    def _timeout(self) -> float:
        return self.timeouts.for_reply(self.client.waiting_for)
