"""Interop: real third-party peers talking to Sealpost's inbound listeners.

- Postfix (Debian) as a sending MTA relaying into Sealpost with ``smtp_tls_security_level =
  encrypt`` (MX listener) and ``verify`` + SASL (submission listener, require_tls): the
  message arrives and its stored TLS record says TLS 1.3.
- swaks: STARTTLS + AUTH PLAIN on submission, implicit TLS + AUTH LOGIN on submissions.
- openssl s_client: TLS 1.1 refused, TLS 1.2 and 1.3 accepted, over STARTTLS and implicit TLS.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.interop.conftest import PostfixFactory, require_binary
from tests.interop.postfix_peer import SaslCredentials, SenderRole, TlsLevel
from tests.interop.swaks import run_swaks
from tests.support import HOSTNAME, Pki, ServerThread

pytestmark = pytest.mark.interop
WAIT = 15.0


def _stored(server: ServerThread) -> list:
    async def work() -> list:
        rows = await server.app.store.list(limit=100)
        return [await server.app.store.get(r.id) for r in rows]

    return server.call(work)


def _wait_stored(server: ServerThread, count: int = 1) -> list:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        stored = _stored(server)
        if len(stored) >= count:
            return stored
        time.sleep(0.1)
    raise AssertionError(f"expected {count} stored message(s), have {len(_stored(server))}")


def _message(subject: str) -> bytes:
    return (
        f"From: alice@sender.test\r\nTo: bob@example.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject}@sender.test>\r\n\r\nVia a real Postfix.\r\n"
    ).encode()


def test_postfix_relays_into_sealpost_with_tls_encrypt(
    server: ServerThread, pki: Pki, postfix_peers: PostfixFactory
):
    sender = postfix_peers(
        "sender",
        SenderRole(relay_port=server.ports["mx"], tls_level=TlsLevel.ENCRYPT, ca_file=pki.ca_file),
    )
    sender.send("alice@sender.test", ["bob@example.test"], _message("encrypt"))
    [stored] = _wait_stored(server)
    sender.wait_log(r"status=sent", timeout=WAIT)
    tls = stored.message.session.tls
    assert tls.version == "TLSv1.3", tls
    assert stored.message.envelope.mail_from == "alice@sender.test"
    assert stored.message.envelope.recipients == ("bob@example.test",)
    assert stored.message.session.helo == "sender.example.test"
    assert b"Via a real Postfix." in stored.message.data
    assert b"with ESMTPS id " + stored.id.encode() in stored.message.data


def test_postfix_submits_with_verify_and_sasl(
    server: ServerThread, pki: Pki, api_key: str, postfix_peers: PostfixFactory
):
    role = SenderRole(
        relay_port=server.ports["submission"],
        tls_level=TlsLevel.VERIFY,
        ca_file=pki.ca_file,
        tls_servername=HOSTNAME,
        tls_match=HOSTNAME,
        sasl=SaslCredentials(password=api_key),
    )
    sender = postfix_peers("submitter", role)
    sender.send("alice@sender.test", ["far@remote.test"], _message("verify"))
    [stored] = _wait_stored(server)
    sender.wait_log(r"Verified TLS connection established", timeout=WAIT)
    assert stored.message.session.auth_user == api_key[:8]
    assert stored.message.session.tls.version == "TLSv1.3"
    assert stored.message.session.tls.sni == HOSTNAME
    assert stored.message.envelope.recipients == ("far@remote.test",)
    assert b"with ESMTPSA id" in stored.message.data


def test_swaks_starttls_and_auth_plain(server: ServerThread, pki: Pki, api_key: str):
    require_binary("swaks")
    result = run_swaks(
        [
            "--server",
            f"127.0.0.1:{server.ports['submission']}",
            "--from",
            "a@sender.test",
            "--to",
            "far@remote.test",
            "--tls",
            "--tls-verify",
            "--tls-ca-path",
            str(pki.ca_file),
            "--tls-sni",
            HOSTNAME,
            "--auth",
            "PLAIN",
            "--auth-user",
            "SMTP_Injection",
            "--auth-password",
            api_key,
        ]
    )
    assert result.returncode == 0, result.stdout
    assert "235 2.7.0" in result.stdout and "queued as" in result.stdout
    [stored] = _wait_stored(server)
    assert stored.message.session.listener == "submission"


def test_swaks_implicit_tls_and_auth_login(server: ServerThread, pki: Pki, api_key: str):
    require_binary("swaks")
    result = run_swaks(
        [
            "--server",
            f"127.0.0.1:{server.ports['submissions']}",
            "--from",
            "a@sender.test",
            "--to",
            "far@remote.test",
            "--tlsc",
            "--tls-verify",
            "--tls-ca-path",
            str(pki.ca_file),
            "--tls-sni",
            HOSTNAME,
            "--auth",
            "LOGIN",
            "--auth-user",
            "SMTP_Injection",
            "--auth-password",
            api_key,
        ]
    )
    assert result.returncode == 0, result.stdout
    [stored] = _wait_stored(server)
    assert stored.message.session.listener == "submissions"
    assert stored.message.session.tls.version == "TLSv1.3"


def test_swaks_wrong_key_is_refused(server: ServerThread, pki: Pki):
    require_binary("swaks")
    result = run_swaks(
        [
            "--server",
            f"127.0.0.1:{server.ports['submission']}",
            "--from",
            "a@sender.test",
            "--to",
            "far@remote.test",
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "SMTP_Injection",
            "--auth-password",
            "0" * 40,
        ]
    )
    assert result.returncode != 0
    assert "535 5.7.8" in result.stdout
    assert _stored(server) == []


@pytest.mark.parametrize("listener", ["mx", "submissions"])
@pytest.mark.parametrize(
    ("flag", "accepted"), [("-tls1_1", False), ("-tls1_2", True), ("-tls1_3", True)]
)
def test_openssl_s_client_protocols(
    server: ServerThread, pki: Pki, listener: str, flag: str, accepted: bool
):
    openssl = require_binary("openssl")
    argv = [
        openssl,
        "s_client",
        "-connect",
        f"127.0.0.1:{server.ports[listener]}",
        flag,
        "-CAfile",
        str(pki.ca_file),
        "-servername",
        HOSTNAME,
        "-verify_return_error",
    ]
    if listener == "mx":
        argv[2:2] = ["-starttls", "smtp"]
    if flag == "-tls1_1":  # OpenSSL 3 hides TLS 1.1 at its default security level
        argv += ["-cipher", "DEFAULT:@SECLEVEL=0"]
    result = subprocess.run(argv, input=b"QUIT\r\n", capture_output=True, timeout=20)
    out = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    handshake_ok = "Verify return code: 0 (ok)" in out and "Cipher is (NONE)" not in out
    assert handshake_ok is accepted, out[-2000:]
    if accepted:
        expected = "TLSv1.3" if flag == "-tls1_3" else "TLSv1.2"
        assert expected in out
