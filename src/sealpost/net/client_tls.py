"""Client-side TLS for outbound SMTP: SSLContexts, verify-error names, the session record.

Profile: TLS 1.2 minimum (RFC 8996 section 5; checklist B6: never SSLv3), no compression
(CRIME). ``verifying`` checks the WebPKI chain against the system CAs plus an optional extra
CA file, and the peer name (RFC 6125 via OpenSSL's host check; RFC 8461 section 4.2 and
RFC 3207 section 4.1 name the MX host); SNI is sent by the caller (``server_hostname``).
``unverified`` encrypts without checking anything: RFC 7435 section 6 requires that such a
session is never reported as verified, so the record says ``verified=False``.

``classify_verify_error`` maps OpenSSL X509_V_ERR codes to RFC 8460 section 4.3 result
types: expired, host mismatch, not trusted (self-signed or unknown issuer), else
validation-failure.
"""

from __future__ import annotations

import dataclasses
import ssl
from functools import lru_cache
from pathlib import Path

from sealpost.model.tls_record import TlsRecord
from sealpost.model.tlsrpt import TlsFailure
from sealpost.net.tls import SslEndpoint, tls_record_from_ssl
from sealpost.net.tls_reads import ScratchSSLObject

# OpenSSL include/openssl/x509_vfy.h
_EXPIRED = {10}  # X509_V_ERR_CERT_HAS_EXPIRED
_HOST_MISMATCH = {62, 63, 64}  # HOSTNAME, EMAIL, IP_ADDRESS mismatch
_NOT_TRUSTED = {
    2,  # UNABLE_TO_GET_ISSUER_CERT
    18,  # DEPTH_ZERO_SELF_SIGNED_CERT
    19,  # SELF_SIGNED_CERT_IN_CHAIN
    20,  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21,  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    27,  # CERT_UNTRUSTED
    28,  # CERT_REJECTED
}


def _base(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.sslobject_class = ScratchSSLObject  # no 256 KiB allocation per read (tls_reads)
    return ctx


def verifying(ca_file: Path | None = None) -> ssl.SSLContext:
    """A context that verifies the chain (system CAs + ``ca_file``) and the host name."""
    if ca_file is None:
        return _verifying(None, 0)
    return _verifying(str(ca_file), Path(ca_file).stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _verifying(ca_file: str | None, _mtime: int) -> ssl.SSLContext:
    ctx = _base(ssl.create_default_context(ssl.Purpose.SERVER_AUTH))
    if ca_file is not None:
        ctx.load_verify_locations(cafile=ca_file)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


@lru_cache(maxsize=1)
def unverified() -> ssl.SSLContext:
    """A context that encrypts and checks nothing (opportunistic TLS, RFC 7435)."""
    ctx = _base(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def classify_verify_error(exc: BaseException) -> TlsFailure:
    """The RFC 8460 result type for a failed certificate verification."""
    code = getattr(exc, "verify_code", None)
    if code in _EXPIRED:
        return TlsFailure.CERTIFICATE_EXPIRED
    if code in _HOST_MISMATCH:
        return TlsFailure.CERTIFICATE_HOST_MISMATCH
    if code in _NOT_TRUSTED:
        return TlsFailure.CERTIFICATE_NOT_TRUSTED
    return TlsFailure.VALIDATION_FAILURE


def verify_message(exc: BaseException) -> str:
    """A short text for ``TlsRecord.verify_error``: OpenSSL's verify message if any."""
    message = getattr(exc, "verify_message", None)
    return str(message) if message else (str(exc) or type(exc).__name__)


def client_tls_record(
    ssl_object: SslEndpoint | None,
    peer_name: str | None,
    verified: bool,
    verify_error: str | None,
) -> TlsRecord:
    """What this outbound TLS session proved: version, cipher, bits, the SNI sent, the
    peer certificate (subject, SHA-256, notAfter), and whether it was verified."""
    sni = getattr(ssl_object, "server_hostname", None) if ssl_object is not None else None
    record = tls_record_from_ssl(ssl_object, sni)
    return dataclasses.replace(
        record,
        peer_name=peer_name,
        verified=bool(verified) and ssl_object is not None,
        verify_error=None if verified else verify_error,
    )
