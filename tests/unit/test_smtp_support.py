"""Helpers shared by the SMTP engine tests: a driver that answers the session's requests
the way the I/O layer would, and shorthands for reading the events it returns."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace

from sealpost.model.reply import Reply
from sealpost.model.tls_record import TlsRecord
from sealpost.smtp.server import (
    Authenticate,
    AuthOutcome,
    Close,
    Event,
    MessageReady,
    Send,
    ServerPolicy,
    ServerSession,
    StartTls,
)

HOST = "mx.sealpost.test"
LOCAL = frozenset({"example.test", "local.test"})
QUEUED = Reply.of(250, "2.0.0", "Ok: queued as 0123")
TLS = TlsRecord(version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384")


def policy(**overrides: object) -> ServerPolicy:
    base = ServerPolicy(hostname=HOST, local_domains=LOCAL, tls_mode="starttls")
    return replace(base, **overrides)  # type: ignore[arg-type]


def plain(user: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{user}\0{password}".encode()).decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def sends(events: list[Event]) -> list[Reply]:
    return [e.reply for e in events if isinstance(e, Send)]


def codes(events: list[Event]) -> list[int]:
    return [r.code for r in sends(events)]


def enhanced(events: list[Event]) -> list[str | None]:
    return [r.enhanced for r in sends(events)]


def closes(events: list[Event]) -> bool:
    return any(isinstance(e, Close) for e in events)


def messages(events: list[Event]) -> list[MessageReady]:
    return [e for e in events if isinstance(e, MessageReady)]


@dataclass
class Driver:
    """Plays the I/O layer: answers StartTls/Authenticate/MessageReady at once and records
    everything. ``users`` maps user name to (password, sender_domains)."""

    session: ServerSession
    users: dict[str, tuple[str, frozenset[str] | None]] = field(default_factory=dict)
    store_reply: Reply = QUEUED
    events: list[Event] = field(default_factory=list)
    stored: list[MessageReady] = field(default_factory=list)
    auth_requests: list[Authenticate] = field(default_factory=list)
    handshakes: int = 0

    def run(self, events: list[Event]) -> list[Event]:
        done: list[Event] = []
        pending = list(events)
        while pending:
            event = pending.pop(0)
            done.append(event)
            more: list[Event] = []
            if isinstance(event, StartTls):
                self.handshakes += 1
                more = self.session.tls_established(TLS)
            elif isinstance(event, Authenticate):
                self.auth_requests.append(event)
                entry = self.users.get(event.username)
                if entry is not None and entry[0] == event.password:
                    more = self.session.auth_result(AuthOutcome(event.username, entry[1]))
                else:
                    more = self.session.auth_result(AuthOutcome(None))
            elif isinstance(event, MessageReady):
                self.stored.append(event)
                more = self.session.store_result(self.store_reply)
            pending = more + pending
        self.events.extend(done)
        return done

    def start(self) -> list[Event]:
        return self.run(self.session.start())

    def feed(self, data: bytes | str) -> list[Event]:
        raw = data.encode() if isinstance(data, str) else data
        return self.run(self.session.feed(raw))

    def cmd(self, line: str) -> Reply:
        """Send one command line; return its (single) reply."""
        replies = sends(self.feed(line + "\r\n"))
        assert len(replies) >= 1, f"no reply to {line!r}"
        return replies[0]

    def code(self, line: str) -> int:
        return self.cmd(line).code


def driver(tls: TlsRecord | None = None, **overrides: object) -> Driver:
    d = Driver(ServerSession(policy(**overrides), tls=tls))
    d.start()
    return d


def ready(tls: TlsRecord | None = None, **overrides: object) -> Driver:
    """A driver whose session already said EHLO."""
    d = driver(tls, **overrides)
    assert d.code("EHLO client.test") == 250
    return d


def submission(**overrides: object) -> Driver:
    """Port 587 style: STARTTLS required, AUTH offered; already inside TLS after EHLO."""
    d = driver(require_tls=True, auth_enabled=True, **overrides)
    d.users = {"alice": ("secret", frozenset({"alice.test"})), "bob": ("hunter2", None)}
    assert d.code("EHLO client.test") == 250
    assert d.code("STARTTLS") == 220
    assert d.session.tls == TLS
    assert d.code("EHLO client.test") == 250
    return d


def login(d: Driver, user: str = "alice", password: str = "secret") -> Reply:
    return d.cmd(f"AUTH PLAIN {plain(user, password)}")
