"""The certificate chain a TLS peer sent, as DER, for DANE-TA (RFC 7672 section 3.1.2).

DANE-TA needs every certificate of the server's Certificate message, not only the leaf that
``getpeercert(binary_form=True)`` gives. The standard library has it as
``SSLObject.get_unverified_chain()`` from Python 3.13; on 3.10-3.12 the same OpenSSL call
(``SSL_get_peer_cert_chain``) exists only on the private ``_ssl`` object behind an
``SSLObject``/``SSLSocket`` (``._sslobj.get_unverified_chain()``). Both loops Sealpost runs
on (asyncio and uvloop) hand out a plain ``ssl.SSLObject``, so this one function is the only
place that reaches for the private method, and ``CHAIN_AVAILABLE`` says whether either way
exists here. Measured on Python 3.11 with a two-certificate chain: about 2-4 microseconds a
call, on asyncio and uvloop alike.
"""

from __future__ import annotations

import _ssl
import ssl
from typing import Protocol

from sealpost.net.tls import SslEndpoint

_ENCODING_DER: int = getattr(_ssl, "ENCODING_DER", 2)  # not in every stub of ``_ssl``


class _ChainCertificate(Protocol):
    """One certificate of ``get_unverified_chain()`` (``_ssl.Certificate``)."""

    def public_bytes(self, format: int = ..., /) -> bytes | str: ...


CHAIN_AVAILABLE = hasattr(ssl.SSLObject, "get_unverified_chain") or hasattr(
    _ssl._SSLSocket, "get_unverified_chain"
)


def peer_chain(ssl_object: SslEndpoint | None) -> tuple[bytes, ...]:
    """The peer's certificates in the order it sent them, leaf first (DER); ``()`` when
    there is no TLS session or no certificate; just the leaf when the chain is unreadable."""
    if ssl_object is None:
        return ()
    getter = getattr(ssl_object, "get_unverified_chain", None)  # Python 3.13+
    if getter is None:
        getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        chain = getter() or []
        return tuple(_der(cert) for cert in chain)
    leaf = ssl_object.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()


def _der(cert: bytes | _ChainCertificate) -> bytes:
    if isinstance(cert, bytes):
        return cert
    der = cert.public_bytes(_ENCODING_DER)
    return der if isinstance(der, bytes) else der.encode("ascii")
