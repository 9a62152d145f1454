"""One outbound connection: a Stream and the sans-I/O SmtpClient driven over it, bounded.

``Link`` is the shared dialogue driver (``net.smtp_dialogue``) with delivery's settings:
every wait has a timeout (RFC 5321 section 4.5.3.2: ``command_timeout`` for replies, 5
minutes by default; ``data_timeout`` for the reply after the final dot, 10 minutes), and a
timeout or a lost connection ends the operation with a synthesized 4.4.2 reply and the
client is unusable (``OnFault.ABORT``). ``open_link`` connects to the target's addresses
in order (``connect_timeout`` each), reads the greeting and says EHLO. A 5xx greeting is
TRANSIENT like Postfix's default ``smtp_skip_5xx_greeting``; a 5xx to both EHLO and HELO
is PERMANENT.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from sealpost.delivery.types import Outcome, Target
from sealpost.model.reply import Reply
from sealpost.model.tls_record import TlsRecord
from sealpost.model.tlsrpt import TlsFailure
from sealpost.net.smtp_dialogue import Dialogue, OnFault, Timeouts
from sealpost.net.stream import Stream
from sealpost.smtp.client import SmtpClient
from sealpost.smtp.client_events import QuitDone

log = logging.getLogger("sealpost.delivery")

UNUSABLE = Reply.of(451, "4.4.2", "session not usable")
QUIT_TIMEOUT = 10.0


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
    peer_ip: str | None = None  # the address that was reached, if any (events, TLS-RPT)
    tls_refused: bool = False  # TLS fell short of the requirement (the session refused it)


class Link(Dialogue):
    """A Stream and the SmtpClient that talks over it, with delivery's timeouts."""

    def __init__(self, stream: Stream, settings: ClientSettings) -> None:
        timeouts = Timeouts(settings.command_timeout, settings.data_timeout)
        super().__init__(stream, SmtpClient(settings.helo_name), timeouts, on_fault=OnFault.ABORT)
        self._settings = settings

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
        greeted = await link.greeting()
        if greeted.reply.code != 220:
            await link.close()
            return OpenFailure(greeted.reply, Outcome.TRANSIENT, None, None)
        hello = await link.ehlo()
        if hello.extensions is None:
            await link.close()
            permanent = hello.reply.is_permanent
            outcome = Outcome.PERMANENT if permanent else Outcome.TRANSIENT
            return OpenFailure(hello.reply, outcome, None, None)
        return link
    detail = "; ".join(problems) or "no address"
    reply = Reply.of(451, "4.4.1", f"cannot connect to {target.host}: {detail}")
    return OpenFailure(reply, Outcome.TRANSIENT, None, None)
