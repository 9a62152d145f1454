"""Self-test of the Postfix test peer: two real instances relaying to each other over TLS.

Covers what later interop tests rely on: STARTTLS at ``encrypt`` lands in the receiver's
maildir with a TLSv1.3 Received header; ``verify`` delivers with the CA and the right name
and defers (certificate verification failed) without the CA; SMTP AUTH client credentials
reach the relay; the receiver rejects bare LF from a loopback client (RFC 5321 section
2.3.8); stop() really stops the master.
"""

from __future__ import annotations

import base64
import re
import socket
import threading
from email import message_from_bytes

import pytest

from tests.interop.conftest import PeerPki, PostfixFactory, require_binary
from tests.interop.postfix_peer import (
    PostfixPeer,
    ReceiverRole,
    SaslCredentials,
    SenderRole,
    TlsLevel,
)
from tests.interop.swaks import run_swaks

pytestmark = pytest.mark.interop

MX = "mx.example.test"
WAIT = 8  # seconds; every wait is bounded


def _message(subject: str) -> bytes:
    return (
        f"From: alice@sender.test\r\nTo: bob@example.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject}@sender.test>\r\n\r\nHello over a real Postfix.\r\n"
    ).encode()


def _receiver(postfix_peers: PostfixFactory, pki: PeerPki) -> PostfixPeer:
    role = ReceiverRole(domains=("example.test",), cert_file=pki.cert_file, key_file=pki.key_file)
    return postfix_peers("receiver", role, myhostname=MX)


def test_encrypt_relay_lands_in_maildir_over_tls13(postfix_peers, peer_pki):
    receiver = _receiver(postfix_peers, peer_pki)
    sender = postfix_peers(
        "sender",
        SenderRole(
            relay_port=receiver.smtpd_port, tls_level=TlsLevel.ENCRYPT, ca_file=peer_pki.ca_file
        ),
    )

    queue_id = sender.send("alice@sender.test", ["bob@example.test"], _message("encrypt"))

    assert queue_id
    [raw] = receiver.wait_maildir(1, timeout=WAIT)
    received = message_from_bytes(raw).get_all("Received")
    assert received is not None
    assert "with ESMTPS" in received[0]
    assert "using TLSv1.3" in received[0]
    assert b"Hello over a real Postfix." in raw
    sender.wait_log(
        rf"TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:{receiver.smtpd_port}: "
        r"TLSv1\.3",
        timeout=WAIT,
    )
    sender.wait_log(rf"{queue_id}: to=<bob@example.test>.*status=sent", timeout=WAIT)
    sender.wait_queue_empty(timeout=WAIT)
    receiver.wait_queue_empty(timeout=WAIT)


def test_verify_with_ca_and_right_name_delivers(postfix_peers, peer_pki):
    receiver = _receiver(postfix_peers, peer_pki)
    sender = postfix_peers(
        "sender",
        SenderRole(
            relay_port=receiver.smtpd_port,
            tls_level=TlsLevel.VERIFY,
            ca_file=peer_pki.ca_file,
            tls_servername=MX,
            tls_match=MX,
        ),
    )

    sender.send("alice@sender.test", ["bob@example.test"], _message("verify-ok"))

    [raw] = receiver.wait_maildir(1, timeout=WAIT)
    assert b"Subject: verify-ok" in raw
    sender.wait_log(r"Verified TLS connection established to 127\.0\.0\.1", timeout=WAIT)


def test_verify_without_ca_defers(postfix_peers, peer_pki):
    receiver = _receiver(postfix_peers, peer_pki)
    sender = postfix_peers(
        "sender",
        SenderRole(relay_port=receiver.smtpd_port, tls_level=TlsLevel.VERIFY, tls_match=MX),
    )

    queue_id = sender.send("alice@sender.test", ["bob@example.test"], _message("verify-no-ca"))

    sender.wait_log(r"certificate verification failed for 127\.0\.0\.1", timeout=WAIT)
    sender.wait_log(rf"{queue_id}: to=<bob@example.test>.*status=deferred", timeout=WAIT)
    assert [path.name for path in sender.queued_files()] == [queue_id]
    assert receiver.maildir_messages() == []


class _AuthRecorder:
    """A one-connection plaintext SMTP server that offers AUTH PLAIN and records it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(WAIT)
        self.port = self.sock.getsockname()[1]
        self.auth: bytes | None = None
        self.data = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        conn.settimeout(WAIT)
        with conn, conn.makefile("rb") as rfile:
            conn.sendall(b"220 fake.test ESMTP\r\n")
            while line := rfile.readline():
                verb = line[:4].upper()
                if verb == b"EHLO":
                    conn.sendall(b"250-fake.test\r\n250 AUTH PLAIN LOGIN\r\n")
                elif verb == b"AUTH":
                    parts = line.split()
                    if len(parts) < 3:
                        conn.sendall(b"334 \r\n")
                        parts.append(rfile.readline().strip())
                    self.auth = base64.b64decode(parts[2])
                    conn.sendall(b"235 2.7.0 ok\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go\r\n")
                    while (chunk := rfile.readline()) not in (b".\r\n", b""):
                        self.data += chunk
                    conn.sendall(b"250 2.0.0 queued as FAKE\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")

    def close(self) -> None:
        self.sock.close()
        self.thread.join(WAIT)


def test_sender_authenticates_with_sasl_credentials(postfix_peers):
    relay = _AuthRecorder()
    try:
        sender = postfix_peers(
            "sender",
            SenderRole(
                relay_port=relay.port,
                tls_level=TlsLevel.MAY,
                sasl=SaslCredentials(password="k3y,with spaces:and-colon"),
            ),
        )
        sender.send("alice@sender.test", ["bob@example.test"], _message("sasl"))
        sender.wait_queue_empty(timeout=WAIT)
    finally:
        relay.close()
    assert relay.auth == b"\0SMTP_Injection\0k3y,with spaces:and-colon"
    assert b"Subject: sasl" in relay.data


def test_receiver_rejects_bare_lf_from_loopback_client(postfix_peers, peer_pki):
    require_binary("swaks")
    receiver = _receiver(postfix_peers, peer_pki)
    assert receiver.postconf("smtpd_forbid_bare_newline") == "reject"

    result = run_swaks(
        [
            "--server", f"127.0.0.1:{receiver.smtpd_port}",
            "--from", "alice@sender.test", "--to", "bob@example.test",
            "--no-data-fixup", "--data", "-", "--timeout", str(WAIT),
        ],
        timeout=WAIT * 2,
        input_data=b"Subject: smuggle\r\n\r\nbare\nLF\r\n.\r\n",
    )  # fmt: skip

    assert result.returncode != 0
    assert re.search(r"<\*\* +5\d\d .*bare <LF> received", result.stdout), result.stdout
    assert receiver.maildir_messages() == []


def test_stop_really_stops_master(postfix_peers, peer_pki):
    receiver = _receiver(postfix_peers, peer_pki)
    pid = receiver.master_pid
    assert pid is not None and receiver.running

    receiver.stop()

    assert not receiver.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", receiver.smtpd_port), timeout=WAIT).close()
    receiver.stop()  # idempotent
