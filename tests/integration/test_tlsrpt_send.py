"""TLS-RPT reports sent end to end (RFC 8460): real deliveries through the real server to a
loopback MX (a success under an MTA-STS policy, a certificate mismatch under another), then
``sealpost tlsrpt send --date today``: the mailto: report arrives at a real SMTP sink through
our own queue, DKIM-signed, with a gzip attachment that validates against the RFC 8460
schema; the https: report is POSTed to a real HTTPS server (trustme). Reports about
delivering reports are never counted (loop safety), and a second run the same day sends
nothing (one report per domain and day)."""

from __future__ import annotations

import email
import email.policy
import gzip
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.message import Message

import dkim

from sealpost.dkim.keys import generate_key
from tests.fixtures.webhook_receiver import WebhookReceiver
from tests.integration.delivery_rig import MX, WAIT, start_rig, trust_bundle
from tests.tlsrpt_schema import validate

TESTING = "version: STSv1\nmode: testing\nmx: {mx}\nmax_age: 86400\n"
ENFORCE = "version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 86400\n"
OTHER_MX = "mx.other.test"  # the sink's certificate names mx.example.test only


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "sealpost", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _sts(dns_server, https_server, domain: str, text: str) -> None:
    dns_server.add(f"_mta-sts.{domain}", "TXT", "v=STSv1; id=20261203;")
    dns_server.add(f"mta-sts.{domain}", "A", "127.0.0.1")
    https_server.policy(domain, text)


def _wait(predicate, what: str):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _report_of(message: Message) -> dict:
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "tlsrpt"
    [attachment] = [p for p in message.iter_attachments()]
    assert attachment.get_content_type() == "application/tlsrpt+gzip"
    return json.loads(gzip.decompress(attachment.get_payload(decode=True)))


def test_reports_reach_a_mailto_and_an_https_rua_once_a_day_and_never_count_themselves(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path
):
    private, txt = generate_key("rsa-sha256", bits=2048)
    key_file = tmp_path / "r1.key"
    key_file.write_bytes(private)
    sink = smtp_sink(cert=sink_certs.good)
    receiver = WebhookReceiver(tmp_path / "rua", names=("reports.test",)).start()
    try:
        # example.net: MTA-STS testing, MX with a good certificate -> successful sessions.
        _sts(dns_server, https_server, "example.net", TESTING.format(mx=MX))
        # other.example: MTA-STS enforce, its MX presents a certificate for another name.
        _sts(dns_server, https_server, "other.example", ENFORCE.format(mx=OTHER_MX))
        dns_server.add("other.example", "MX", (10, OTHER_MX))
        dns_server.add(OTHER_MX, "A", "127.0.0.1")
        https_rua = receiver.url("/v1/tlsrpt", name="reports.test")
        dns_server.add(
            "_smtp._tls.example.net",
            "TXT",
            f"v=TLSRPTv1; rua=mailto:tlsrpt@reports.test,{https_rua}",
        )
        dns_server.add(
            "_smtp._tls.other.example", "TXT", "v=TLSRPTv1;rua=mailto:tlsrpt@reports.test"
        )
        # reports.test: its MX is the sink, its web server the receiver; it asks for TLS
        # reports too, which must never include the report deliveries themselves.
        dns_server.add("reports.test", "MX", (10, MX))
        dns_server.add("reports.test", "A", "127.0.0.1")
        dns_server.add("_smtp._tls.reports.test", "TXT", "v=TLSRPTv1; rua=mailto:x@reports.test")
        bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file, receiver.ca_file)
        rig = start_rig(
            start_server,
            dns_server,
            sink,
            ca_file=bundle,
            https_port=https_server.port,
            tlsrpt={
                "enabled": True,
                "organization_name": "Sealpost Test",
                "contact_info": "mailto:postmaster@sealpost.test",
                "sender": "tlsrpt@sealpost.test",
                "allowed_private_targets": ["127.0.0.0/8"],
            },
            **{
                "[[dkim.keys]]": [
                    {"domain": "sealpost.test", "selector": "r1", "key_file": str(key_file)}
                ]
            },
        )
        rig.submit(["bob@example.net"])
        rig.submit(["carol@other.example"])
        rig.wait_events("delivery")
        [delay, *_] = rig.wait_events("delay")
        assert delay.fields["tlsrpt_failures"] == ["certificate-host-mismatch"]
        assert len(sink.messages) == 1

        config = rig.server.config.source
        assert config is not None
        sent = cli("tlsrpt", "send", "--date", "today", "-c", str(config), "--json")
        assert sent.returncode == 0, sent.stderr
        outcomes = {o["domain"]: o for o in json.loads(sent.stdout)}
        assert set(outcomes) == {"example.net", "other.example"}
        targets = {t["uri"]: t for t in outcomes["example.net"]["targets"]}
        assert targets[https_rua]["state"] == "posted"
        assert targets["mailto:tlsrpt@reports.test"]["state"] == "queued"

        # the mailto: reports, delivered by the server's own queue to the sink
        reports = _wait(
            lambda: (
                [m for m in sink.messages if "tlsrpt@reports.test" in m.recipients][:2]
                if len([m for m in sink.messages if "tlsrpt@reports.test" in m.recipients]) >= 2
                else None
            ),
            "two mailed reports",
        )
        by_domain: dict[str, dict] = {}
        for received in reports:
            message = email.message_from_bytes(received.body, policy=email.policy.default)
            domain = message["TLS-Report-Domain"]
            assert message["Subject"].startswith(f"Report Domain: {domain} Submitter: {MX} ")
            assert message["TLS-Required"] == "No"
            assert received.mail_from == "tlsrpt@sealpost.test"
            assert received.tls_version is not None  # STARTTLS to the rua's MX

            def dns(name: bytes, timeout: int = 5) -> bytes:
                assert name == b"r1._domainkey.sealpost.test."
                return txt.encode()

            assert dkim.verify(received.body, dnsfunc=dns), "RFC 8460 section 3: DKIM"
            by_domain[domain] = _report_of(message)
        for report in by_domain.values():
            validate(report)
        print("\nsample report:", json.dumps(by_domain["other.example"], indent=2))
        [good] = by_domain["example.net"]["policies"]
        assert good["policy"]["policy-type"] == "sts"
        assert good["policy"]["policy-string"] == TESTING.format(mx=MX).splitlines()
        assert good["summary"] == {
            "total-successful-session-count": 1,
            "total-failure-session-count": 0,
        }
        [bad] = by_domain["other.example"]["policies"]
        assert bad["policy"]["mx-host"] == [OTHER_MX]
        assert bad["summary"]["total-successful-session-count"] == 0
        assert bad["summary"]["total-failure-session-count"] >= 1  # retries keep failing
        [detail] = bad["failure-details"]
        assert detail["result-type"] == "certificate-host-mismatch"
        assert detail["receiving-mx-hostname"] == OTHER_MX
        assert detail["receiving-ip"] == "127.0.0.1"

        # the https: report
        [post] = receiver.hook_requests("/v1/tlsrpt")
        assert post.method == "POST"
        assert post.header("content-type") == "application/tlsrpt+gzip"
        posted = json.loads(gzip.decompress(post.body))
        validate(posted)
        assert posted["report-id"] == by_domain["example.net"]["report-id"]

        # loop safety: the report deliveries (to reports.test) were not counted
        today = datetime.now(UTC).date().isoformat()
        report_ids = {
            e.message_id
            for e in rig.wait_events("delivery", count=3)
            if e.fields["rcpt_to"] == "tlsrpt@reports.test"
        }
        assert len(report_ids) == 2
        store = rig.server.app.store
        tallied = rig.server.call(lambda: store.tls_tallies(today))
        assert {t.policy_domain for t in tallied} == {"example.net", "other.example"}

        # one report per domain and day: a second run sends nothing anywhere
        again = cli("tlsrpt", "send", "--date", "today", "-c", str(config), "--json")
        assert again.returncode == 0, again.stderr
        assert all("exists" in o["skipped"] for o in json.loads(again.stdout))
        listed = cli("tlsrpt", "list", "-c", str(config), "--json")
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert sorted(r["domain"] for r in rows) == ["example.net", "other.example"]
        time.sleep(0.5)  # the poll interval is 0.1 s: a second report would be on its way
        assert len([m for m in sink.messages if "tlsrpt@reports.test" in m.recipients]) == 2
        assert len(receiver.hook_requests("/v1/tlsrpt")) == 1
        table = cli("tlsrpt", "list", "-c", str(config))
        assert "posted" in table.stdout and "queued" in table.stdout
    finally:
        receiver.stop()
