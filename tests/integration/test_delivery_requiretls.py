"""REQUIRETLS (RFC 8689) through the whole server: which next hops a REQUIRETLS message may
use (section 4.2.1), its 5.7.30 bounce checked end to end (the DSN queued to the sender), and
``TLS-Required: No`` (sections 3 and 4.2.2) relaxing MTA-STS and DANE for one message
(security E2, E3).

Real DNS (dnslib, with AD on chosen names and ``[dns] dnssec = true`` for DANE), a real
HTTPS server for MTA-STS policies, real SMTP sinks with trustme certificates.
"""

from __future__ import annotations

import email
from email.message import Message

from tests.fixtures.smtp_sink import DEFAULT_EXTENSIONS
from tests.integration.delivery_rig import MX, message_bytes, start_rig, trust_bundle
from tests.integration.test_delivery_dane import TLSA_NAME, dane_rig, odd_certificate, tlsa_data

REQUIRETLS = (*DEFAULT_EXTENSIONS, "REQUIRETLS")
ENFORCE = "version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 86400\n"


def _sts(dns_server, https_server, mx: str = MX) -> None:
    dns_server.add("_mta-sts.example.net", "TXT", "v=STSv1; id=20261203;")
    dns_server.add("mta-sts.example.net", "A", "127.0.0.1")
    https_server.policy("example.net", ENFORCE.format(mx=mx))


def _dsn(rig) -> Message:
    """The one DSN queued to the sender, parsed (RFC 3464)."""
    dsns = [m for m in rig.all_messages() if m.message.envelope.mail_from == ""]
    assert len(dsns) == 1
    dsn = dsns[0].message
    assert dsn.envelope.recipients == ("alice@sealpost.test",)
    parsed = email.message_from_bytes(dsn.data)
    assert parsed.get_content_type() == "multipart/report"
    assert parsed.get_param("report-type") == "delivery-status"
    return parsed


def _status_fields(parsed: Message) -> dict[str, str]:
    [status] = [p for p in parsed.walk() if p.get_content_type() == "message/delivery-status"]
    fields: dict[str, str] = {}
    for block in status.get_payload():
        fields.update({k.lower(): str(v) for k, v in block.items()})
    return fields


def test_requiretls_to_a_webpki_only_host_bounces_5_7_30_with_a_dsn(
    start_server, dns_server, smtp_sink, sink_certs
):
    """E2: the host's certificate passes WebPKI and it offers REQUIRETLS, but neither DANE,
    a DNSSEC-secure MX lookup nor MTA-STS validated it: never connected to, bounced with
    5.7.30, and the DSN that reaches the sender says so."""
    sink = smtp_sink(cert=sink_certs.good, extensions=REQUIRETLS)
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    mid = rig.submit(["bob@example.net"], requiretls=True)
    [bounce] = rig.wait_events("bounce")
    assert bounce.fields["error_code"] == "550" and "5.7.30" in bounce.fields["raw_reason"]
    assert "MTA-STS" in bounce.fields["raw_reason"]
    assert bounce.fields["tls"]["policy_source"] == "requiretls"
    assert bounce.fields["tls"]["level_required"] == "verify"
    assert sink.sessions == [] and sink.messages == []
    assert rig.stored(mid).state == "done"
    fields = _status_fields(_dsn(rig))
    assert fields["status"] == "5.7.30" and fields["action"] == "failed"
    assert fields["final-recipient"] == "rfc822; bob@example.net"
    assert "5.7.30" in fields["diagnostic-code"]


def test_requiretls_to_a_dane_validated_host_offering_requiretls_delivers(
    start_server, dns_server, smtp_sink, tmp_path
):
    """The host's certificate fails WebPKI (self-signed, expired, wrong name) but matches
    its secure TLSA record (DANE-EE, step 5) and it offers REQUIRETLS: delivered with the
    REQUIRETLS parameter on MAIL, although the default level is not a DANE level."""
    cert = odd_certificate(tmp_path)
    sink = smtp_sink(cert=cert, extensions=REQUIRETLS)
    dns_server.add(TLSA_NAME, "TLSA", (3, 1, 1, tlsa_data(cert[0], 1, 1)))
    rig = dane_rig(start_server, dns_server, sink, delivery={"default_tls": "may"})
    rig.submit(["bob@example.net"], requiretls=True)
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["policy_source"] == "dane" and tls["verified"] is True
    assert tls["dane"]["matched"] == "3 1 1"
    [message] = sink.messages
    assert "REQUIRETLS" in message.mail_params and message.tls


def test_requiretls_to_an_sts_host_without_the_extension_bounces(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path
):
    """MTA-STS validates the host and its certificate is verified, but it does not offer
    REQUIRETLS (step 6): bounced with 5.7.30, nothing sent; the DSN says 5.7.30."""
    sink = smtp_sink(cert=sink_certs.good)
    _sts(dns_server, https_server)
    bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file)
    rig = start_rig(start_server, dns_server, sink, ca_file=bundle, https_port=https_server.port)
    rig.submit(["bob@example.net"], requiretls=True)
    [bounce] = rig.wait_events("bounce")
    assert "5.7.30" in bounce.fields["raw_reason"] and "not offered" in bounce.fields["raw_reason"]
    assert bounce.fields["tls"]["verified"] is True
    assert sink.messages == [] and len(sink.sessions) == 1
    assert _status_fields(_dsn(rig))["status"] == "5.7.30"


def test_requiretls_to_an_sts_host_offering_requiretls_delivers(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path
):
    """The control: MTA-STS-validated, verified, REQUIRETLS offered: delivered."""
    sink = smtp_sink(cert=sink_certs.good, extensions=REQUIRETLS)
    _sts(dns_server, https_server)
    bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file)
    rig = start_rig(start_server, dns_server, sink, ca_file=bundle, https_port=https_server.port)
    rig.submit(["bob@example.net"], requiretls=True)
    [event] = rig.wait_events("delivery")
    assert event.fields["tls"]["verified"] is True
    [message] = sink.messages
    assert "REQUIRETLS" in message.mail_params


def test_requiretls_via_a_dnssec_secure_mx_with_webpki_delivers(
    start_server, dns_server, smtp_sink, sink_certs
):
    """Step 2: a DNSSEC-validated MX lookup (trusted resolver) needs no MTA-STS; without TLSA
    records the host is checked by PKIX (step 5)."""
    sink = smtp_sink(cert=sink_certs.good, extensions=REQUIRETLS)
    rig = dane_rig(
        start_server, dns_server, sink, ca_file=sink_certs.ca_file, secure=("example.net", MX)
    )
    rig.submit(["bob@example.net"], requiretls=True)
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["policy_source"] == "requiretls" and tls["verified"] is True
    assert len(sink.messages) == 1


def test_tls_required_no_delivers_to_an_sts_enforce_host_with_a_bad_cert(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path
):
    """E3: ``TLS-Required: No`` ignores the MTA-STS enforce policy for that one message: it
    goes over the unverified TLS (STARTTLS is still used), and the event records it."""
    sink = smtp_sink(cert=sink_certs.untrusted)
    _sts(dns_server, https_server)
    bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file)
    rig = start_rig(start_server, dns_server, sink, ca_file=bundle, https_port=https_server.port)
    data = b"TLS-Required: No\r\n" + message_bytes("relaxed")
    rig.submit(["bob@example.net"], data=data)
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["tls_required"] is False and tls["level_required"] == "may"
    assert tls["policy_mode"] is None and tls["version"] and tls["verified"] is False
    [message] = sink.messages
    assert message.tls


def test_without_tls_required_no_the_same_host_defers(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path
):
    """The control for E3: the same message without the header is held by the policy."""
    sink = smtp_sink(cert=sink_certs.untrusted)
    _sts(dns_server, https_server)
    bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file)
    rig = start_rig(start_server, dns_server, sink, ca_file=bundle, https_port=https_server.port)
    rig.submit(["bob@example.net"], data=b"TLS-Required: Yes\r\n" + message_bytes("kept"))
    [event] = rig.wait_events("delay")
    assert event.fields["tls"]["tls_required"] is None
    assert sink.messages == []


def test_tls_required_no_ignores_a_tlsa_mismatch(start_server, dns_server, smtp_sink, sink_certs):
    """E3 for DANE: a secure TLSA record that does not match defers normally; with
    ``TLS-Required: No`` the message is delivered over the TLS it gets."""
    sink = smtp_sink(cert=sink_certs.good)
    dns_server.add(TLSA_NAME, "TLSA", (3, 1, 1, b"\x00" * 32))
    rig = dane_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    rig.submit(["bob@example.net"], data=b"tls-required:  no\r\n" + message_bytes("dane"))
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["tls_required"] is False and tls["dane"] is None
    assert len(sink.messages) == 1


def test_tls_required_no_is_ignored_on_a_requiretls_message(
    start_server, dns_server, smtp_sink, sink_certs
):
    """RFC 8689 section 3: with the REQUIRETLS parameter the header MUST be ignored: the
    WebPKI-only host still bounces the message with 5.7.30."""
    sink = smtp_sink(cert=sink_certs.good, extensions=REQUIRETLS)
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    data = b"TLS-Required: No\r\n" + message_bytes("both")
    rig.submit(["bob@example.net"], data=data, requiretls=True)
    [bounce] = rig.wait_events("bounce")
    assert "5.7.30" in bounce.fields["raw_reason"]
    assert bounce.fields["tls"]["tls_required"] is None
    assert sink.messages == []


MX2 = "mx2.example.test"


def test_requiretls_to_an_sts_host_with_a_bad_certificate_bounces_at_once(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path
):
    """RFC 8689 section 4.2.1 step 5: the only MX host (MTA-STS-validated) presents a
    certificate PKIX does not verify. No MX host is left, so the message MUST NOT be sent
    and MUST be returned: bounced at once (no retry), status 5.7.10 (the RFC's code for no
    authenticated TLS session), and the DSN that reaches the sender says so."""
    sink = smtp_sink(cert=sink_certs.untrusted, extensions=REQUIRETLS)
    _sts(dns_server, https_server)
    bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file)
    rig = start_rig(start_server, dns_server, sink, ca_file=bundle, https_port=https_server.port)
    mid = rig.submit(["bob@example.net"], requiretls=True)
    [bounce] = rig.wait_events("bounce")
    assert rig.events("delay") == []
    assert bounce.fields["error_code"] == "550" and "5.7.10" in bounce.fields["raw_reason"]
    assert "REQUIRETLS" in bounce.fields["raw_reason"]
    assert bounce.fields["tls"]["verified"] is False
    assert sink.messages == []
    assert rig.stored(mid).state == "done"
    fields = _status_fields(_dsn(rig))
    assert fields["status"] == "5.7.10" and fields["action"] == "failed"
    assert "REQUIRETLS" in fields["diagnostic-code"]


def test_requiretls_to_a_dane_host_whose_tlsa_does_not_match_bounces(
    start_server, dns_server, smtp_sink, sink_certs
):
    """Step 5 by DANE: the host has secure TLSA records that its certificate does not match
    (WebPKI would pass): bounced 5.7.10 at once, with the DSN, never sent."""
    sink = smtp_sink(cert=sink_certs.good, extensions=REQUIRETLS)
    dns_server.add(TLSA_NAME, "TLSA", (3, 1, 1, b"\x00" * 32))
    rig = dane_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    rig.submit(["bob@example.net"], requiretls=True)
    [bounce] = rig.wait_events("bounce")
    assert "5.7.10" in bounce.fields["raw_reason"]
    assert bounce.fields["tlsrpt_failures"] == ["tlsa-invalid"]
    assert sink.messages == []
    assert _status_fields(_dsn(rig))["status"] == "5.7.10"


def _two_mx(dns_server) -> None:
    """A second MX host, secure, at an address nothing listens on (connection refused)."""
    dns_server.add("example.net", "MX", (20, MX2))
    dns_server.add(MX2, "A", "127.0.0.2")


def test_requiretls_without_the_extension_tries_the_next_mx_host(
    start_server, dns_server, smtp_sink, sink_certs
):
    """Step 6: the first MX host is verified but does not offer REQUIRETLS: the client moves
    on to the next MX host (not a bounce at the first one); that one cannot be reached, a
    failure a retry may change, so the message is deferred, never sent in the clear."""
    sink = smtp_sink(cert=sink_certs.good)
    _two_mx(dns_server)
    secure = ("example.net", MX, MX2)
    rig = dane_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file, secure=secure)
    rig.submit(["bob@example.net"], requiretls=True)
    delay = rig.wait_events("delay")[0]  # retries may add more
    assert rig.events("bounce") == []
    assert "127.0.0.2" in delay.fields["raw_reason"]
    assert sink.messages == [] and len(sink.sessions) >= 1


def test_requiretls_tls_failure_with_an_unreachable_second_mx_defers(
    start_server, dns_server, smtp_sink, sink_certs
):
    """Section 4.2.1: a bounce only when every MX host failed a REQUIRETLS step. Here the
    first fails its certificate check, the second cannot be reached: deferred."""
    sink = smtp_sink(cert=sink_certs.untrusted, extensions=REQUIRETLS)
    _two_mx(dns_server)
    secure = ("example.net", MX, MX2)
    rig = dane_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file, secure=secure)
    rig.submit(["bob@example.net"], requiretls=True)
    rig.wait_events("delay")
    assert rig.events("bounce") == [] and sink.messages == []
