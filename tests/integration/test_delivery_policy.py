"""Outbound TLS policy through the whole server: MTA-STS (checklist C1, C2, C5), operator
rules, REQUIRETLS, the plaintext fallback, DKIM on what leaves, and restart recovery (K11).
"""

from __future__ import annotations

import dkim

from sealpost.dkim.keys import generate_key
from tests.integration.delivery_rig import MX, start_rig, trust_bundle

ENFORCE = "version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 86400\n"
TESTING = "version: STSv1\nmode: testing\nmx: {mx}\nmax_age: 86400\n"


def _sts(dns_server, https_server, text: str, mx: str = MX) -> None:
    dns_server.add("_mta-sts.example.net", "TXT", "v=STSv1; id=20261129;")
    dns_server.add("mta-sts.example.net", "A", "127.0.0.1")
    https_server.policy("example.net", text.format(mx=mx))


def test_sts_enforce_delivers_over_verified_tls(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path
):
    """C1."""
    sink = smtp_sink(cert=sink_certs.good)
    _sts(dns_server, https_server, ENFORCE)
    bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file)
    rig = start_rig(start_server, dns_server, sink, ca_file=bundle, https_port=https_server.port)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["policy_source"] == "mta-sts" and tls["policy_mode"] == "enforce"
    assert tls["level_required"] == "verify" and tls["verified"] is True


def test_sts_enforce_with_untrusted_certificate_defers(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path
):
    """B3 under MTA-STS enforce: no delivery, not even in plaintext."""
    sink = smtp_sink(cert=sink_certs.untrusted)
    _sts(dns_server, https_server, ENFORCE)
    bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file)
    rig = start_rig(start_server, dns_server, sink, ca_file=bundle, https_port=https_server.port)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delay")
    assert event.fields["error_code"].startswith("4")
    assert event.fields["tls"]["policy_source"] == "mta-sts"
    assert event.fields["tlsrpt_failures"] == ["certificate-not-trusted"]
    assert sink.messages == []


def test_sts_enforce_mx_not_in_policy_defers_without_connecting(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path
):
    """C2."""
    sink = smtp_sink(cert=sink_certs.good)
    _sts(dns_server, https_server, ENFORCE, mx="*.elsewhere.example")
    bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file)
    rig = start_rig(start_server, dns_server, sink, ca_file=bundle, https_port=https_server.port)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delay")
    assert "4.7.5" in event.fields["raw_reason"]
    assert sink.sessions == []


def test_sts_enforce_applies_to_an_implicit_mx_too(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path
):
    """C2 for a domain without MX records (RFC 8461 section 4.1, RFC 5321 section 5.1): the
    implicit MX host is checked against the policy's `mx` patterns like any MX host."""
    sink = smtp_sink(cert=sink_certs.good)
    dns_server.add("_mta-sts.bare.example", "TXT", "v=STSv1; id=20261203;")
    dns_server.add("mta-sts.bare.example", "A", "127.0.0.1")
    dns_server.add("bare.example", "A", "127.0.0.1")  # no MX: the domain is its own MX
    https_server.policy("bare.example", ENFORCE.format(mx="*.elsewhere.example"))
    bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file)
    rig = start_rig(start_server, dns_server, sink, ca_file=bundle, https_port=https_server.port)
    rig.submit(["bob@bare.example"])
    [event] = rig.wait_events("delay")
    assert "4.7.5" in event.fields["raw_reason"]
    assert event.fields["tlsrpt_failures"] == ["validation-failure"]
    assert sink.sessions == []


def test_sts_testing_delivers_and_records_the_failure(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path
):
    """C5."""
    sink = smtp_sink(cert=sink_certs.untrusted)
    _sts(dns_server, https_server, TESTING)
    bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file)
    rig = start_rig(start_server, dns_server, sink, ca_file=bundle, https_port=https_server.port)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["policy_mode"] == "testing" and tls["verified"] is False
    assert event.fields["tlsrpt_failures"] == ["certificate-not-trusted"]


def test_sts_testing_mx_outside_the_policy_delivers_and_records_validation_failure(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path
):
    """C5 (RFC 8461 section 5): under `testing` an MX host outside the policy's `mx` patterns
    still gets the mail, and the attempt reports `validation-failure` for TLS-RPT."""
    sink = smtp_sink(cert=sink_certs.good)
    _sts(dns_server, https_server, TESTING, mx="*.elsewhere.example")
    bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file)
    rig = start_rig(start_server, dns_server, sink, ca_file=bundle, https_port=https_server.port)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    assert event.fields["tls"]["policy_mode"] == "testing"
    assert event.fields["tlsrpt_failures"] == ["validation-failure"]
    assert len(sink.messages) == 1


def test_no_starttls_under_may_delivers_in_plaintext_and_says_so(
    start_server, dns_server, smtp_sink, sink_certs
):
    sink = smtp_sink()  # no certificate: STARTTLS not offered
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    assert event.fields["outbound_tls"] == "0"
    assert event.fields["tls"]["offered"] is False and event.fields["tls"]["version"] is None


def test_operator_encrypt_rule_refuses_plaintext(start_server, dns_server, smtp_sink, sink_certs):
    sink = smtp_sink()
    rig = start_rig(
        start_server,
        dns_server,
        sink,
        ca_file=sink_certs.ca_file,
        tls_policy={"example.net": "encrypt"},
    )
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delay")
    assert event.fields["tls"]["level_required"] == "encrypt"
    assert event.fields["tls"]["policy_source"] == "operator"
    assert "4.7.4" in event.fields["raw_reason"]
    assert sink.messages == []


def test_failed_handshake_under_may_falls_back_to_plaintext_and_records_it(
    start_server, dns_server, smtp_sink, sink_certs
):
    sink = smtp_sink(cert=sink_certs.good, handshake="fail")
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["version"] is None and tls["fallback"] == "plaintext after TLS handshake failure"
    assert event.fields["outbound_tls"] == "-1"


def test_requiretls_message_to_a_peer_without_requiretls_bounces(
    start_server, dns_server, smtp_sink, sink_certs
):
    sink = smtp_sink(cert=sink_certs.good)  # does not advertise REQUIRETLS
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    rig.submit(["bob@example.net"], requiretls=True)
    [event] = rig.wait_events("bounce")
    assert "5.7.30" in event.fields["raw_reason"]
    assert event.fields["tls"]["policy_source"] == "requiretls"
    assert sink.messages == []


def test_outgoing_mail_is_dkim_signed(start_server, dns_server, smtp_sink, sink_certs, tmp_path):
    private, txt = generate_key("rsa-sha256", bits=2048)
    key_file = tmp_path / "s1.key"
    key_file.write_bytes(private)
    sink = smtp_sink(cert=sink_certs.good)
    rig = start_rig(
        start_server,
        dns_server,
        sink,
        ca_file=sink_certs.ca_file,
        **{
            "[[dkim.keys]]": [
                {"domain": "sealpost.test", "selector": "s1", "key_file": str(key_file)}
            ]
        },
    )
    rig.submit(["bob@example.net"])
    rig.wait_events("delivery")
    [received] = sink.messages
    assert received.body.startswith(b"DKIM-Signature:") or b"\r\nDKIM-Signature:" in received.body

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s1._domainkey.sealpost.test."
        return txt.encode()

    assert dkim.verify(received.body, dnsfunc=dns)


def test_restart_makes_messages_in_delivery_due_again(
    start_server, dns_server, smtp_sink, sink_certs
):
    """K11: a message leased by a worker that died is delivered right after a restart, not
    when its (hour-long) lease runs out."""
    sink = smtp_sink(cert=sink_certs.good)
    first = start_rig(
        start_server, dns_server, sink, ca_file=sink_certs.ca_file, delivery={"enabled": False}
    )
    mid = first.submit(["bob@example.net"])
    store = first.server.app.store
    claimed = first.server.call(lambda: store.claim_due(1e12, 10, 3600))  # the worker "dies"
    assert [c.message.id for c in claimed] == [mid]
    first.server.stop()
    second = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    [event] = second.wait_events("delivery")
    assert event.message_id == mid


def test_cached_sts_policy_survives_a_restart_and_a_stripped_record(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path
):
    """C4 through the store: after a restart, with the TXT record stripped and the policy
    server gone (an attacker's downgrade), the cached enforce policy still applies."""
    good = smtp_sink(cert=sink_certs.good)
    _sts(dns_server, https_server, ENFORCE)
    bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file)
    first = start_rig(start_server, dns_server, good, ca_file=bundle, https_port=https_server.port)
    first.submit(["bob@example.net"])
    first.wait_events("delivery")
    first.server.stop()
    dns_server.remove("_mta-sts.example.net")
    https_server.remove("mta-sts.example.net")
    impostor = smtp_sink(cert=sink_certs.untrusted)  # would be accepted under plain "may"
    second = start_rig(
        start_server, dns_server, impostor, ca_file=bundle, https_port=https_server.port
    )
    second.submit(["carol@example.net"])
    [delay] = second.wait_events("delay")
    assert delay.fields["tls"]["policy_source"] == "mta-sts"
    assert impostor.messages == []


def test_per_message_minimum_raises_the_level_and_says_so(
    start_server, dns_server, smtp_sink, sink_certs
):
    """The API's options.tls: a message may demand more than the domain's policy."""
    sink = smtp_sink()  # no STARTTLS
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    strict = rig.submit(["bob@example.net"], tls_minimum="encrypt")
    rig.submit(["carol@example.net"])
    [delay] = rig.wait_events("delay")
    assert delay.message_id == strict
    assert delay.fields["tls"]["level_required"] == "encrypt"
    assert delay.fields["tls"]["policy_source"] == "message"
    [delivered] = rig.wait_events("delivery")
    assert delivered.rcpt_to == "carol@example.net"
