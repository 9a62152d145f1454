"""The start-up check of ``[dns] dnssec = true`` against the dnslib server (issue 14).

The dnslib server is not a validating resolver: it sets AD only on the names a test lists
and answers SERVFAIL only where told, so each way of failing the check can be staged. The
real chain (unbound) passing it is in ``tests/interop/test_dane_dnssec_chain.py``.
"""

from __future__ import annotations

import logging
import re

import pytest

from tests.integration.test_delivery_dane import probes


def dnssec_tables(dns_server, **dns: object) -> dict:
    return {
        "dns": {"nameservers": [dns_server.nameserver], "timeout": 1, "dnssec": True, **dns},
        "delivery": {"enabled": True},
    }


def test_resolver_without_ad_refuses_to_start(start_server, dns_server):
    """No AD on the signed probe (the dnslib server does not validate): start is refused,
    and the error says which probe failed and what to do."""
    dns_server.add("signed.probe.test", "A", "127.0.0.1")
    dns_server.servfail.add("bogus.probe.test")
    tables = dnssec_tables(
        dns_server,
        dnssec_probe_secure="signed.probe.test A",
        dnssec_probe_bogus="bogus.probe.test A",
    )
    with pytest.raises(RuntimeError) as failed:
        start_server(tables=tables)
    text = str(failed.value)
    assert "DnssecNotValidating" in text
    assert "signed.probe.test A without the AD bit" in text
    assert "bogus.probe.test" not in text  # that probe passed
    assert 'dnssec_check = \\\\"warn\\\\"' in text or "dnssec_check" in text


def test_resolver_answering_the_bogus_name_refuses_to_start(start_server, dns_server):
    """AD on the signed probe, but the bogus name is answered (no SERVFAIL): refused."""
    tables = dnssec_tables(dns_server, **probes(dns_server))
    dns_server.servfail.clear()
    dns_server.add("bogus.probe.test", "A", "127.0.0.2")
    with pytest.raises(RuntimeError, match=re.escape("bogus name bogus.probe.test A (AD=not set)")):
        start_server(tables=tables)


def test_default_probes_with_the_dnslib_server_refuse(start_server, dns_server):
    """The default probes (the root's SOA, dnssec-failed.org) against a non-validating
    server: both fail and both are named."""
    with pytest.raises(RuntimeError) as failed:
        start_server(tables=dnssec_tables(dns_server))
    text = str(failed.value)
    assert ". SOA" in text and "dnssec-failed.org. A" in text


def test_warn_starts_and_logs_what_failed(start_server, dns_server, caplog):
    """``dnssec_check = "warn"``: the server starts, the warning says what failed."""
    tables = dnssec_tables(dns_server, dnssec_check="warn", **probes(dns_server))
    dns_server.authenticated_data.clear()
    with caplog.at_level(logging.WARNING, logger="sealpost"):
        server = start_server(tables=tables)
    assert server.app is not None and server.app.dispatcher is not None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("without the AD bit" in w and "Starting anyway" in w for w in warnings)


def test_passing_probes_start(start_server, dns_server):
    """Probes that pass (AD on the signed one, SERVFAIL on the bogus one) start the server."""
    server = start_server(tables=dnssec_tables(dns_server, **probes(dns_server)))
    assert server.app is not None
    asked = {q.name for q in dns_server.queries}
    assert {"signed.probe.test", "bogus.probe.test"} <= asked


def test_dnssec_false_skips_the_check(start_server, dns_server):
    """With ``dnssec = false`` nothing is asked at start: the AD bit is not used."""
    tables = dnssec_tables(dns_server)
    tables["dns"]["dnssec"] = False
    start_server(tables=tables)
    assert dns_server.queries == []
