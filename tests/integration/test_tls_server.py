"""Server TLS over real loopback sockets (security checklist J): protocol versions, suites,
groups, compression, SNI selection, live certificate reload, dev certificates.

The server is an asyncio server in a background thread holding ONE SSLContext for its whole
life (as the inbound listeners do); clients are blocking ``ssl`` sockets.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sealpost.model.tls_record import TlsRecord
from sealpost.net.devcert import is_self_signed, make_self_signed
from sealpost.net.tls import (
    TLS12_CIPHERS,
    CertificateSet,
    TlsConfigError,
    restrict_groups,
    server_context,
    tls_record_from_ssl,
)

TIMEOUT = 10.0


class TlsServer:
    """Echo server on 127.0.0.1; ``starttls=True`` waits for a STARTTLS line first."""

    def __init__(
        self,
        ctx: ssl.SSLContext,
        record: Callable[[object], TlsRecord] | None = None,
        starttls: bool = False,
    ) -> None:
        self.ctx = ctx
        self.record = record or (lambda obj: tls_record_from_ssl(obj))  # type: ignore[arg-type]
        self.starttls = starttls
        self.records: list[TlsRecord] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(TIMEOUT)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _start(self) -> asyncio.Server:
        return await asyncio.start_server(
            self._handle,
            "127.0.0.1",
            0,
            ssl=None if self.starttls else self.ctx,
            ssl_handshake_timeout=TIMEOUT if not self.starttls else None,
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.starttls:
                await reader.readline()
                writer.write(b"GO\n")
                await writer.drain()
                await writer.start_tls(self.ctx)
            self.records.append(self.record(writer.get_extra_info("ssl_object")))
            while line := await reader.readline():
                writer.write(line)
                await writer.drain()
        except (ssl.SSLError, ConnectionError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        self.loop.close()


@pytest.fixture(autouse=True)
def _quiet_asyncio(caplog: pytest.LogCaptureFixture) -> None:
    # Refused handshakes are the point of several tests; asyncio logs each at ERROR.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def write_leaf(
    ca: trustme.CA,
    directory: Path,
    stem: str,
    *names: str,
    key_type: trustme.KeyType = trustme.KeyType.ECDSA,
) -> tuple[Path, Path]:
    leaf = ca.issue_cert(*names, key_type=key_type)
    cert, key = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return cert, key


@pytest.fixture
def pair(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    return write_leaf(ca, tmp_path, "server", "mx.example.test")


@pytest.fixture
def serve() -> Iterator[Callable[..., TlsServer]]:
    servers: list[TlsServer] = []

    def start(ctx: ssl.SSLContext, **kwargs: object) -> TlsServer:
        server = TlsServer(ctx, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def client_context(ca: trustme.CA | None = None, **versions: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ca.configure_trust(ctx)
    if "minimum" in versions:
        ctx.minimum_version = versions["minimum"]
    if "maximum" in versions:
        ctx.maximum_version = versions["maximum"]
    return ctx


def connect(port: int, ctx: ssl.SSLContext, name: str | None = "mx.example.test") -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        return ctx.wrap_socket(raw, server_hostname=name)
    except BaseException:
        raw.close()
        raise


def echo(sock: ssl.SSLSocket, data: bytes = b"ping\n") -> bytes:
    sock.sendall(data)
    got = b""
    while not got.endswith(b"\n"):
        chunk = sock.recv(100)
        assert chunk, "connection closed"
        got += chunk
    return got


def peer_cert(sock: ssl.SSLSocket) -> x509.Certificate:
    der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def san_names(sock: ssl.SSLSocket) -> list[str]:
    ext = peer_cert(sock).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return [str(v) for v in ext.value.get_values_for_type(x509.DNSName)]


# --- protocol versions, suites, groups, compression (J1, J2, J5) ---------------------------


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls12_and_tls13_accepted(ca, pair, serve, version) -> None:
    server = serve(server_context(*pair))
    with connect(server.port, client_context(ca, minimum=version, maximum=version)) as sock:
        assert sock.version() == version.name.replace("_", ".")
        assert sock.compression() is None
        assert echo(sock) == b"ping\n"


def old_client(version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = client_context(minimum=version, maximum=version)
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls10_and_tls11_refused(pair, serve, version) -> None:
    # Control: the same client completes a handshake with a permissive server, so the
    # refusal below comes from our profile, not from a client unable to speak the version.
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.minimum_version = ssl.TLSVersion.TLSv1
    permissive.set_ciphers("ALL:@SECLEVEL=0")
    permissive.load_cert_chain(*pair)
    control = serve(permissive)
    try:
        with connect(control.port, old_client(version)) as sock:
            assert sock.version() == version.name.replace("_", ".")
    except ssl.SSLError as exc:
        pytest.skip(f"this OpenSSL cannot speak {version.name} at all: {exc}")

    server = serve(server_context(*pair))
    with pytest.raises(ssl.SSLError):
        connect(server.port, old_client(version)).close()


def tls12_suites_accepted(port: int) -> set[str]:
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    names = {c["name"] for c in probe.get_ciphers() if not c["name"].startswith("TLS_")}
    accepted = set()
    for name in sorted(names):
        ctx = client_context(maximum=ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers(f"{name}:@SECLEVEL=0")
        try:
            with connect(port, ctx) as sock:
                accepted.add(sock.cipher()[0])
        except (ssl.SSLError, ConnectionError):
            continue
    return accepted


@pytest.mark.parametrize("key_type", [trustme.KeyType.RSA, trustme.KeyType.ECDSA])
def test_tls12_negotiates_only_ecdhe_aead(tmp_path, serve, key_type) -> None:
    ca = trustme.CA(key_type=key_type)
    leaf = write_leaf(ca, tmp_path, "s", "mx.example.test", key_type=key_type)
    server = serve(server_context(*leaf))
    accepted = tls12_suites_accepted(server.port)
    auth = "RSA" if key_type is trustme.KeyType.RSA else "ECDSA"
    assert accepted == {c for c in TLS12_CIPHERS if c.startswith(f"ECDHE-{auth}-")}
    for name in accepted:
        assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name)


def test_client_cipher_order_is_respected(ca, pair, serve) -> None:
    # Mozilla intermediate: no server preference, so the client's first choice wins.
    server = serve(server_context(*pair))
    for first in ("ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES256-GCM-SHA384"):
        ctx = client_context(ca, maximum=ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers(f"{first}:ECDHE-ECDSA-AES128-GCM-SHA256")
        with connect(server.port, ctx) as sock:
            assert sock.cipher()[0] == first


def offer_only(client: ssl.SSLContext, group: str) -> bool:
    """Make ``client`` offer the one key-exchange group ``group``; False where this Python
    cannot. ``set_ecdh_curve`` goes through OpenSSL's EC_KEY API in older CPython 3.11
    releases, which knows no X25519 or X448: Debian bookworm's Python 3.11.2 raises
    "[EC: UNKNOWN_GROUP] unknown group" for them (3.11.7 does not); then ``set_groups``
    (Python 3.15+) is the only other supported way."""
    try:
        client.set_ecdh_curve(group)
    except ssl.SSLError as exc:
        if exc.reason != "UNKNOWN_GROUP":
            raise
        return restrict_groups(client, [group])
    return True


def test_key_exchange_groups_restricted(ca, pair, serve) -> None:
    """X25519, P-256 and P-384 always work; P-521 and X448 are refused where Python can set
    the group list (3.15+), and are OpenSSL's strong defaults where it cannot."""
    ctx = server_context(*pair)
    restricted = restrict_groups(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    assert restricted is hasattr(ssl.SSLContext, "set_groups")
    server = serve(ctx)
    for curve in ("X25519", "prime256v1", "secp384r1"):
        client = client_context(ca)
        if not offer_only(client, curve):
            continue
        with connect(server.port, client) as sock:
            assert echo(sock) == b"ping\n"
    for curve in ("secp521r1", "X448"):
        client = client_context(ca)
        if not offer_only(client, curve):
            continue
        if restricted:
            with pytest.raises(ssl.SSLError):
                connect(server.port, client).close()
        else:
            with connect(server.port, client) as sock:
                assert echo(sock) == b"ping\n"


def test_context_options(pair) -> None:
    ctx = server_context(*pair)
    assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2
    assert ctx.maximum_version is ssl.TLSVersion.TLSv1_3
    assert ctx.options & ssl.OP_NO_COMPRESSION
    assert ctx.options & ssl.OP_NO_RENEGOTIATION
    assert ctx.options & ssl.OP_SINGLE_ECDH_USE == ssl.OP_SINGLE_ECDH_USE  # 0: always on in 3.x
    assert not ctx.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    assert not ctx.options & ssl.OP_NO_TICKET
    assert ctx.num_tickets == 1  # TLS 1.3: one ticket per handshake, not OpenSSL's two
    assert ctx.verify_mode is ssl.CERT_NONE


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_session_resumption_works(ca, pair, serve, version) -> None:
    certs = CertificateSet(*pair)
    server = serve(certs.context)
    client = client_context(ca, maximum=version)
    with connect(server.port, client) as first:
        echo(first)
        session = first.session
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    with client.wrap_socket(raw, server_hostname="mx.example.test", session=session) as again:
        assert again.session_reused


# --- configuration errors name the file --------------------------------------------------


def test_server_context_errors_name_the_file(ca, pair, tmp_path) -> None:
    cert, key = pair
    with pytest.raises(TlsConfigError) as info:
        server_context(tmp_path / "missing.pem", key)
    assert info.value.path == tmp_path / "missing.pem"

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(TlsConfigError, match="no PEM certificate") as info:
        server_context(garbage, key)
    assert info.value.path == garbage
    with pytest.raises(TlsConfigError, match="no PEM private key") as info:
        server_context(cert, garbage)
    assert info.value.path == garbage

    _other_cert, other_key = write_leaf(ca, tmp_path, "other", "other.test")
    with pytest.raises(TlsConfigError, match="does not match") as info:
        server_context(cert, other_key)
    assert info.value.path == other_key

    encrypted = tmp_path / "encrypted.key"
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    encrypted.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    with pytest.raises(TlsConfigError, match="encrypted") as info:
        server_context(cert, encrypted)
    assert info.value.path == encrypted


# --- SNI (J4) --------------------------------------------------------------------------------


@pytest.fixture
def sni_set(ca, tmp_path) -> CertificateSet:
    default = write_leaf(ca, tmp_path, "default", "mx.example.test")
    other = write_leaf(ca, tmp_path, "other", "smtp.other.test")
    wild = write_leaf(ca, tmp_path, "wild", "*.wild.test")
    return CertificateSet(*default, [("smtp.other.test", *other), ("*.wild.test", *wild)])


@pytest.mark.parametrize(
    ("name", "expected_san"),
    [
        ("mx.example.test", "mx.example.test"),
        ("smtp.other.test", "smtp.other.test"),
        ("SMTP.Other.Test", "smtp.other.test"),
        ("a.wild.test", "*.wild.test"),
        ("unknown.test", "mx.example.test"),
        ("a.b.wild.test", "mx.example.test"),
        ("wild.test", "mx.example.test"),
        (None, "mx.example.test"),
    ],
)
def test_sni_picks_certificate(ca, sni_set, serve, name, expected_san) -> None:
    server = serve(sni_set.context, record=sni_set.record)
    ctx = client_context(ca)
    wanted = (name or "").lower()
    ctx.check_hostname = (
        wanted == expected_san
        or (  # else only the chain is verified
            expected_san.startswith("*.") and wanted.split(".", 1)[1] == expected_san[2:]
        )
    )
    with connect(server.port, ctx, name) as sock:
        assert san_names(sock) == [expected_san]
        echo(sock)
    record = server.records[-1]
    assert record.sni == (name.lower() if name else None)
    assert record.version == "TLSv1.3"


def test_sni_over_starttls(ca, sni_set, serve) -> None:
    server = serve(sni_set.context, record=sni_set.record, starttls=True)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    raw.sendall(b"STARTTLS\n")
    assert raw.recv(3) == b"GO\n"
    with client_context(ca).wrap_socket(raw, server_hostname="smtp.other.test") as sock:
        assert san_names(sock) == ["smtp.other.test"]
        assert echo(sock) == b"ping\n"
    assert server.records[-1].sni == "smtp.other.test"


# --- reload -----------------------------------------------------------------------------------


def serial(sock: ssl.SSLSocket) -> int:
    return peer_cert(sock).serial_number


def test_reload_serves_new_cert_and_keeps_open_connections(ca, pair, serve, tmp_path) -> None:
    certs = CertificateSet(*pair)
    server = serve(certs.context)
    old = connect(server.port, client_context(ca))
    old_serial = serial(old)
    assert echo(old) == b"ping\n"
    assert not certs.reload_if_changed()  # nothing changed yet

    new_leaf = ca.issue_cert("mx.example.test")
    pair[0].write_bytes(b"".join(blob.bytes() for blob in new_leaf.cert_chain_pems))
    pair[1].write_bytes(new_leaf.private_key_pem.bytes())
    assert certs.reload_if_changed()
    assert certs.generation == 2
    assert not certs.reload_if_changed()

    for name in ("mx.example.test", None):
        ctx = client_context(ca)
        ctx.check_hostname = name is not None
        with connect(server.port, ctx, name) as fresh:
            assert serial(fresh) != old_serial
            assert echo(fresh) == b"ping\n"
    assert echo(old, b"still here\n") == b"still here\n"
    assert serial(old) == old_serial
    old.close()


def test_broken_new_cert_keeps_the_old_one(ca, pair, serve, caplog) -> None:
    certs = CertificateSet(*pair)
    server = serve(certs.context)
    with connect(server.port, client_context(ca)) as sock:
        before = serial(sock)
    good_cert = pair[0].read_bytes()

    pair[0].write_text("-----BEGIN CERTIFICATE-----\ntruncated")
    with caplog.at_level(logging.ERROR, logger="sealpost.net.tls"):
        assert not certs.reload_if_changed()
    assert "keeping the current certificates" in caplog.text
    assert str(pair[0]) in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="sealpost.net.tls"):
        assert not certs.reload_if_changed()  # same broken file: not retried, not re-logged
    assert caplog.text == ""
    with connect(server.port, client_context(ca)) as sock:
        assert serial(sock) == before

    # A certificate that does not match the key is refused the same way.
    mismatched = ca.issue_cert("mx.example.test")
    pair[0].write_bytes(mismatched.cert_chain_pems[0].bytes())
    assert not certs.reload()
    with connect(server.port, client_context(ca)) as sock:
        assert serial(sock) == before

    pair[0].write_bytes(good_cert)
    assert not certs.reload_if_changed()  # back to the files in service: nothing to do
    write_leaf(ca, pair[0].parent, "server", "mx.example.test")
    assert certs.reload_if_changed()  # a good new pair is picked up after the failures
    with connect(server.port, client_context(ca)) as sock:
        assert serial(sock) != before


def test_sni_certificate_reload(ca, sni_set, serve, tmp_path) -> None:
    server = serve(sni_set.context, record=sni_set.record)
    with connect(server.port, client_context(ca), "smtp.other.test") as sock:
        before = serial(sock)
    write_leaf(ca, tmp_path, "other", "smtp.other.test")
    assert sni_set.reload_if_changed()
    with connect(server.port, client_context(ca), "smtp.other.test") as sock:
        assert serial(sock) != before
        assert san_names(sock) == ["smtp.other.test"]


def test_watch_polls_until_stopped(pair) -> None:
    certs = CertificateSet(*pair)
    calls = threading.Event()
    original = certs.reload_if_changed

    def spy() -> bool:
        calls.set()
        return original()

    certs.reload_if_changed = spy  # type: ignore[method-assign]

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(certs.watch(0.01, stop))
        assert await asyncio.to_thread(calls.wait, TIMEOUT)
        stop.set()
        await asyncio.wait_for(task, TIMEOUT)

    asyncio.run(run())


def test_bad_initial_certificate_is_fatal(tmp_path) -> None:
    with pytest.raises(TlsConfigError):
        CertificateSet(tmp_path / "none.pem", tmp_path / "none.key")


# --- TlsRecord -----------------------------------------------------------------------------


def test_tls_record_with_client_certificate(ca, pair, serve) -> None:
    ctx = server_context(*pair)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ca.configure_trust(ctx)
    server = serve(ctx, record=lambda obj: tls_record_from_ssl(obj, "mx.example.test"))
    client_leaf = ca.issue_cert("client.example.test")
    client = client_context(ca, maximum=ssl.TLSVersion.TLSv1_2)
    client_leaf.configure_cert(client)
    with connect(server.port, client) as sock:
        echo(sock)
    record = server.records[-1]
    assert record.version == "TLSv1.2"
    assert record.cipher in TLS12_CIPHERS
    assert record.bits in (128, 256)
    assert record.sni == "mx.example.test"
    client_cert = x509.load_pem_x509_certificate(client_leaf.cert_chain_pems[0].bytes())
    der = client_cert.public_bytes(serialization.Encoding.DER)
    assert record.peer_cert_sha256 == hashlib.sha256(der).hexdigest()
    assert record.peer_cert_subject == client_cert.subject.rfc4514_string()
    assert record.peer_cert_not_after and record.peer_cert_not_after.endswith("Z")


def test_tls_record_without_tls() -> None:
    assert tls_record_from_ssl(None) == TlsRecord()


# --- development certificate ---------------------------------------------------------------


def test_devcert_verifies_for_its_names(tmp_path, serve) -> None:
    cert, key = tmp_path / "certs" / "server.pem", tmp_path / "certs" / "server.key"
    make_self_signed("mx.dev.test", cert, key)
    assert (key.stat().st_mode & 0o777) == 0o600
    assert is_self_signed(cert)
    server = serve(server_context(cert, key))
    trusting = ssl.create_default_context(cafile=str(cert))
    for name in ("mx.dev.test", "localhost", "127.0.0.1"):
        with connect(server.port, trusting, name) as sock:
            assert echo(sock) == b"ping\n"
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(server.port, trusting, "other.test").close()
    assert not list(cert.parent.glob(".*.tmp*"))


def test_devcert_overwrites_with_new_key_and_mode(tmp_path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    key.write_text("old")
    os.chmod(key, 0o644)
    make_self_signed("localhost", cert, key, days=1)
    assert (key.stat().st_mode & 0o777) == 0o600
    first = cert.read_bytes()
    make_self_signed("localhost", cert, key, days=1)
    assert cert.read_bytes() != first
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    sans = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]


def test_trustme_leaf_is_not_self_signed(pair) -> None:
    assert not is_self_signed(pair[0])
