"""Writes the starting corpus of every fuzz target from the test fixtures and RFC examples.

Run from the repository root (``python fuzz/seed_corpus.py [target ...]``); it writes the
seeds that are missing. The corpora in
``fuzz/corpus/<target>/`` were made this way and then grown by ``make fuzz`` (libFuzzer
``-merge=1`` keeps only inputs that add coverage). Seed files are named ``seed-<name>``;
files the fuzzer adds are named by their SHA-1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "fuzz")]

from chunking import join  # noqa: E402

Seeds = Iterator[tuple[str, bytes]]


def dsn_parse() -> Seeds:
    from tests.unit.test_dsn import ORIGINAL, POSTFIX_BOUNCE, build, crlf, failed

    from sealpost.delivery.dsn import DsnAction

    yield "failed", build()
    yield "failed-envid", build(envelope_id="env-42")
    yield "delayed", build(failed(action=DsnAction.DELAYED, status="4.4.1"))
    yield "two", build(failed(), failed("bob@remote.example", status="5.2.2"))
    yield "utf8", build(failed(diagnostic="550 5.1.1 Benutzer unbekannt: über"))
    yield "lf-headers", build(original_headers=b"From: a@shop.test\nSubject: x\n\nbody\n")
    yield "postfix", crlf(POSTFIX_BOUNCE)
    headers_only = POSTFIX_BOUNCE.replace(
        "Content-Description: Undelivered Message\nContent-Type: message/rfc822",
        "Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers",
    )
    yield "postfix-headers-lf", headers_only.encode()
    head, _, _ = POSTFIX_BOUNCE.partition(
        "--3F2A1C0123.1767226200/mx.remote.example\nContent-Description: Undelivered Message"
    )
    yield "postfix-no-return", crlf(head + "--3F2A1C0123.1767226200/mx.remote.example--\n")
    yield "global", crlf(
        POSTFIX_BOUNCE.replace("message/delivery-status", "message/global-delivery-status")
        .replace("Content-Type: message/rfc822", "Content-Type: message/global-headers")
        .replace("ann@remote.example", "änn@remote.example")
    ).replace(b"\xc3\xa4", "ä".encode())
    yield "base64-status", crlf(
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        "--b\nContent-Type: text/plain\n\nx\n"
        "--b\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
        "UmVwb3J0aW5nLU1UQTogZG5zOyBteC5leGFtcGxlCgpGaW5hbC1SZWNpcGllbnQ6IHJmYzgyMjsg\n"
        "YUBiLmV4YW1wbGUKQWN0aW9uOiBmYWlsZWQKU3RhdHVzOiA1LjAuMAo=\n"
        "--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <x@y>\nX-Sealpost-Id: 1\n"
        "--b--\n"
    )
    # RFC 3464 appendix C style: a per-message block only, and a report-less multipart
    yield "rfc3464-simple", crlf(
        "From: Mail Delivery Subsystem <MAILER-DAEMON@CS.UTK.EDU>\n"
        "Message-Id: <199407072116.RAA14128@CS.UTK.EDU>\n"
        "Subject: Returned mail: Cannot send message for 5 days\n"
        "To: <owner-info-mime@cs.utk.edu>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        "    boundary=\"RAA14128.773615765/CS.UTK.EDU\"\n\n"
        "--RAA14128.773615765/CS.UTK.EDU\n\n"
        "The original message was received at Sat, 2 Jul 1994 17:10:28 -0400\n\n"
        "--RAA14128.773615765/CS.UTK.EDU\n"
        "content-type: message/delivery-status\n\n"
        "Reporting-MTA: dns; cs.utk.edu\n\n"
        "Original-Recipient: rfc822;louisl@larry.slip.umd.edu\n"
        "Final-Recipient: rfc822;louisl@larry.slip.umd.edu\n"
        "Action: failed\n"
        "Status: 4.0.0\n"
        "Diagnostic-Code: smtp; 426 connection timed out\n"
        "Last-Attempt-Date: Thu, 7 Jul 1994 17:15:49 -0400\n\n"
        "--RAA14128.773615765/CS.UTK.EDU\n"
        "content-type: message/rfc822\n\n"
        "[original message goes here]\n\n"
        "--RAA14128.773615765/CS.UTK.EDU--\n"
    )
    yield "not-a-report", ORIGINAL


def _smtp(*lines: str, end: str = "\r\n") -> bytes:
    return "".join(line + end for line in lines).encode()


def _per_line(*groups: bytes, flags: int = 0) -> bytes:
    """A seed whose chunks are ``groups`` (each one read from the network at once)."""
    cuts = bytes(len(group) - 1 for group in groups[:-1])
    return join(b"".join(groups), flags, cuts)


def smtp_server() -> Seeds:
    from tests.unit.test_smtp_support import plain

    mail = ("MAIL FROM:<a@alice.test>", "RCPT TO:<u@example.test>", "DATA")
    body = _smtp("Subject: hi", "", "hello", "..dot", ".")
    fresh, submission, authenticated, implicit, data, inside_tls, helo, auth_login = range(8)
    yield "ehlo-mail", _per_line(_smtp("EHLO client.test"), _smtp(*mail), body, _smtp("QUIT"))
    yield "helo-mail", _per_line(
        *(_smtp(line) for line in ("HELO client.test", *mail)), body, flags=fresh
    )
    yield "helo-pipelined", _per_line(_smtp("HELO c", *mail), body)
    yield "pipelined", _per_line(
        _smtp("EHLO c"),
        _smtp("MAIL FROM:<a@b.test> SIZE=100 BODY=8BITMIME", "RCPT TO:<u@example.test>",
              "RCPT TO:<v@local.test>", "RCPT TO:<w@remote.test>", "DATA"),
        body + _smtp("RSET", "NOOP", "VRFY u", "HELP", "QUIT"),
    )
    yield "starttls-inject", _per_line(
        _smtp("EHLO c"), _smtp("STARTTLS", "RSET", "MAIL FROM:<x@y.test>", "EHLO c"),
        _smtp("EHLO c"), _smtp("MAIL FROM:<x@y.test>"), _smtp("QUIT"),
    )
    yield "starttls-slow", _per_line(
        _smtp("EHLO c"), _smtp("STARTTLS"), _smtp("EHLO dropped"), _smtp("EHLO c"), _smtp(*mail),
        body, flags=0x20,
    )
    yield "sub-auth", _per_line(
        _smtp("EHLO c"), _smtp("STARTTLS"), _smtp("EHLO c"),
        _smtp("AUTH PLAIN " + plain("alice", "secret")), _smtp(*mail), body, _smtp("QUIT"),
        flags=submission,
    )
    yield "sub-auth-lagging", _per_line(
        _smtp("EHLO c"), _smtp("STARTTLS"), _smtp("EHLO c"),
        _smtp("AUTH PLAIN " + plain("bob", "hunter2")), _smtp(*mail), body, _smtp("QUIT"),
        flags=submission | 0x80,
    )
    yield "sub-auth-login", _per_line(
        _smtp("EHLO c"), _smtp("STARTTLS"), _smtp("EHLO c"), _smtp("AUTH LOGIN"),
        _smtp("YWxpY2U="), _smtp("d3Jvbmc="), _smtp("AUTH LOGIN"), _smtp("*"),
        _smtp("AUTH PLAIN"), _smtp("="), flags=submission,
    )
    yield "sub-no-tls", _per_line(
        *(_smtp(line) for line in ("EHLO c", *mail, "AUTH PLAIN", "VRFY x")), flags=submission
    )
    yield "authed", _per_line(
        _smtp(*mail), body, _smtp(*mail), _smtp("a", "b\r\n."), _smtp("QUIT"), flags=authenticated
    )
    yield "authed-store-451", _per_line(
        _smtp(*mail), body, _smtp("QUIT"), flags=authenticated | 0x08
    )
    yield "authed-store-421", _per_line(
        _smtp(*mail), body + _smtp("NOOP"), flags=authenticated | 0x18
    )
    yield "implicit", _per_line(
        _smtp("EHLO c"), _smtp("STARTTLS"),
        _smtp("MAIL FROM:<a@b.test> REQUIRETLS SMTPUTF8", "RCPT TO:<ü@example.test>", "DATA"),
        _smtp("Subject: ü", "", "x", "."), flags=implicit,
    )
    yield "inside-tls", _per_line(_smtp(*mail), body, _smtp("STARTTLS"), flags=inside_tls)
    yield "auth-login", _per_line(_smtp("YWxpY2U="), _smtp("c2VjcmV0"), _smtp(*mail), body,
                                  flags=auth_login)
    yield "helo-state", _per_line(_smtp("MAIL FROM:<a@b.test>"), _smtp("RCPT TO:<u@local.test>"),
                                  _smtp("DATA"), body, _smtp("EHLO c"), flags=helo)
    for name, ending in [
        ("lf-dot-lf", b"\n.\n"), ("lf-dot-crlf", b"\n.\r\n"), ("crlf-dot-lf", b"\r\n.\n"),
        ("cr-dot-cr", b"\r.\r"), ("cr-dot-lf", b"\r.\n"), ("lf-dot-cr", b"\n.\r"),
        ("nul-dot", b"\r\n\x00.\r\n"),
    ]:
        smuggle = b"x" + ending + _smtp("MAIL FROM:<evil@b.test>", "RCPT TO:<v@example.test>",
                                        "DATA", "smuggled", ".")
        yield f"smuggle-{name}", join(smuggle + b"\r\n.\r\n" + _smtp("QUIT"), data)
    yield "data-long-line", join(b"a" * 1200 + b"\r\n.\r\n", data, bytes([255, 255]))
    yield "data-small-limits", join(
        _smtp("A: 1", " folded", "B: 2", "C: 3", "D: 4", "E: 5", "", "b" * 90, "."), data | 0x40,
        bytes([3, 3, 3]),
    )
    yield "long-command", join(b"EHLO " + b"x" * 600 + b"\r\nNOOP\r\n", 0, bytes([255, 255]))
    yield "bare-lf-cmd", _per_line(
        b"EHLO c\n", b"MAIL FROM:<a@b.test>\r", b"RCPT TO:<u@example.test>\r\n"
    )
    yield "junk", _per_line(
        _smtp("EHLO c"), _smtp(*["NOOP"] * 30, "HELP", "EXPN x", "BDAT 10 LAST")
    )
    yield "errors", _per_line(_smtp("EHLO c"), _smtp(*["XXXX"] * 25))
    yield "small-limits", _per_line(
        _smtp("EHLO c"), _smtp("MAIL FROM:<a@b.test> SIZE=1000"),
        _smtp("RCPT TO:<a@example.test>", "RCPT TO:<b@example.test>", "RCPT TO:<c@example.test>"),
        flags=0x40,
    )
    yield "nonascii", _per_line(
        _smtp("EHLO c"), _smtp("MAIL FROM:<ü@b.test>", "VRFY ü") + b"\xff\r\n"
    )


def client_replies() -> Seeds:
    yield "greeting", join(b"220 mx.example.test ESMTP\r\n")
    yield "ehlo", join(
        b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n"
        b"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 REQUIRETLS\r\n",
        0, bytes([4, 9, 30]),
    )
    yield "enhanced", join(b"250 2.1.0 Ok\r\n550-5.1.1 no such\r\n550 5.1.1 user\r\n")
    yield "mixed-class", join(b"451 5.1.1 wrong class\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
    yield "code-change", join(b"250-a\r\n251 b\r\n")
    yield "bare-lf", join(b"250 ok\n250 ok\r\n")
    yield "long", join(b"250 " + b"x" * 600 + b"\r\n", 0, bytes([200, 200]))
    yield "utf8", join("250 2.0.0 über\r\n".encode())
    yield "no-text", join(b"250\r\n221-\r\n221\r\n", 0, bytes([1, 1, 1]))


def mta_sts() -> Seeds:
    policy = (
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\n"
        "max_age: 604800\n"
    )
    yield "policy", b"P" + policy.encode()
    yield "policy-crlf", b"P" + policy.replace("\n", "\r\n").encode()
    yield "policy-none", b"P" + b"version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n"
    yield "policy-testing", (
        b"Pmode: testing\nmax_age: 0\nversion: STSv1\nmx: mx.\xc3\xa9xample.com\nx-ext: 1\n"
    )
    yield "policy-bad", b"Pversion: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 99999999999\n"
    yield "txt", b"T" + b"v=STSv1; id=20160831085700Z;\x00v=spf1 -all"
    yield "txt-ext", b"T" + b"v=STSv1;id=abc;ext=value"
    yield "txt-two", b"T" + b"v=STSv1; id=a\x00v=STSv1; id=b"
    yield "match", b"M" + b"*.example.com\x00mail.example.com"
    yield "match-idna", b"M" + "*.bücher.example\x00mx.bücher.example.".encode()


def rfc822() -> Seeds:
    base = (
        "From: Orders <orders@shop.test>\nTo: ann@remote.example\nSubject: hi\n"
        "Date: Thu, 01 Jan 2026 00:00:00 +0000\nMessage-ID: <a@b>\n\nHello\n"
    )
    yield "simple", base.encode()
    yield "crlf", base.replace("\n", "\r\n").encode()
    yield "cr", base.replace("\n", "\r").encode()
    yield "minimal", b"From: a@b.test\n\nx"
    yield "folded", b"From: a@b.test\nSubject: one\n two\n\tthree\n\nbody\n"
    yield "utf8", "From: Jörg <jörg@b.test>\nSubject: über\n\nünïcode\n".encode()
    yield "multipart", (
        b"From: a@b.test\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=xx\n\n"
        b"--xx\nContent-Type: text/plain\n\nhi\n"
        b"--xx\nContent-Type: text/html\n\n<p>hi</p>\n--xx--\n"
    )
    yield "no-boundary", b"From: a@b.test\nContent-Type: multipart/mixed\n\nx\n"
    yield "two-from", b"From: a@b.test\nFrom: c@d.test\nSender: e@f.test\n\nx\n"
    yield "group", b"From: undisclosed:;\n\nx\n"
    yield "encoded", b"From: =?utf-8?q?J=C3=B6rg?= <j@b.test>\n\nx\n"
    yield "continuation-first", b" From: a@b.test\n\nx\n"
    yield "not-a-header", b"From a@b.test\n\nx\n"
    yield "long", b"From: a@b.test\nX: " + b"y" * 1000 + b"\n\nx\n"


def config_loader() -> Seeds:
    from sealpost.config import render_default_config

    yield "default", render_default_config("mx.example.test", dev_ports=True).encode()
    yield "default-prod", render_default_config("mx.example.test", dev_ports=False).encode()
    plain = render_default_config("mx.example.test", dev_ports=True)
    for old, new in [
        ('tls = "starttls"', 'tls = "none"'),
        ('tls = "implicit"', 'tls = "none"'),
        ("require_tls = true", "require_tls = false"),
        ("auth = true", "auth = false"),
    ]:
        plain = plain.replace(old, new)
    yield "default-no-tls", plain.encode()
    yield "outbound", (
        b'[server]\nhostname = "mx.example.test"\n[delivery]\nroutes = {"example.com" = '
        b'"[192.0.2.1]:2525"}\ntls_policy = {"example.org" = "verify"}\n'
        b'[[dkim.keys]]\ndomain = "example.test"\nselector = "s1"\nkey_file = "k.pem"\n'
        b'[store]\nurl = "memory://"\n[api]\naddress = "[::1]:8443"\n'
    )
    yield "deep", b"a = " + b"[" * 200 + b"]" * 200 + b"\n"
    yield "minimal", b'[server]\nhostname = "mx.example.test"\n'
    yield "listeners", (
        b'[server]\nhostname = "mx.example.test"\nlocal_domains = ["example.test"]\n'
        b'[[smtp.listeners]]\naddress = "127.0.0.1:2525"\ntls = "none"\n'
        b'[[smtp.listeners]]\naddress = "[::1]:4465"\ntls = "implicit"\nauth = true\n'
        b'[tls]\ncert_file = "cert.pem"\nkey_file = "key.pem"\n'
    )
    yield "syntax", b'[server\nhostname = "x"\n'
    yield "types", b'[server]\nhostname = 25\n[delivery]\nbackoff = "x"\n'
    yield "unknown", b'[server]\nhostname = "a.test"\nfoo = 1\n[nope]\n'
    yield "not-utf8", b'[server]\nhostname = "\xff"\n'


TARGETS: dict[str, Callable[[], Seeds]] = {
    "dsn_parse": dsn_parse,
    "smtp_server": smtp_server,
    "client_replies": client_replies,
    "mta_sts": mta_sts,
    "rfc822": rfc822,
    "config_loader": config_loader,
}


def main() -> None:
    wanted = sys.argv[1:] or list(TARGETS)
    for target in wanted:
        directory = ROOT / "fuzz" / "corpus" / target
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in TARGETS[target]():
            path = directory / f"seed-{name}"
            if not path.exists():  # DSNs carry random ids: keep the seeds stable
                path.write_bytes(data)


if __name__ == "__main__":
    main()
