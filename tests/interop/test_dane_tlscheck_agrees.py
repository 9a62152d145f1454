"""tls-check gives the verdict delivery acts on (issue 14), through the real DNSSEC chain.

The zones of ``test_dane_dnssec_chain`` (dnspython-signed, NSD, unbound validating): for
each domain, the server delivers one message through unbound to a real SMTP sink, and
tls-check checks the same domain through the same resolver at the sink's port. What
delivery did (delivered with DANE, delivered without, deferred ``tlsa-invalid`` or
``dnssec-invalid``) must be what tls-check's DANE status says it would do, with the same
TLSA base domain (SNI): DANE-EE and DANE-TA (the MX host's name, the next-hop domain's),
mismatch, bogus, unsigned, and the five CNAME cases of RFC 7672 section 2.2.2.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from sealpost.dns.dnspython_resolver import DnspythonResolver
from sealpost.tlscheck.check import CheckOptions, run_check
from sealpost.tlscheck.report import DaneStatus, Grade, HostReport
from tests.interop.test_dane_dnssec_chain import (  # noqa: F401 (fixtures)
    chain_rig,
    dnssec_chain,
    nexthop_cert,
    sink_cert,
    ta_cert,
)

pytestmark = pytest.mark.interop

EE_DOMAINS = [
    "good.dane.example",
    "bad.dane.example",
    "bogus.dane.example",
    "plain.example",
    "cn1.dane.example",
    "cn2.dane.example",
    "cn3.dane.example",
    "cn4.dane.example",
    "cn5.dane.example",
]
ACTION = {
    DaneStatus.MATCH: "delivered with DANE",
    DaneStatus.NONE: "delivered without DANE",
    DaneStatus.INSECURE: "delivered without DANE",
    DaneStatus.NO_MATCH: "deferred tlsa-invalid",
    DaneStatus.ERROR: "deferred dnssec-invalid",
}


def delivery_action(event) -> str:
    tls = event.fields.get("tls") or {}
    if event.type == "delivery":
        matched = (tls.get("dane") or {}).get("matched")
        return "delivered with DANE" if matched else "delivered without DANE"
    return f"deferred {','.join(event.fields.get('tlsrpt_failures') or [])}"


def first_outcome(rig, message_id: str):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = rig.events("delivery", "delay", "bounce", message_id=message_id)
        if found:
            return found[0]  # the first outcome (events come oldest first)
        time.sleep(0.05)
    raise AssertionError(f"no outcome for {message_id}")


def check(chain, domain: str, port: int) -> HostReport:
    resolver = DnspythonResolver([chain.resolver], timeout=3, lifetime=3)
    options = CheckOptions(port=port, timeout=3, helo="client.test", dnssec=True)
    report = asyncio.run(run_check(domain, resolver, options))
    [host] = report.hosts
    return host


@pytest.mark.parametrize(
    "cert_fixture, domains",
    [
        ("sink_cert", EE_DOMAINS),
        ("ta_cert", ["ta.dane.example"]),
        ("nexthop_cert", ["tanh.dane.example"]),
    ],
    ids=["dane-ee", "dane-ta-mx-name", "dane-ta-next-hop"],
)
def test_tlscheck_says_what_delivery_does(
    request,
    start_server,
    smtp_sink,
    cert_fixture,
    domains,
):
    chain = request.getfixturevalue("dnssec_chain")
    cert = request.getfixturevalue(cert_fixture)
    sink = smtp_sink(cert=cert if cert_fixture == "sink_cert" else cert[0])
    rig = chain_rig(start_server, chain, sink.port)
    sent = {domain: rig.submit([f"bob@{domain}"]) for domain in domains}
    did = {domain: delivery_action(first_outcome(rig, mid)) for domain, mid in sent.items()}
    said: dict[str, str] = {}
    for domain in domains:
        host = check(chain, domain, sink.port)
        said[domain] = ACTION.get(host.dane, host.dane.value)
        if host.dane is DaneStatus.MATCH:
            assert host.verdict is not None and host.verdict.grade is Grade.SECURE
            sni = {m.recipients[0].split("@")[1]: m.sni for m in sink.messages}.get(domain)
            assert sni == host.tlsa_base, domain
        if host.dane in (DaneStatus.NO_MATCH, DaneStatus.ERROR):
            assert host.verdict is not None and host.verdict.grade is Grade.FAILS, domain
    assert said == did
