"""Inbound guards over real sockets: connection limits, timeouts, AUTH lockout, memory bounds.

Checklist G1, G6, G7, H2, A8. Timeouts are shrunk in the test config; no timing asserts,
only bounded waits for the expected outcome.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import threading

import psutil

from tests.support import Conversation, Pki


def test_connections_per_ip_are_capped(start_server):
    server = start_server(server={"max_connections_per_ip": 3, "limit_exempt": []})
    held = [Conversation(server.ports["mx"]) for _ in range(3)]
    for conv in held:
        assert conv.reply()[0] == 220
    extra = Conversation(server.ports["mx"])
    code, text = extra.reply()
    assert code == 421 and "4.7.0" in text
    assert extra.closed()
    assert held[0].cmd("QUIT")[0] == 221
    # The slot frees when the session ends, even before the client closes its socket.
    again = Conversation(server.ports["mx"])
    assert again.reply()[0] == 220
    again.close()
    for conv in held:
        conv.close()


def test_idle_session_gets_421_and_is_closed(start_server):
    server = start_server(server={"idle_timeout": 1})
    conv = Conversation(server.ports["mx"])
    conv.reply()
    conv.cmd("EHLO client.test")
    code, text = conv.reply()
    assert code == 421 and "4.4.2" in text
    assert conv.closed()


def test_slow_data_is_cut_off(start_server):
    """Checklist G6: a DATA phase that trickles is ended by the DATA-rate deadline."""
    server = start_server(server={"idle_timeout": 1, "min_data_rate": 1000000})
    conv = Conversation(server.ports["mx"])
    conv.reply()
    conv.cmd("EHLO client.test")
    conv.cmd("MAIL FROM:<a@sender.test>")
    conv.cmd("RCPT TO:<u@example.test>")
    assert conv.cmd("DATA")[0] == 354
    conv.sock.settimeout(0.2)
    code = None
    for _ in range(40):  # bounded: 40 bytes at most, one every 0.2 s
        try:
            conv.send(b"x")
            code, _ = conv.reply()
            break
        except (TimeoutError, OSError):
            continue
    assert code == 421


def test_stalled_tls_handshakes_are_dropped_and_resources_return(start_server):
    """Checklist A8: connections that never send a ClientHello are closed."""
    server = start_server(server={"tls_handshake_timeout": 1})
    me = psutil.Process()
    baseline = me.num_fds()
    socks = [
        socket.create_connection(("127.0.0.1", server.ports["submissions"])) for _ in range(50)
    ]
    for sock in socks:
        sock.settimeout(10)
        with contextlib.suppress(ConnectionResetError):  # closed after the handshake timeout
            assert sock.recv(10) == b""
        sock.close()
    for _ in range(50):
        if me.num_fds() <= baseline + 2:
            break
        threading.Event().wait(0.1)
    assert me.num_fds() <= baseline + 2


def test_auth_failures_lock_out_the_address(start_server, pki: Pki):
    """Checklist H2: after N failures from one IP, further AUTH gets 421 and a close."""
    server = start_server(server={"auth_failures_per_ip": 3})
    bad = "AUTH PLAIN " + base64.b64encode(b"\0SMTP_Injection\0wrong").decode()
    codes = []
    for _ in range(5):
        conv = Conversation(server.ports["submissions"])
        conv.sock = pki.client_context().wrap_socket(conv.sock, server_hostname="localhost")
        conv.reply()
        conv.cmd("EHLO client.test")
        codes.append(conv.cmd(bad)[0])
        conv.close()
    assert codes[:3] == [535, 535, 535]
    assert codes[3:] == [421, 421]


def test_a_key_without_smtp_inject_counts_as_an_auth_failure(start_server, pki: Pki):
    """Issue 10 item 2: refusing a right key that lacks smtp/inject is an AUTH failure like
    any other, so it feeds the per-address lockout (checklist H2)."""
    from sealpost.api_keys import create_key
    from sealpost.model.grants import ALL_GRANTS, Grant

    server = start_server(server={"auth_failures_per_ip": 2})
    store = server.app.store
    no_inject, _ = server.call(
        lambda: create_key(store, "api only", 0.0, grants=ALL_GRANTS - {Grant.SMTP_INJECT})
    )
    full, _ = server.call(lambda: create_key(store, "full", 0.0))
    codes = []
    for key in (no_inject, no_inject, full):
        conv = Conversation(server.ports["submissions"])
        conv.sock = pki.client_context().wrap_socket(conv.sock, server_hostname="localhost")
        conv.reply()
        conv.cmd("EHLO client.test")
        plain = base64.b64encode(f"\0SMTP_Injection\0{key}".encode()).decode()
        codes.append(conv.cmd("AUTH PLAIN " + plain)[0])
        conv.close()
    assert codes == [535, 535, 421]


def test_endless_command_line_keeps_memory_bounded(server):
    """Checklist G1: a 10 MB command line without CRLF: 500, and RSS does not follow it."""
    me = psutil.Process()
    before = me.memory_info().rss
    conv = Conversation(server.ports["mx"])
    conv.reply()
    chunk = b"A" * 65536
    try:
        for _ in range(160):  # 10 MiB
            conv.send(chunk)
    except OSError:
        pass  # closing the connection on abuse is also acceptable
    try:
        conv.send(b"\r\n")
        code, _ = conv.reply()
        assert code in (500, 421)
    except OSError:
        pass
    assert me.memory_info().rss - before < 30 * 1024 * 1024


def test_new_connections_see_a_reloaded_certificate(start_server, pki: Pki):
    server = start_server()

    def peer_serial() -> int:
        ctx = pki.client_context()
        with (
            socket.create_connection(("127.0.0.1", server.ports["submissions"])) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        from cryptography import x509

        return x509.load_der_x509_certificate(der).serial_number

    first = peer_serial()
    fresh = pki.ca.issue_cert("mx.example.test", "localhost", "127.0.0.1")
    fresh.private_key_pem.write_to_path(str(pki.key_file))
    fresh.cert_chain_pems[0].write_to_path(str(pki.cert_file))
    server.app.reload_certificates()
    assert peer_serial() != first
    assert isinstance(ssl.OPENSSL_VERSION, str)


def test_connection_rate_per_ip_is_capped(start_server):
    """Checklist G7 (rate): a burst of new connections from one IP past the per-minute
    limit gets 421 4.7.0 even though each one closed before the next."""
    server = start_server(server={"connection_rate_per_ip": 5, "limit_exempt": []})
    codes = []
    for _ in range(7):
        conv = Conversation(server.ports["mx"])
        codes.append(conv.reply()[0])
        conv.close()
    assert codes == [220] * 5 + [421] * 2


def test_exempt_networks_are_never_refused_per_ip(start_server):
    """Issue 12: like Postfix's $mynetworks exemption, the default limit_exempt (this host)
    skips the per-IP cap, so a load of exactly the limit never meets a 421."""
    server = start_server(server={"max_connections_per_ip": 2, "connection_rate_per_ip": 2})
    held = [Conversation(server.ports["mx"]) for _ in range(6)]
    assert [conv.reply()[0] for conv in held] == [220] * 6
    for conv in held:
        conv.close()
