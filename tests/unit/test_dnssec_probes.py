"""The start-up DNSSEC check's parts without a resolver: probe syntax, the [dns] options,
and which answers count as validating (``dns/validation_check.py``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sealpost.config import ConfigError, load_config
from sealpost.dns.resolver import DnsError, DnsErrorKind
from sealpost.dns.validation_check import Probe, check_validation, refusal


def test_probe_parse_default_type_and_explicit_type():
    assert Probe.parse(".", "SOA") == Probe(".", "SOA")
    assert Probe.parse("dnssec-failed.org. a", "SOA") == Probe("dnssec-failed.org.", "A")
    for bad in ("", "a b c", "x.test A-B"):
        with pytest.raises(ValueError):
            Probe.parse(bad, "SOA")


def test_dns_options_defaults_and_a_bad_probe(tmp_path: Path):
    (tmp_path / "certs").mkdir()
    head = '[server]\nhostname = "mx.example.test"\n[dns]\n'
    (tmp_path / "sealpost.toml").write_text(head)
    dns = load_config(tmp_path / "sealpost.toml").dns
    assert (dns.dnssec_check, dns.dnssec_probe_secure) == ("refuse", ". SOA")
    assert dns.dnssec_probe_bogus == "dnssec-failed.org. A"
    (tmp_path / "sealpost.toml").write_text(head + 'dnssec_probe_bogus = "a b c"\n')
    with pytest.raises(ConfigError, match="dnssec_probe_bogus"):
        load_config(tmp_path / "sealpost.toml")


class Answers:
    """A resolver whose answers are given: True/False is AD; a DnsErrorKind is raised."""

    def __init__(self, **answers: bool | DnsErrorKind) -> None:
        self.answers = answers

    async def validated(self, name: str, rdtype: str) -> bool:
        value = self.answers[name]
        if isinstance(value, DnsErrorKind):
            raise DnsError(value, name, rdtype)
        return value


SECURE, BOGUS = Probe("signed", "SOA"), Probe("bogus", "A")


@pytest.mark.parametrize(
    "answers, problems",
    [
        ({"signed": True, "bogus": DnsErrorKind.SERVFAIL}, []),
        ({"signed": False, "bogus": DnsErrorKind.SERVFAIL}, ["without the AD bit"]),
        ({"signed": DnsErrorKind.TIMEOUT, "bogus": DnsErrorKind.SERVFAIL}, ["did not answer"]),
        ({"signed": True, "bogus": True}, ["(AD=set) instead of failing"]),
        ({"signed": True, "bogus": DnsErrorKind.NXDOMAIN}, ["with nxdomain, not SERVFAIL"]),
        ({"signed": True, "bogus": DnsErrorKind.TIMEOUT}, ["bogus name bogus A in time"]),
        ({"signed": False, "bogus": False}, ["without the AD bit", "(AD=not set)"]),
    ],
)
def test_which_answers_pass(answers, problems):
    found = asyncio.run(check_validation(Answers(**answers), SECURE, BOGUS, "ns"))
    assert len(found) == len(problems)
    for sentence, expected in zip(found, problems, strict=True):
        assert expected in sentence and sentence.startswith("ns ")
    if found:
        assert "unbound on loopback" in refusal(found)
