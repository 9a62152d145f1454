"""The failure names of SMTP TLS Reporting (RFC 8460 section 4.3), as values.

Every layer that can see a TLS failure names it with these: ``net`` maps OpenSSL's verify
errors to them, ``policy`` judges sessions and MTA-STS discovery with them, ``delivery``
carries them on each attempt's events (``tlsrpt_failures``) for the reports. They live in
``model`` because all of those use them and none of them owns them.
"""

from __future__ import annotations

from enum import StrEnum


class TlsFailure(StrEnum):
    """RFC 8460 section 4.3 result types, kept per failure for TLS reporting."""

    STARTTLS_NOT_SUPPORTED = "starttls-not-supported"
    CERTIFICATE_HOST_MISMATCH = "certificate-host-mismatch"
    CERTIFICATE_EXPIRED = "certificate-expired"
    CERTIFICATE_NOT_TRUSTED = "certificate-not-trusted"
    VALIDATION_FAILURE = "validation-failure"
    TLSA_INVALID = "tlsa-invalid"
    DNSSEC_INVALID = "dnssec-invalid"
    DANE_REQUIRED = "dane-required"
    STS_POLICY_FETCH_ERROR = "sts-policy-fetch-error"
    STS_POLICY_INVALID = "sts-policy-invalid"
    STS_WEBPKI_INVALID = "sts-webpki-invalid"
