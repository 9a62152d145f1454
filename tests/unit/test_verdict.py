"""The verdict table: each requirement level against what a session achieved (DESIGN.md
section 4; RFC 7435, RFC 8461 sections 4.2 and 5, RFC 8460 result types)."""

from __future__ import annotations

import pytest

from sealpost.dns.resolver import TlsaRecord
from sealpost.model.tls_record import Fallback, TlsRecord
from sealpost.model.tlsrpt import TlsFailure
from sealpost.policy.levels import PolicySource, Requirement, TlsLevel
from sealpost.policy.verdict import check

NOT_OFFERED = TlsRecord(offered=False)
REFUSED = TlsRecord(offered=True, fallback=Fallback.STARTTLS_REFUSED, starttls_reply_code=454)
HANDSHAKE_FAILED = TlsRecord(offered=True, fallback=Fallback.HANDSHAKE_FAILED)
REMEMBERED = TlsRecord(offered=True, fallback=Fallback.HANDSHAKE_FAILED_RECENTLY)
VERIFIED = TlsRecord(version="TLSv1.3", offered=True, verified=True)
UNVERIFIED = TlsRecord(version="TLSv1.3", offered=True, verified=False, verify_error="expired")
EXPIRED = TlsRecord(
    version="TLSv1.2",
    offered=True,
    verified=False,
    verify_error="certificate has expired",
    failure=TlsFailure.CERTIFICATE_EXPIRED,
)
STRIPPED = TlsRecord(offered=False, failure=TlsFailure.STARTTLS_NOT_SUPPORTED)

NONE = Requirement(TlsLevel.NONE, PolicySource.OPERATOR)
MAY = Requirement()
ENCRYPT = Requirement(TlsLevel.ENCRYPT, PolicySource.OPERATOR)
VERIFY = Requirement(TlsLevel.VERIFY, PolicySource.OPERATOR)
STS_ENFORCE = Requirement(TlsLevel.VERIFY, PolicySource.MTA_STS, "enforce")
STS_TESTING = Requirement(TlsLevel.VERIFY, PolicySource.MTA_STS, "testing", report_only=True)
REQUIRETLS = Requirement(TlsLevel.VERIFY, PolicySource.REQUIRETLS)
DANE_ONLY = Requirement(TlsLevel.DANE_ONLY, PolicySource.OPERATOR)  # no DANE step ran
DANE_EE = Requirement(TlsLevel.DANE, PolicySource.DANE, tlsa=(TlsaRecord(3, 1, 1, b"k" * 32),))

ST = TlsFailure.STARTTLS_NOT_SUPPORTED
VF = TlsFailure.VALIDATION_FAILURE
EX = TlsFailure.CERTIFICATE_EXPIRED

TABLE = [
    # requirement, record, ok, failure
    (NONE, None, True, None),
    (NONE, VERIFIED, True, None),
    (MAY, None, True, None),
    (MAY, NOT_OFFERED, True, None),
    (MAY, HANDSHAKE_FAILED, True, None),
    (MAY, UNVERIFIED, True, None),
    (MAY, EXPIRED, True, None),
    (ENCRYPT, None, False, ST),
    (ENCRYPT, NOT_OFFERED, False, ST),
    (ENCRYPT, REFUSED, False, ST),
    (ENCRYPT, HANDSHAKE_FAILED, False, VF),
    (ENCRYPT, REMEMBERED, False, VF),
    (ENCRYPT, STRIPPED, False, ST),
    (ENCRYPT, UNVERIFIED, True, None),
    (ENCRYPT, EXPIRED, True, None),
    (ENCRYPT, VERIFIED, True, None),
    (VERIFY, NOT_OFFERED, False, ST),
    (VERIFY, HANDSHAKE_FAILED, False, VF),
    (VERIFY, UNVERIFIED, False, VF),
    (VERIFY, EXPIRED, False, EX),
    (VERIFY, VERIFIED, True, None),
    (STS_ENFORCE, EXPIRED, False, EX),
    (STS_ENFORCE, STRIPPED, False, ST),
    (STS_ENFORCE, VERIFIED, True, None),
    (STS_TESTING, EXPIRED, True, EX),
    (STS_TESTING, NOT_OFFERED, True, ST),
    (STS_TESTING, VERIFIED, True, None),
    (REQUIRETLS, UNVERIFIED, False, VF),
    (REQUIRETLS, VERIFIED, True, None),
    (DANE_ONLY, VERIFIED, False, TlsFailure.DANE_REQUIRED),  # WebPKI never stands in
    (DANE_EE, UNVERIFIED, False, TlsFailure.TLSA_INVALID),
    (DANE_EE, EXPIRED, False, TlsFailure.CERTIFICATE_EXPIRED),
    (DANE_EE, None, False, ST),
    (DANE_EE, REFUSED, False, ST),
    (DANE_EE, HANDSHAKE_FAILED, False, VF),
    (DANE_EE, VERIFIED, True, None),
]


@pytest.mark.parametrize("requirement, record, ok, failure", TABLE)
def test_verdict_table(requirement, record, ok, failure):
    verdict = check(requirement, record)
    assert (verdict.ok, verdict.failure) == (ok, failure)
    assert verdict.detail


def test_report_only_says_so():
    verdict = check(STS_TESTING, EXPIRED)
    assert verdict.detail.startswith("report only")
    assert "certificate-expired" in verdict.detail


def test_unverified_is_never_described_as_verified():
    assert "unverified" in check(MAY, UNVERIFIED).detail
    assert "unverified" not in check(MAY, VERIFIED).detail


def test_unknown_recorded_failure_is_a_validation_failure():
    # A failure name can only be unknown where it is still text: a record read back.
    record = TlsRecord.from_dict({"version": "TLSv1.3", "verified": False, "failure": "bogus"})
    assert check(VERIFY, record).failure is VF


def test_a_fallback_is_described_in_the_words_events_show():
    assert check(ENCRYPT, REFUSED).detail == (
        "encrypt required, plaintext: STARTTLS refused (454): starttls-not-supported"
    )
    assert check(MAY, HANDSHAKE_FAILED).detail == "plaintext after TLS handshake failure"
    assert check(MAY, REMEMBERED).detail == "plaintext: TLS handshake failed recently"
