"""Server-side TLS: the SSLContext profile, SNI certificate sets with live reload, TlsRecords.

Profile (security checklist J1, J2, J5): Mozilla "intermediate" v5. TLS 1.2 and 1.3 only
(RFC 8996 section 5: TLS 1.0 and 1.1 MUST NOT be used; RFC 8997 applies this to mail). TLS 1.2
suites are ECDHE with AES-GCM or ChaCha20-Poly1305 only (forward secrecy, AEAD; no DHE, so no
DH parameters); key-exchange groups X25519, P-256 and P-384 where Python can set them
(``restrict_groups``), OpenSSL's strong defaults otherwise; no compression (CRIME), no
renegotiation, no server cipher preference; session tickets on for resumption. Port 25 uses the
same profile (checklist J3): a sender that cannot do TLS 1.2 falls back to plaintext
(RFC 7435), which is what it would get from a server without STARTTLS anyway.

Listeners keep ONE ``SSLContext`` for life (asyncio takes it when the server is created), so
``CertificateSet.context`` never changes: its ``sni_callback`` points every new handshake at the
CURRENT generation's context for the requested name. A reload builds a new generation and swaps
it in; a certificate that fails to load is logged and the old generation kept.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import ssl
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from sealpost.model.tls_record import TlsRecord
from sealpost.net.tls_reads import ScratchSSLObject

log = logging.getLogger(__name__)

TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
)
GROUPS = ("X25519", "P-256", "P-384")

SslEndpoint = ssl.SSLObject | ssl.SSLSocket


class TlsConfigError(Exception):
    """A certificate or key file cannot be used; ``path`` names the file at fault."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def server_context(cert_file: Path | str, key_file: Path | str) -> ssl.SSLContext:
    """A server SSLContext with the profile above and this chain and key loaded."""
    cert_path, key_path = Path(cert_file), Path(key_file)
    _check_pair(cert_path, key_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_ciphers(":".join(TLS12_CIPHERS))
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_SINGLE_ECDH_USE
    ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.options &= ~ssl.OP_NO_TICKET
    # TLS 1.3 (RFC 8446 section 4.6.1): one session ticket, not OpenSSL's two. An SMTP client
    # holds one session to us at a time, and each ticket costs the handshake ~12% more CPU.
    ctx.num_tickets = 1
    ctx.verify_mode = ssl.CERT_NONE
    ctx.sslobject_class = ScratchSSLObject  # no 256 KiB allocation per drain (tls_reads)
    restrict_groups(ctx)
    try:
        ctx.load_cert_chain(cert_path, key_path, password=_no_password)
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(cert_path, f"OpenSSL refused it with {key_path}: {exc}") from None
    return ctx


def _no_password() -> bytes:
    raise ssl.SSLError("the private key is encrypted")


def _check_pair(cert_path: Path, key_path: Path) -> None:
    """Read both files with ``cryptography`` so each error names the file at fault."""
    try:
        chain = x509.load_pem_x509_certificates(cert_path.read_bytes())
    except OSError as exc:
        raise TlsConfigError(cert_path, f"cannot read certificate file: {exc.strerror}") from None
    except ValueError:
        raise TlsConfigError(cert_path, "no PEM certificate found") from None
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as exc:
        raise TlsConfigError(key_path, f"cannot read key file: {exc.strerror}") from None
    except TypeError:
        raise TlsConfigError(
            key_path, "the private key is encrypted; use an unencrypted key"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsConfigError(key_path, "no PEM private key found") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if chain[0].public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise TlsConfigError(
            key_path, f"does not match the first certificate in {cert_path} (leaf must be first)"
        )
    now = dt.datetime.now(dt.UTC)
    if chain[0].not_valid_after_utc < now:
        log.warning("certificate %s expired on %s", cert_path, chain[0].not_valid_after_utc)
    elif chain[0].not_valid_before_utc > now:
        log.warning(
            "certificate %s is not valid before %s", cert_path, chain[0].not_valid_before_utc
        )


def restrict_groups(ctx: ssl.SSLContext, groups: Iterable[str] = GROUPS) -> bool:
    """Limit key-exchange groups where Python supports it; False where it does not.

    ``SSLContext.set_groups`` arrived in Python 3.15. Before it there is no supported way
    to set a group list from Python (an earlier version reached into the ``SSL_CTX`` through
    ctypes; that is gone), so OpenSSL's defaults apply: X25519, P-256, X448, P-521, P-384 and,
    in TLS 1.3, the RFC 7919 finite-field groups, every one at least 112-bit strong. An
    operator who wants the strict list sets it for the whole host, where OpenSSL reads it:
    ``Groups = X25519:P-256:P-384`` in the system default section of openssl.cnf.
    """
    set_groups = getattr(ctx, "set_groups", None)
    if set_groups is None:
        return False
    set_groups(":".join(groups))
    return True


@dataclass(frozen=True, slots=True)
class _Generation:
    """One loaded set of contexts, and the file contents they were built from."""

    default: ssl.SSLContext
    exact: dict[str, ssl.SSLContext] = field(default_factory=dict)
    wildcard: dict[str, ssl.SSLContext] = field(default_factory=dict)  # "example.com" -> ctx

    def select(self, name: str | None) -> ssl.SSLContext:
        if name is None:
            return self.default
        found = self.exact.get(name)
        if found is None and "." in name:
            found = self.wildcard.get(name.split(".", 1)[1])
        return found or self.default


class CertificateSet:
    """The default certificate plus SNI certificates, reloadable without new listeners."""

    def __init__(
        self,
        cert_file: Path | str,
        key_file: Path | str,
        sni: Iterable[tuple[str, Path | str, Path | str]] = (),
    ) -> None:
        self._default = (Path(cert_file), Path(key_file))
        self._sni = [(name.rstrip(".").lower(), Path(c), Path(k)) for name, c, k in sni]
        self._names: weakref.WeakKeyDictionary[SslEndpoint, str] = weakref.WeakKeyDictionary()
        self._stamp = self._fingerprint()
        self._failed_stamp: tuple[str | None, ...] | None = None
        self._current = self._build()  # raises TlsConfigError: a bad start is fatal
        self._front = self._current.default
        self._front.sni_callback = self._on_client_hello
        self.generation = 1

    @property
    def context(self) -> ssl.SSLContext:
        """The one context to give every listener; it routes handshakes to the current certs."""
        return self._front

    def files(self) -> list[Path]:
        paths = list(self._default)
        for _name, cert, key in self._sni:
            paths += [cert, key]
        return paths

    def reload(self) -> bool:
        """Rebuild every context now; on failure log it, keep the old ones, return False."""
        stamp = self._fingerprint()
        try:
            generation = self._build()
        except (TlsConfigError, OSError) as exc:
            self._failed_stamp = stamp
            log.error("TLS certificate reload failed, keeping the current certificates: %s", exc)
            return False
        self._current, self._stamp, self._failed_stamp = generation, stamp, None
        self.generation += 1
        log.info("TLS certificates reloaded (generation %d)", self.generation)
        return True

    def reload_if_changed(self) -> bool:
        """Reload when any file changed since the last load (or failed attempt)."""
        stamp = self._fingerprint()
        if stamp == self._stamp or stamp == self._failed_stamp:
            return False
        return self.reload()

    async def watch(self, interval: float, stop: asyncio.Event) -> None:
        """Poll ``reload_if_changed`` every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                try:
                    await asyncio.to_thread(self.reload_if_changed)
                except Exception:  # keep watching whatever happened
                    log.exception("TLS certificate check failed")

    def sni_of(self, ssl_object: SslEndpoint | None) -> str | None:
        """The server name the client sent in this handshake (lower case), if any."""
        return None if ssl_object is None else self._names.get(ssl_object)

    def record(self, ssl_object: SslEndpoint | None) -> TlsRecord:
        """``tls_record_from_ssl`` with the SNI name this set saw for the handshake."""
        return tls_record_from_ssl(ssl_object, self.sni_of(ssl_object))

    def _on_client_hello(
        self, ssl_object: SslEndpoint, server_name: str | None, _initial: ssl.SSLContext
    ) -> None:
        name = server_name.rstrip(".").lower() if server_name else None
        if name:
            self._names[ssl_object] = name
        ssl_object.context = self._current.select(name)

    def _build(self) -> _Generation:
        built: dict[tuple[Path, Path], ssl.SSLContext] = {}

        def context(cert: Path, key: Path) -> ssl.SSLContext:
            if (cert, key) not in built:
                built[(cert, key)] = server_context(cert, key)
            return built[(cert, key)]

        generation = _Generation(context(*self._default))
        for name, cert, key in self._sni:
            if name.startswith("*."):
                generation.wildcard[name[2:]] = context(cert, key)
            else:
                generation.exact[name] = context(cert, key)
        return generation

    def _fingerprint(self) -> tuple[str | None, ...]:
        digests: list[str | None] = []
        for path in self.files():
            try:
                digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
            except OSError:
                digests.append(None)
        return tuple(digests)


def tls_record_from_ssl(ssl_object: SslEndpoint | None, sni: str | None = None) -> TlsRecord:
    """What this (server-side) TLS session proved; the client certificate if one was sent."""
    if ssl_object is None:
        return TlsRecord()
    cipher = ssl_object.cipher()
    subject = issuer = sha256 = not_after = None
    der = ssl_object.getpeercert(binary_form=True)
    if der:
        cert = x509.load_der_x509_certificate(der)
        subject = cert.subject.rfc4514_string()
        issuer = cert.issuer.rfc4514_string()
        sha256 = hashlib.sha256(der).hexdigest()
        not_after = cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return TlsRecord(
        version=ssl_object.version(),
        cipher=cipher[0] if cipher else None,
        bits=cipher[2] if cipher else None,
        sni=sni,
        resumed=ssl_object.session_reused,
        peer_cert_subject=subject,
        peer_cert_issuer=issuer,
        peer_cert_sha256=sha256,
        peer_cert_not_after=not_after,
    )
