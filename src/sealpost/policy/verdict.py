"""Does a session meet its requirement? ``check`` judges a TlsRecord against a Requirement.

DESIGN.md section 4: ``none`` and ``may`` accept anything (RFC 7435: opportunistic TLS never
fails a delivery, and never claims more than it got); ``encrypt`` needs TLS; ``verify``
needs TLS whose certificate chain and MX host name were verified (RFC 8461 section 4.2 for
MTA-STS ``enforce``, RFC 8689 section 4.2.1 for REQUIRETLS). A report-only requirement
(MTA-STS ``testing``, RFC 8461 section 5) is always ok but names the failure it saw, for
TLS-RPT (RFC 8460 section 4.3 result types). A DANE-authenticated requirement (RFC 7672
section 2.2) needs TLS whose certificate matched one of the host's TLSA records (the session
sets ``verified`` only then); a mismatch is ``tlsa-invalid``, and nothing else (no WebPKI
check, no plaintext) stands in for it. A DANE level that no DANE step refined is
``dane-required``.

A session that knows why it fell short records it in ``TlsRecord.failure`` (an RFC 8460
``TlsFailure``); otherwise the failure is inferred from the record: no TLS after a failed
handshake (``Fallback.after_handshake``) is a validation failure, any other plaintext is
STARTTLS not supported.
"""

from __future__ import annotations

from sealpost.model.tls_record import TlsRecord
from sealpost.model.tlsrpt import TlsFailure
from sealpost.policy.levels import Requirement, TlsLevel, Verdict


def check(requirement: Requirement, tls: TlsRecord | None) -> Verdict:
    """The verdict on ``tls`` (None or a record without ``version``: no TLS was used)."""
    level = requirement.level
    if level in (TlsLevel.DANE, TlsLevel.DANE_ONLY):
        return _dane(requirement, tls)
    if requirement.report_only and level.rank < TlsLevel.VERIFY.rank:
        # MTA-STS testing (RFC 8461 section 5): judge as enforce would, but only report.
        level = TlsLevel.VERIFY
    if level in (TlsLevel.NONE, TlsLevel.MAY) and not requirement.report_only:
        return Verdict(True, None, _describe(tls))
    used = tls is not None and tls.version is not None
    if level.rank <= TlsLevel.MAY.rank:
        failure = None
    elif not used:
        failure = (tls.failure if tls else None) or _no_tls_failure(tls)
    elif level.rank >= TlsLevel.VERIFY.rank and tls is not None and tls.verified is not True:
        failure = tls.failure or TlsFailure.VALIDATION_FAILURE
    else:
        failure = None
    if failure is None:
        return Verdict(True, None, _describe(tls))
    detail = f"{level.value} required, {_describe(tls)}: {failure.value}"
    if requirement.report_only:
        return Verdict(True, failure, f"report only: {detail}")
    return Verdict(False, failure, detail)


def _dane(requirement: Requirement, tls: TlsRecord | None) -> Verdict:
    if not requirement.dane_authenticated:
        failure = TlsFailure.DANE_REQUIRED
    elif tls is None or tls.version is None:
        failure = (tls.failure if tls else None) or _no_tls_failure(tls)
    elif tls.verified is not True:
        failure = tls.failure or TlsFailure.TLSA_INVALID
    else:
        return Verdict(True, None, _describe(tls))
    detail = f"{requirement.level.value} required, {_describe(tls)}: {failure.value}"
    return Verdict(False, failure, detail)


def _no_tls_failure(tls: TlsRecord | None) -> TlsFailure:
    """No TLS and no recorded reason: a fallback after a handshake names a handshake that
    did not complete; anything else is STARTTLS not offered or refused."""
    if tls is not None and tls.offered and tls.fallback and tls.fallback.after_handshake:
        return TlsFailure.VALIDATION_FAILURE
    return TlsFailure.STARTTLS_NOT_SUPPORTED


def _describe(tls: TlsRecord | None) -> str:
    if tls is None or tls.version is None:
        if tls is not None and tls.fallback_text:
            return tls.fallback_text
        offered = tls is not None and tls.offered
        return "plaintext (STARTTLS offered)" if offered else "plaintext"
    state = "verified" if tls.verified else "unverified"
    error = f" ({tls.verify_error})" if tls.verify_error and not tls.verified else ""
    return f"{tls.version} {state}{error}"
