"""Session ticket keys (net/session_tickets.py): one chain, the same key in every process.

The handshakes are real: two separate server contexts (as two workers hold after the fork,
each its own ``SSL_CTX``) serve TLS on loopback sockets, and a client shows the ticket one
issued to the other. Without shared keys it cannot resume there (the control case), with
them it does, in TLS 1.3 and TLS 1.2; a ticket of an earlier hour gets a full handshake.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading

import pytest

from sealpost.model.tls_record import TlsRecord
from sealpost.net.session_tickets import (
    BLOCK,
    EPOCH,
    TicketKeyChain,
    TicketKeys,
    install,
)
from sealpost.net.tls import CertificateSet, server_context, tls_record_from_ssl
from tests.support import HOSTNAME, Pki, make_pki

NOW = 1_800_000_000.0  # some instant; epochs are counted from the Unix epoch


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


class TlsServer:
    """One server context on a loopback socket, answering each connection with b"hi"."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.records: list[TlsRecord] = []  # what each session's record said

    def serve_one(self) -> threading.Thread:
        def run() -> None:
            conn, _ = self.sock.accept()
            conn.settimeout(10)
            with self.context.wrap_socket(conn, server_side=True) as tls:
                self.records.append(tls_record_from_ssl(tls))
                tls.sendall(b"hi")
                tls.recv(1)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


def client_of(pki: Pki, tls12: bool = False) -> ssl.SSLContext:
    """One client's context (a session shown must come from the context that made it)."""
    client = pki.client_context()
    if tls12:
        client.maximum_version = ssl.TLSVersion.TLSv1_2
    return client


def connect(
    client: ssl.SSLContext, server: TlsServer, session: ssl.SSLSession | None = None
) -> tuple[ssl.SSLSession, bool]:
    """A client connection (showing ``session``, if given): the session it holds after
    reading the server's first bytes (TLS 1.3 tickets come after the handshake), and
    whether the server resumed it."""
    thread = server.serve_one()
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname=HOSTNAME, session=session) as tls,
    ):
        assert tls.recv(2) == b"hi"
        tls.sendall(b".")
        held = tls.session
        reused = tls.session_reused
    thread.join(10)
    assert held is not None
    return held, reused


def worker_context(pki: Pki, block: bytes | None) -> TlsServer:
    """A worker's front context: the shipped profile, with ``block`` installed if given."""
    context = server_context(pki.cert_file, pki.key_file)
    if block is not None:
        assert install(context, block) is None
    return TlsServer(context)


def test_the_same_chain_gives_the_same_keys_in_every_process():
    first = TicketKeyChain.new(NOW)
    copy = TicketKeyChain(first.epoch, first.secret)  # what a forked worker holds
    later = NOW + 3 * EPOCH + 5
    assert first.block(NOW) == copy.block(NOW)
    assert len(first.block(NOW)) == BLOCK
    assert first.block(later) == copy.block(later)
    assert TicketKeyChain.new(NOW).block(NOW) != first.block(NOW)  # a new server: new keys


def test_the_chain_ratchets_forward_only_and_forgets_what_it_passed():
    chain = TicketKeyChain.new(NOW)
    start, secret, block = chain.epoch, chain.secret, chain.block(NOW)
    assert not chain.advance(NOW + 1)  # the same hour
    assert chain.advance(NOW + EPOCH)
    assert chain.epoch == start + 1 and chain.secret != secret
    assert chain.block(NOW + EPOCH)[:16] != block[:16]  # a new key name: old tickets unknown
    assert not chain.advance(NOW - 10 * EPOCH)  # a clock set back does not un-ratchet
    assert chain.epoch == start + 1
    assert secret.hex() not in repr(chain) and chain.secret.hex() not in repr(chain)


def test_two_contexts_without_shared_keys_do_not_resume_each_others_tickets(pki: Pki):
    # The control: OpenSSL's own keys, one per context, as each worker had before.
    one, other = worker_context(pki, None), worker_context(pki, None)
    client = client_of(pki)
    session, _ = connect(client, one)
    assert connect(client, one, session)[1]
    assert not connect(client, other, session)[1]


@pytest.mark.parametrize("tls12", [False, True], ids=["tls1.3", "tls1.2"])
def test_a_ticket_issued_by_one_worker_resumes_on_another(pki: Pki, tls12: bool):
    block = TicketKeyChain.new(NOW).block(NOW)
    one, other = worker_context(pki, block), worker_context(pki, block)
    client = client_of(pki, tls12)
    session, reused = connect(client, one)
    assert not reused
    session, reused = connect(client, other, session)
    assert reused
    assert [r.resumed for r in one.records + other.records] == [False, True]  # the record says
    assert connect(client, one, session)[1]


def test_a_ticket_of_an_earlier_hour_gets_a_full_handshake(pki: Pki):
    chain = TicketKeyChain.new(NOW)
    old = worker_context(pki, chain.block(NOW))
    new = worker_context(pki, chain.block(NOW + EPOCH))
    client = client_of(pki)
    session, _ = connect(client, old)
    fresh, reused = connect(client, new, session)
    assert not reused  # no error either: a new session, and a ticket of this hour
    assert connect(client, new, fresh)[1]


def test_ticket_keys_are_set_once_an_hour(pki: Pki, monkeypatch: pytest.MonkeyPatch):
    context = server_context(pki.cert_file, pki.key_file)
    keys = TicketKeys(TicketKeyChain.new(NOW), context)
    calls: list[bytes] = []

    def counting(ctx: ssl.SSLContext, block: bytes) -> str | None:
        calls.append(block)
        return install(ctx, block)

    monkeypatch.setattr("sealpost.net.session_tickets.install", counting)
    keys.refresh(NOW)
    keys.refresh(NOW + 60)
    assert keys.shared and len(calls) == 1
    keys.refresh(NOW + EPOCH)
    assert len(calls) == 2 and calls[0] != calls[1]


def test_keys_that_cannot_be_shared_are_said_once(
    pki: Pki, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    context = server_context(pki.cert_file, pki.key_file)
    keys = TicketKeys(TicketKeyChain.new(NOW), context)
    monkeypatch.setattr("sealpost.net.session_tickets.install", lambda ctx, block: "no reason")
    keys.refresh(NOW)
    keys.refresh(NOW + EPOCH)
    assert not keys.shared
    warnings = [r for r in caplog.records if "session tickets" in r.getMessage()]
    assert len(warnings) == 1 and "no reason" in warnings[0].getMessage()


def test_install_refuses_a_block_of_the_wrong_size(pki: Pki):
    context = server_context(pki.cert_file, pki.key_file)
    assert install(context, b"x" * 48) is not None


def test_rotate_stops_when_told(pki: Pki):
    keys = TicketKeys(TicketKeyChain.new(NOW), server_context(pki.cert_file, pki.key_file))

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(keys.rotate(stop))
        await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(run())


def test_tickets_still_resume_across_workers_after_a_certificate_reload(pki: Pki):
    # OpenSSL seals tickets with the context a handshake began on (the front context, which
    # listeners keep for life), not the generation the SNI callback switches to.
    block = TicketKeyChain.new(NOW).block(NOW)
    sets = [CertificateSet(pki.cert_file, pki.key_file) for _ in range(2)]
    for certs in sets:
        assert install(certs.context, block) is None
        assert certs.reload() and certs.generation == 2
    one, other = (TlsServer(certs.context) for certs in sets)
    client = client_of(pki)
    session, _ = connect(client, one)
    assert connect(client, other, session)[1]
