"""DKIM keys: what a signing key is, how it is generated, loaded and published in DNS.

RFC 6376 section 3.6.1 (the ``v=DKIM1; k=...; p=...`` key record) and section 3.6.2.2 (the
record lives at ``<selector>._domainkey.<domain>``); RFC 8463 (ed25519 keys: ``p=`` is the
raw 32-byte public key); RFC 8301 section 3.2 (signers MUST use RSA keys of at least 1024
bits; 2048 is the default here). A TXT string holds at most 255 octets (RFC 1035 section
3.3.14), so long key records are published as several strings.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

MIN_RSA_BITS = 1024  # RFC 8301 section 3.2
TXT_STRING_MAX = 255  # RFC 1035 section 3.3.14: one <character-string>

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_NAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


class DkimKeyError(ValueError):
    """A key file or key value that cannot be used for signing; the text says why."""


class DkimAlgorithm(StrEnum):
    """The signing algorithms Sealpost uses (RFC 8301 removed rsa-sha1)."""

    RSA_SHA256 = "rsa-sha256"
    ED25519_SHA256 = "ed25519-sha256"

    @property
    def key_type(self) -> str:
        """The ``k=`` tag of the DNS record: ``rsa`` or ``ed25519``."""
        return "rsa" if self is DkimAlgorithm.RSA_SHA256 else "ed25519"

    @classmethod
    def parse(cls, text: str) -> DkimAlgorithm:
        """``rsa``/``rsa-sha256`` or ``ed25519``/``ed25519-sha256`` (case-insensitive)."""
        wanted = text.strip().lower()
        for member in cls:
            if wanted in (member.value, member.key_type):
                return member
        raise DkimKeyError(f"unknown DKIM algorithm {text!r}: use rsa or ed25519")


@dataclass(frozen=True, slots=True)
class DkimKey:
    """One signing key: the domain it signs for (``d=``), its selector (``s=``), the PEM."""

    domain: str
    selector: str
    private_key_pem: bytes
    algorithm: DkimAlgorithm

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", check_domain(self.domain))
        object.__setattr__(self, "selector", check_selector(self.selector))
        object.__setattr__(self, "algorithm", DkimAlgorithm.parse(str(self.algorithm)))

    def __repr__(self) -> str:  # never show the private key in logs or tracebacks
        return f"DkimKey({self.domain!r}, {self.selector!r}, {self.algorithm.value!r})"


def check_domain(name: str) -> str:
    """A signing domain as DNS labels, lower case, without a trailing dot."""
    bare = name.strip().rstrip(".").lower()
    if len(bare) > 253 or not _NAME_RE.match(bare):
        raise DkimKeyError(f"not a domain name: {name!r}")
    return bare


def check_selector(name: str) -> str:
    """A selector (RFC 6376 section 3.1: dot-separated labels); also safe as a file name."""
    bare = name.strip().lower()
    if len(bare) > 63 * 4 or not _NAME_RE.match(bare):
        raise DkimKeyError(f"not a DKIM selector (letters, digits, '-' and '.'): {name!r}")
    return bare


def key_path(data_dir: Path, domain: str, selector: str) -> Path:
    """Where ``sealpost dkim generate`` keeps a key: ``<data_dir>/dkim/<domain>/<selector>.key``."""
    return data_dir / "dkim" / check_domain(domain) / f"{check_selector(selector)}.key"


def _private_key(pem: bytes) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise DkimKeyError(f"not an unencrypted PEM private key ({exc})") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise DkimKeyError(
                f"RSA key of {key.key_size} bits: RFC 8301 needs at least {MIN_RSA_BITS}"
            )
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise DkimKeyError(f"unsupported key type {type(key).__name__}: use RSA or Ed25519")


def algorithm_of(pem: bytes) -> DkimAlgorithm:
    """The algorithm a PEM private key signs with."""
    key = _private_key(pem)
    return (
        DkimAlgorithm.RSA_SHA256
        if isinstance(key, rsa.RSAPrivateKey)
        else (DkimAlgorithm.ED25519_SHA256)
    )


def load_key(domain: str, selector: str, key_file: Path) -> DkimKey:
    """Read a PEM private key (PKCS#1 or PKCS#8); the algorithm follows from the key type."""
    try:
        pem = key_file.read_bytes()
    except OSError as exc:
        raise DkimKeyError(f"cannot read DKIM key {key_file}: {exc.strerror or exc}") from None
    try:
        algorithm = algorithm_of(pem)
    except DkimKeyError as exc:
        raise DkimKeyError(f"{key_file}: {exc}") from None
    return DkimKey(domain, selector, pem, algorithm)


def signing_material(key: DkimKey) -> bytes:
    """The private key in the form dkimpy signs with.

    RSA: PKCS#1 PEM (``BEGIN RSA PRIVATE KEY``). Ed25519: base64 of the 32-byte seed.
    """
    private = _private_key(key.private_key_pem)
    if isinstance(private, rsa.RSAPrivateKey):
        return private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw)


def dns_txt_value(private_key_pem: bytes) -> str:
    """The TXT record value publishing a private key's public half (RFC 6376 section 3.6.1)."""
    private = _private_key(private_key_pem)
    if isinstance(private, rsa.RSAPrivateKey):
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode('ascii')}"


def generate_key(
    algorithm: DkimAlgorithm | str = DkimAlgorithm.RSA_SHA256, bits: int = 2048
) -> tuple[bytes, str]:
    """A new private key (PKCS#8 PEM) and the TXT value to publish for it."""
    chosen = DkimAlgorithm.parse(str(algorithm))
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if chosen is DkimAlgorithm.RSA_SHA256:
        if bits < MIN_RSA_BITS:
            raise DkimKeyError(f"RSA keys need at least {MIN_RSA_BITS} bits (RFC 8301)")
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, dns_txt_value(pem)


def dns_name(domain: str, selector: str) -> str:
    """The owner name of the key record, fully qualified: ``S._domainkey.D.``."""
    return f"{check_selector(selector)}._domainkey.{check_domain(domain)}."


def txt_strings(value: str) -> list[str]:
    """The TXT value cut into <character-string>s of at most 255 characters."""
    return [value[i : i + TXT_STRING_MAX] for i in range(0, len(value), TXT_STRING_MAX)] or [""]


def dns_record(domain: str, selector: str, public: str) -> str:
    """The zone-file line to publish; ``public`` is the TXT value from :func:`generate_key`.

    ``S._domainkey.D. IN TXT "v=DKIM1; k=rsa; p=..."``; values longer than 255 characters
    become several quoted strings on the same line, which DNS joins back together.
    """
    if any(ch in public for ch in '"\\\r\n'):
        raise DkimKeyError("a DKIM TXT value holds no quotes, backslashes or line breaks")
    quoted = " ".join(f'"{part}"' for part in txt_strings(public))
    return f"{dns_name(domain, selector)} IN TXT {quoted}"
