"""``net.tls_reads``: a server connection's large unbuffered reads (uvloop's drain at close)
and every read of a client connection (uvloop's ``_do_read__copied``: the outbound SMTP
client, httpx) return the same bytes as ``ssl.SSLObject``'s and the same end-of-data and
want-read signals, without allocating the size asked for. Real TLS 1.3 between two memory
BIOs."""

from __future__ import annotations

import contextlib
import os
import ssl
import threading
import tracemalloc
from pathlib import Path

import pytest
import trustme

from sealpost.net import client_tls, tls_reads
from sealpost.net.tls import server_context
from sealpost.net.tls_reads import RECORD_PAYLOAD, ScratchSSLObject

UVLOOP_READ = 256 * 1024  # what uvloop's SSLProtocol asks for (SSL_READ_MAX_SIZE)


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    directory: Path = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    leaf = ca.issue_cert("mx.example.test")
    cert, key = directory / "cert.pem", directory / "key.pem"
    leaf.private_key_pem.write_to_path(str(key))
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    client = client_tls.verifying(directory / "ca.pem")  # the outbound client's own context
    return server_context(cert, key), client


class Pair:
    """A server and a client SSLObject joined by memory BIOs, handshake done."""

    def __init__(self, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> None:
        self.s_in, self.s_out, self.c_in, self.c_out = (ssl.MemoryBIO() for _ in range(4))
        self.server = server_ctx.wrap_bio(self.s_in, self.s_out, server_side=True)
        self.client = client_ctx.wrap_bio(self.c_in, self.c_out, server_hostname="mx.example.test")
        for _ in range(4):
            for end in (self.client, self.server):
                with contextlib.suppress(ssl.SSLWantReadError):  # waits for the other side
                    end.do_handshake()
                self.pump()

    def pump(self) -> None:
        self.s_in.write(self.c_out.read())
        self.c_in.write(self.s_out.read())

    def drain(self, read_size: int, end: str = "server") -> tuple[bytes, list[int], str]:
        """Read ``end`` as uvloop does until want-read or end; the data, each chunk's size
        and how it stopped."""
        reader = self.server if end == "server" else self.client
        data, sizes = b"", []
        while True:
            try:
                chunk = reader.read(read_size)
            except ssl.SSLWantReadError:
                return data, sizes, "want-read"
            if not chunk:
                return data, sizes, "end"
            data += chunk
            sizes.append(len(chunk))


def test_the_servers_objects_are_scratch_objects(contexts):
    pair = Pair(*contexts)
    assert type(pair.server) is ScratchSSLObject
    assert pair.server.version() == "TLSv1.3"


def test_every_client_context_makes_scratch_objects(contexts):
    """Outbound SMTP (verifying or not), MTA-STS fetches, webhooks and TLS-RPT posts all
    take their contexts from ``net.client_tls``."""
    for context in (contexts[1], client_tls.verifying(), client_tls.unverified()):
        assert context.sslobject_class is ScratchSSLObject
    assert type(Pair(*contexts).client) is ScratchSSLObject


def test_a_clients_reads_return_the_servers_bytes_in_records(contexts):
    """What the outbound client reads for every reply: the same bytes, one record a call."""
    pair = Pair(*contexts)
    payload = b"250-mx.example.test\r\n" + os.urandom(2 * RECORD_PAYLOAD + 99)
    pair.server.write(payload)
    pair.pump()
    data, sizes, how = pair.drain(UVLOOP_READ, end="client")
    assert data == payload
    assert max(sizes) <= RECORD_PAYLOAD and len(sizes) >= 3
    assert how == "want-read"


def test_each_thread_reads_into_a_buffer_of_its_own(contexts):
    """``SSL_read`` runs without the GIL: two threads' reads must not share the scratch."""
    payloads = {name: os.urandom(RECORD_PAYLOAD) for name in ("one", "two")}
    wrong: dict[str, int] = {}
    buffers: dict[str, bytearray] = {}
    barrier = threading.Barrier(2, timeout=30)

    def read(name: str) -> None:
        pair = Pair(*contexts)
        wrong[name] = 0
        for _ in range(300):  # both threads read at once, 300 times
            pair.client.write(payloads[name])
            pair.pump()
            barrier.wait()
            data, _, _ = pair.drain(UVLOOP_READ)
            wrong[name] += data != payloads[name]
        buffers[name] = tls_reads._scratch.buffer

    threads = [threading.Thread(target=read, args=(name,)) for name in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == {"one": 0, "two": 0}
    assert buffers["one"] is not buffers["two"]


def test_a_large_read_returns_the_same_bytes_in_records(contexts):
    pair = Pair(*contexts)
    payload = os.urandom(3 * RECORD_PAYLOAD + 1234)
    pair.client.write(payload)
    pair.pump()
    data, sizes, how = pair.drain(UVLOOP_READ)
    assert data == payload
    assert max(sizes) <= RECORD_PAYLOAD and len(sizes) >= 4
    assert how == "want-read"


def test_small_and_buffered_reads_are_ssls_own(contexts):
    pair = Pair(*contexts)
    pair.client.write(b"EHLO client.example\r\n")
    pair.pump()
    assert pair.server.read(5) == b"EHLO "
    buffer = bytearray(64)
    count = pair.server.read(64, buffer)
    assert buffer[:count] == b"client.example\r\n"


def test_end_of_data_after_close_notify_reads_empty(contexts):
    pair = Pair(*contexts)
    pair.client.write(b"QUIT\r\n")
    with pytest.raises(ssl.SSLWantReadError):
        pair.client.unwrap()  # its close_notify goes out; the server's is not there yet
    pair.pump()
    data, _, how = pair.drain(UVLOOP_READ)
    assert (data, how) == (b"QUIT\r\n", "end")


def test_nothing_to_read_allocates_a_record_not_the_size_asked(contexts):
    """The point: ``ssl.SSLObject.read(262144)`` allocates 256 KiB to learn there is
    nothing; the scratch object allocates nothing of that size."""
    plain = ssl.SSLObject  # what uvloop got before: the same read on the stock class
    for cls, limit in ((ScratchSSLObject, RECORD_PAYLOAD), (plain, None)):
        contexts[0].sslobject_class = cls
        try:
            pair = Pair(*contexts)
        finally:
            contexts[0].sslobject_class = ScratchSSLObject
        tracemalloc.start()
        try:
            with pytest.raises(ssl.SSLWantReadError):
                pair.server.read(UVLOOP_READ)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        if limit is None:
            assert peak >= UVLOOP_READ  # the stock class: the waste this module removes
        else:
            assert peak < limit
