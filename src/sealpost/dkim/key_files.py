"""DKIM key material of sending domains: generated or brought keys, and their key files.

RFC 8301 section 3.2: RSA signing keys of at least 1024 bits; SparkPost offers 1024 and 2048
(the default) and takes brought keys as PKCS#1 or PKCS#8, not password-protected (reference
section 6), usually as the bare base64 body without the PEM armour: both forms are accepted.
Brought keys are RSA only, because the DNS check requires ``k=rsa`` when ``k=`` is present.

The private keys are kept in the store, sealed (``dkim.sealing``). Versions before that wrote
them to ``<data_dir>/dkim/<domain>/<selector>.key`` (``dkim.keys.key_path``, the layout
``sealpost dkim generate`` uses); ``remove_key_file`` deletes such a file once its record no
longer names it. Nothing here logs or returns private key material.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sealpost.dkim.keys import DkimAlgorithm, generate_key

ALLOWED_BITS = (1024, 2048)
MAX_BROUGHT_BITS = 4096  # bigger keys make every signature slow
_ARMOUR = re.compile(r"-----(BEGIN|END) [A-Z ]+-----")


class KeyMaterialError(ValueError):
    """A brought key that cannot be used; ``field`` names the request field at fault."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """A private key (PKCS#8 PEM) and its public half as the ``p=`` value."""

    private_pem: bytes
    public: str

    def __repr__(self) -> str:  # never show the private key in logs or tracebacks
        return f"KeyMaterial(public={self.public[:16]}...)"


def _public_value(key: rsa.RSAPublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def _pkcs8(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def generate(bits: int = 2048) -> KeyMaterial:
    """A new RSA key of ``bits`` (1024 or 2048) bits."""
    if bits not in ALLOWED_BITS:
        raise KeyMaterialError("dkim_key_length", f"must be one of {ALLOWED_BITS}")
    pem, _ = generate_key(DkimAlgorithm.RSA_SHA256, bits)
    private = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return KeyMaterial(pem, _public_value(private.public_key()))


def _base64_body(text: str) -> bytes | None:
    body = "".join(_ARMOUR.sub("", text).split())
    try:
        return base64.b64decode(body, validate=True) if body else None
    except (binascii.Error, ValueError):
        return None


def _load_private(text: str) -> rsa.RSAPrivateKey:
    der = _base64_body(text)
    if der is None:
        raise KeyMaterialError("dkim.private", "not a PEM or base64 private key")
    try:
        key = serialization.load_der_private_key(der, password=None)
    except TypeError:
        raise KeyMaterialError(
            "dkim.private", "password-protected keys are not supported"
        ) from None
    except Exception:  # cryptography raises several types on garbage
        raise KeyMaterialError("dkim.private", "not a PKCS#1 or PKCS#8 private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyMaterialError("dkim.private", "only RSA keys are supported")
    if not ALLOWED_BITS[0] <= key.key_size <= MAX_BROUGHT_BITS:
        raise KeyMaterialError(
            "dkim.private", f"RSA keys of {ALLOWED_BITS[0]} to {MAX_BROUGHT_BITS} bits only"
        )
    return key


def _load_public(text: str) -> rsa.RSAPublicKey:
    der = _base64_body(text.removeprefix("p=").strip())
    if der is None:
        raise KeyMaterialError("dkim.public", "not a base64 public key")
    key: object = None
    try:  # SubjectPublicKeyInfo, the p= form
        key = serialization.load_der_public_key(der)
    except Exception:  # cryptography raises several types on garbage
        armoured = base64.encodebytes(der).decode("ascii")
        pem = f"-----BEGIN RSA PUBLIC KEY-----\n{armoured}-----END RSA PUBLIC KEY-----\n"
        with contextlib.suppress(Exception):  # PKCS#1 RSAPublicKey, as some tools print it
            key = serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyMaterialError("dkim.public", "not an RSA public key")
    return key


def from_private(private: str, public: str | None = None) -> KeyMaterial:
    """A brought key; ``public``, when given, must be the private key's public half."""
    key = _load_private(private)
    derived = key.public_key()
    if public is not None and public.strip():
        given = _load_public(public)
        if given.public_numbers() != derived.public_numbers():
            raise KeyMaterialError("dkim.public", "does not match dkim.private")
    return KeyMaterial(_pkcs8(key), _public_value(derived))


def default_selector(now: float | None = None) -> str:
    """SparkPost's selector style: ``scph`` and the month and year, e.g. ``scph0126``."""
    return "scph" + time.strftime("%m%y", time.gmtime(time.time() if now is None else now))


def selector_candidates(base: str) -> Iterator[str]:
    """``base``, then ``base-2`` .. ``base-20``: the next free one names a generated key."""
    yield base
    for n in range(2, 21):
        yield f"{base}-{n}"


def remove_key_file(data_dir: Path, path: Path) -> bool:
    """Delete a key file under ``<data_dir>/dkim`` (never elsewhere, whatever a record says)
    and its directory when that is now empty; False when it was outside or gone already."""
    root = (Path(data_dir) / "dkim").resolve()
    try:
        path.resolve().relative_to(root)
    except (OSError, ValueError):
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    with contextlib.suppress(OSError):
        path.parent.rmdir()
    return True
