#!/usr/bin/env python3
"""Fuzz target: the inbound SMTP engine (``sealpost.smtp.server.ServerSession``).

The input is a byte stream and the chunk boundaries it arrives in (``chunking.split``); its
flags octet picks the listener and state the stream starts in, the reply of the store,
the policy limits and how the driver answers. The driver plays the I/O layer: it runs
every handshake, credentials check and store the engine asks for.

Flags: bits 0-2 the start state (``STATES``); bits 3-4 the store's reply (250, 451, 554,
421); bit 5 a slow handshake (the next chunk arrives while TLS is being set up); bit 6
small limits (so that size, line and count limits are reached with short inputs); bit 7
a lagging driver (the next chunk arrives before a credentials check or a store answers).

Invariants (docs/security.md classes A, F and L):

1. No exception escapes (the engine documents none: bad input is a reply).
2. Every reply is ``^[2-5]\\d\\d[ -]`` per line and ends in CRLF; a Close is the last event
   of its call and every call after it returns nothing; ``timeout()`` always closes.
3. Smuggling (F1): every message the engine hands over as ready is exactly what a strict
   reader finds: the bytes after the 354 up to the first ``CRLF . CRLF``, every line ending
   CRLF, no bare CR or LF, no NUL, dot-unstuffed, and only once that terminator arrived.
4. STARTTLS injection (A1, A2): the bytes that arrived after the STARTTLS line in the same
   chunk are never executed: deleting them, or replacing them with pipelined commands,
   gives the same events, except that before EHLO a STARTTLS followed by anything is
   refused with ``554 5.5.0`` and a close (F2); bytes fed during the handshake give no event.
5. Chunking invariance: with an immediate driver, cutting the stream inside lines instead
   of only after line feeds gives the same events (up to the first STARTTLS, after which
   what the handshake drops depends on the chunks by design). A refused message is
   refused either way, but the reason given may differ: the reader stops keeping a message
   at the first limit it sees while the bytes arrive (G5), so a long line can be reported
   where a single read would have reported a NUL.

Run: ``python fuzz/smtp_server.py fuzz/corpus/smtp_server -dict=fuzz/smtp_server.dict``.
"""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chunking import at_line_ends, split

with atheris.instrument_imports(include=["sealpost"]):
    from sealpost.model.reply import Reply
    from sealpost.model.tls_record import TlsRecord
    from sealpost.smtp import replies
    from sealpost.smtp.data import DataProblem
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

REPLY_LINE = re.compile(rb"[2-5]\d\d([ -]|$)")
TLS = TlsRecord(version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384")
USERS = {"alice": ("secret", frozenset({"alice.test"})), "bob": ("hunter2", None)}
STORE_REPLIES = (
    Reply.of(250, "2.0.0", "Ok: queued as 0123"),
    Reply.of(451, "4.3.0", "Error: queue file write error"),
    Reply.of(554, "5.7.1", "Error: refused"),
    Reply.of(421, "4.3.0", "Error: shutting down"),
)
DATA_REFUSALS = frozenset(replies.for_data_problem(problem) for problem in DataProblem)
INJECTED = b"RSET\r\nEHLO evil.test\r\nMAIL FROM:<evil@evil.test>\r\nRCPT TO:<u@example.test>\r\n"


def _policy(**overrides: object) -> ServerPolicy:
    base = ServerPolicy(
        hostname="mx.sealpost.test",
        local_domains=frozenset({"example.test", "local.test"}),
        tls_mode="starttls",
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


SMALL = {
    "max_message_size": 300,
    "max_recipients": 2,
    "max_command_line": 64,
    "max_text_line": 80,
    "max_header_line": 120,
    "max_header_lines": 4,
    "max_junk_commands": 4,
    "max_errors": 4,
    "max_auth_failures": 2,
}
_AUTH = "AUTH PLAIN " + base64.b64encode(b"\0alice\0secret").decode()


@dataclass(frozen=True, slots=True)
class State:
    policy: dict[str, object]
    tls: TlsRecord | None = None
    prelude: tuple[str, ...] = ()  # command lines fed one per chunk before the stream


STATES = (
    State({}),  # port 25, fresh
    State({"require_tls": True, "auth_enabled": True}),  # port 587, fresh
    State(
        {"require_tls": True, "auth_enabled": True},
        prelude=("EHLO client.test", "STARTTLS", "EHLO client.test", _AUTH),
    ),  # port 587, inside TLS and authenticated
    State({"tls_mode": "implicit", "auth_enabled": True}, tls=TLS),  # port 465, fresh
    State(
        {},
        prelude=("EHLO client.test", "MAIL FROM:<a@b.test>", "RCPT TO:<u@example.test>", "DATA"),
    ),  # port 25, in DATA
    State({}, prelude=("EHLO client.test", "STARTTLS", "EHLO client.test")),  # 25, inside TLS
    State({"tls_mode": "none"}, prelude=("HELO client.test",)),  # no TLS, after HELO
    State({"auth_enabled": True}, prelude=("EHLO client.test", "STARTTLS", "EHLO c", "AUTH LOGIN")),
)


@dataclass(frozen=True, slots=True)
class Options:
    state: State
    store: Reply
    slow_handshake: bool
    small: bool
    lagging: bool

    @classmethod
    def of(cls, flags: int) -> Options:
        return cls(
            STATES[flags & 7],
            STORE_REPLIES[(flags >> 3) & 3],
            bool(flags & 0x20),
            bool(flags & 0x40),
            bool(flags & 0x80),
        )


@dataclass
class Run:
    """One session driven over ``chunks``; ``batches`` are the events of every call."""

    options: Options
    stream: bytes
    chunks: tuple[bytes, ...]
    batches: list[list[Event]] = field(default_factory=list)
    starttls_at: list[int] = field(default_factory=list)  # chunk of each StartTls (-1: prelude)
    pending: list[Callable[[], list[Event]]] = field(default_factory=list)  # lagging answers
    fed: int = 0  # stream octets fed so far
    data_start: int | None = None  # stream offset where the current message text begins
    handshake_pending: bool = False
    prelude_events: int = 0  # events before the stream
    session: ServerSession = field(init=False)

    def __post_init__(self) -> None:
        state = self.options.state
        overrides = dict(state.policy)
        if self.options.small:
            overrides.update(SMALL)
        self.session = ServerSession(_policy(**overrides), tls=state.tls)

    # -- the driver --------------------------------------------------------------------

    def call(self, method: Callable[[], list[Event]], chunk: int) -> None:
        """Perform one engine call and everything its events ask for (immediate driver)."""
        closed = self.session.closed
        events = method()
        check_batch(events, closed)
        self.batches.append(events)
        for event in events:
            if isinstance(event, Send) and event.reply.code == 354:
                self.data_start = self.fed
            elif isinstance(event, MessageReady):
                self.check_message(event)
            elif isinstance(event, StartTls):
                self.starttls_at.append(chunk)
                self.handshake_pending = True
        for event in events:
            if isinstance(event, StartTls):
                if not self.options.slow_handshake:
                    self.finish_handshake(chunk)
            elif isinstance(event, Authenticate):
                self.answer(lambda e=event: self.session.auth_result(outcome(e)), chunk)
            elif isinstance(event, MessageReady):
                self.answer(lambda: self.session.store_result(self.options.store), chunk)

    def answer(self, method: Callable[[], list[Event]], chunk: int) -> None:
        if self.options.lagging:
            self.pending.append(method)
        else:
            self.call(method, chunk)

    def finish_handshake(self, chunk: int) -> None:
        self.handshake_pending = False
        self.call(lambda: self.session.tls_established(TLS), chunk)
        assert self.batches[-1] == [], "tls_established must return nothing"

    def go(self) -> Run:
        prelude = self.options.state.prelude
        self.call(self.session.start, -1)
        for line in prelude:
            self.call(lambda line=line: self.session.feed(line.encode() + b"\r\n"), -1)
            if self.handshake_pending:
                self.finish_handshake(-1)
            while self.pending:
                self.call(self.pending.pop(0), -1)
            assert not self.session.closed, (line, self.batches)
        if prelude[-1:] == ("DATA",):
            assert self.session.in_data
            self.data_start = 0
        self.prelude_events = len(self.events)
        for index, chunk in enumerate(self.chunks):
            handshake_was_pending = self.handshake_pending
            self.fed += len(chunk)
            self.call(lambda chunk=chunk: self.session.feed(chunk), index)
            if handshake_was_pending:  # A2: bytes fed during the handshake are dropped
                assert self.batches[-1] == [], "input during the TLS handshake was answered"
                self.finish_handshake(index)
            while self.pending:
                self.call(self.pending.pop(0), index)
        if self.handshake_pending:
            self.finish_handshake(len(self.chunks))
        self.call(self.session.timeout, len(self.chunks))
        assert self.session.closed
        for method in (lambda: self.session.feed(b"NOOP\r\n"), self.session.timeout):
            assert method() == [], "a closed session answered"
        return self

    # -- invariant 3 -------------------------------------------------------------------

    def check_message(self, event: MessageReady) -> None:
        start = self.data_start
        assert start is not None, "a message without a 354 before it"
        text = b"\r\n" + self.stream[start:]
        end = text.find(b"\r\n.\r\n")
        assert end >= 0, "a message ready without CRLF.CRLF in the input"
        assert self.fed >= start + end + 3, "a message ready before its final dot arrived"
        raw = text[: end + 2]
        lines = raw.split(b"\r\n")
        assert not any(b"\r" in line or b"\n" in line for line in lines), "bare CR/LF accepted"
        assert b"\0" not in raw, "NUL accepted"
        expected = raw.replace(b"\r\n.", b"\r\n")[2:]
        assert event.data == expected, (event.data, expected)
        self.data_start = None

    @property
    def events(self) -> list[Event]:
        return [event for batch in self.batches for event in batch]


def outcome(event: Authenticate) -> AuthOutcome:
    entry = USERS.get(event.username)
    if entry is not None and entry[0] == event.password and event.authzid in ("", event.username):
        return AuthOutcome(event.username, entry[1])
    return AuthOutcome(None)


def check_batch(events: list[Event], closed_before: bool) -> None:
    """Invariant 2 for the events of one call."""
    if closed_before:
        assert events == [], f"events after Close: {events}"
    for event in events:
        if isinstance(event, Send):
            wire = event.reply.to_bytes()
            assert wire.endswith(b"\r\n"), wire
            for line in wire[:-2].split(b"\r\n"):
                assert REPLY_LINE.match(line), wire
    closes = [i for i, e in enumerate(events) if isinstance(e, Close)]
    assert closes in ([], [len(events) - 1]), events


REFUSED = Send(Reply.of(500, None, "(a refused message)"))


def until_first_starttls(run: Run) -> list[Event]:
    """The events of the stream up to its first StartTls, every refusal of a message the
    same: which problem a refused message is refused for depends on the chunks, since the
    reader stops keeping a message at the first limit it sees (checklist G5)."""
    events = [
        REFUSED if isinstance(e, Send) and e.reply in DATA_REFUSALS else e
        for e in run.events[run.prelude_events :]
    ]
    for index, event in enumerate(events):
        if isinstance(event, StartTls):
            return events[: index + 1]
    return events


def starttls_cut(run: Run, chunk_index: int) -> int:
    """Where, inside chunk ``chunk_index``, the line that started TLS ends (replaying the
    session on growing prefixes of that chunk)."""
    chunk = run.chunks[chunk_index]
    wanted = sum(1 for index in run.starttls_at if index < chunk_index)
    for pos in range(len(chunk)):
        if chunk[pos] != 0x0A:
            continue
        prefix = (*run.chunks[:chunk_index], chunk[: pos + 1])
        trial = Run(run.options, b"".join(prefix), prefix).go()
        if len(trial.starttls_at) > wanted:
            return pos + 1
    raise AssertionError("StartTls came from no line of its chunk")


def check_starttls_injection(run: Run) -> None:
    """Invariant 4: what followed the STARTTLS line in its chunk changes nothing."""
    if run.options.lagging:
        return
    index = next((i for i in run.starttls_at if i >= 0), None)
    if index is None:
        return
    cut = starttls_cut(run, index)
    chunk = run.chunks[index]
    starttls = next(
        i for i in range(run.prelude_events, len(run.events)) if isinstance(run.events[i], StartTls)
    )
    ready = starttls - 1  # the 220 that answered STARTTLS
    # INJECTED is what CVE-2011-0411 sends; a partial line would be completed by the next
    # chunk, so that a kept buffer shows even where the pipelining rule (F2) would refuse.
    for tail in (b"", INJECTED, b"NOOP", INJECTED + chunk[cut:]):
        if tail == chunk[cut:]:
            continue
        chunks = (*run.chunks[:index], chunk[:cut] + tail, *run.chunks[index + 1 :])
        other = Run(run.options, b"".join(chunks), chunks).go()
        if other.events == run.events:
            continue
        # Before EHLO, a STARTTLS followed by more input is refused as a whole (F2).
        assert other.events == [*run.events[:ready], Send(replies.SYNC_ERROR), Close()], (
            "bytes after STARTTLS changed the session",
            tail,
        )


def check_chunking(run: Run) -> None:
    """Invariant 5: cuts inside lines are invisible."""
    if run.options.lagging:
        return
    merged = at_line_ends(run.chunks)
    if merged == run.chunks:
        return
    other = Run(run.options, run.stream, merged).go()
    assert until_first_starttls(other) == until_first_starttls(run), (
        "the chunking changed the session",
        merged,
    )


def test_one_input(data: bytes) -> None:
    fuzz = split(data)
    run = Run(Options.of(fuzz.flags), fuzz.stream, fuzz.chunks).go()
    check_starttls_injection(run)
    check_chunking(run)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
