"""RFC 8689 section 4.2.1 step 2, REQUIRETLS's per-MX step: every way a host can qualify
(DANE, a DNSSEC-secure MX lookup from a trusted resolver, an MTA-STS policy naming it) and
the cases that take it out for good."""

from __future__ import annotations

import asyncio

import pytest

from sealpost.dns.resolver import TlsaRecord
from sealpost.policy.levels import PolicySource, Requirement, TlsLevel
from sealpost.policy.mta_sts import StsMode, StsPolicy
from sealpost.policy.mx_policy import MxRequirement
from sealpost.policy.requiretls_mx import RequireTlsMx

HOST = "mx.example.net"
VERIFY = Requirement(TlsLevel.VERIFY, PolicySource.REQUIRETLS)
DANE = Requirement(TlsLevel.DANE, PolicySource.DANE, tlsa=(TlsaRecord(3, 1, 1, b"x" * 32),))


def _run(gate: RequireTlsMx, mx: MxRequirement) -> MxRequirement:
    return asyncio.run(gate.refine(mx))


@pytest.mark.parametrize(
    ("gate", "mx"),
    [
        (RequireTlsMx(None, False), MxRequirement(HOST, DANE)),  # DANE-authenticated
        (RequireTlsMx(None, True), MxRequirement(HOST, VERIFY, secure=True)),  # secure MX
        (
            RequireTlsMx(StsPolicy(StsMode.ENFORCE, 86400, ("*.example.net",)), False),
            MxRequirement(HOST, VERIFY),
        ),
        (
            RequireTlsMx(StsPolicy(StsMode.TESTING, 86400, (HOST,)), False),
            MxRequirement(HOST, VERIFY),
        ),
    ],
)
def test_a_validated_host_stays(gate: RequireTlsMx, mx: MxRequirement) -> None:
    assert _run(gate, mx) == mx


@pytest.mark.parametrize(
    ("gate", "mx"),
    [
        (RequireTlsMx(None, False), MxRequirement(HOST, VERIFY)),  # WebPKI only
        (RequireTlsMx(None, False), MxRequirement(HOST, VERIFY, secure=True)),  # AD untrusted
        (RequireTlsMx(None, True), MxRequirement(HOST, VERIFY, secure=False)),
        (
            RequireTlsMx(StsPolicy(StsMode.ENFORCE, 86400, ("*.elsewhere.test",)), False),
            MxRequirement(HOST, VERIFY),
        ),
        (RequireTlsMx(StsPolicy(StsMode.NONE, 86400, (HOST,)), False), MxRequirement(HOST, VERIFY)),
    ],
)
def test_an_unvalidated_host_is_out_for_good(gate: RequireTlsMx, mx: MxRequirement) -> None:
    out = _run(gate, mx)
    assert not out.allowed and out.permanent and "REQUIRETLS" in out.reason
    assert out.failures == ()  # the sender's requirement: nothing for TLS-RPT


def test_a_host_already_out_keeps_its_reason() -> None:
    mx = MxRequirement(HOST, VERIFY, allowed=False, reason="TLSA lookup failed")
    assert _run(RequireTlsMx(None, False), mx) == mx
