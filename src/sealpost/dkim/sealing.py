"""The sending domains' DKIM private keys at rest: sealed with AES-256-GCM under the cluster's
key-encryption key, so the store (shared by every node) holds them and no one reading the
database or a backup can sign with them.

The key-encryption key is 32 random bytes, kept base64 in the file ``[dkim]
key_encryption_key_file`` names (mode 0600; ``openssl rand -base64 32`` makes one too). Every
node of a cluster needs the same file: a key sealed by one node is opened by all. The file is
created (exclusively, 0600) by ``sealpost init``, and by a node's start when it is missing
and the store holds no sealed key yet (``ensure_keyring``); when the store does hold keys, a
node without the file refuses to start rather than making a secret no key was sealed with.
Earlier keys (``[dkim] previous_key_encryption_key_files``) still open what they sealed
while the operator rotates the key: ``dkim.keyring`` holds them all.

A sealed key is ``b"SPK1"``, the key-encryption key's 8-byte id (the head of a SHA-256 of the
key, so a node with the wrong file is told so plainly rather than "authentication failed"),
the 12-byte random nonce (NIST SP 800-38D section 8.2.2; at well under 2^32 seals per key
random nonces are safe) and the AES-GCM ciphertext with its tag. The associated data binds
the blob to its signing domain and selector: a sealed key copied to another domain's row
does not open. Nothing here logs or returns key material; errors name the option and file.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

OPTION = "[dkim] key_encryption_key_file"
MAGIC = b"SPK1"
KEY_BYTES = 32  # AES-256
ID_BYTES = 8
NONCE_BYTES = 12


class SealingError(ValueError):
    """A key-encryption key that cannot be used, or a sealed key that does not open."""


def _key_id(secret: bytes) -> bytes:
    return hashlib.sha256(b"sealpost dkim key-encryption key id\0" + secret).digest()[:ID_BYTES]


@dataclass(frozen=True, slots=True)
class KeySecret:
    """The cluster's key-encryption key and the file it came from."""

    path: Path
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise SealingError(f"{OPTION} {self.path}: not a {KEY_BYTES}-byte key")

    @property
    def key_id(self) -> str:
        """The short public id of this key (hex), shown in errors and logs."""
        return _key_id(self.secret).hex()

    def __repr__(self) -> str:  # never show the secret in logs or tracebacks
        return f"KeySecret({str(self.path)!r}, id={self.key_id})"


def _associated_data(domain: str, selector: str) -> bytes:
    return f"sealpost-dkim-key\0{domain}\0{selector}".encode()


def seal(secret: KeySecret, domain: str, selector: str, pem: bytes) -> bytes:
    """``pem`` sealed for ``selector._domainkey.domain``."""
    nonce = os.urandom(NONCE_BYTES)
    body = AESGCM(secret.secret).encrypt(nonce, pem, _associated_data(domain, selector))
    return MAGIC + _key_id(secret.secret) + nonce + body


def sealed_with(sealed: bytes) -> str | None:
    """The id of the key-encryption key ``sealed`` names (hex), or None for no sealed key."""
    if len(sealed) <= len(MAGIC) + ID_BYTES + NONCE_BYTES or not sealed.startswith(MAGIC):
        return None
    return sealed[len(MAGIC) : len(MAGIC) + ID_BYTES].hex()


def unseal(secret: KeySecret, domain: str, selector: str, sealed: bytes) -> bytes:
    """The PEM sealed for ``selector._domainkey.domain``, or SealingError saying why not."""
    name = f"{selector}._domainkey.{domain}"
    head = len(MAGIC) + ID_BYTES + NONCE_BYTES
    if len(sealed) <= head or not sealed.startswith(MAGIC):
        raise SealingError(f"the stored DKIM key of {name} is not a sealed key")
    key_id = sealed[len(MAGIC) : len(MAGIC) + ID_BYTES]
    if key_id != _key_id(secret.secret):
        raise SealingError(
            f"the stored DKIM key of {name} was sealed with key-encryption key "
            f"{key_id.hex()}, but this node's {OPTION} ({secret.path}) is key {secret.key_id}:"
            " every node of a cluster needs the same file"
        )
    nonce = sealed[len(MAGIC) + ID_BYTES : head]
    try:
        return AESGCM(secret.secret).decrypt(
            nonce, sealed[head:], _associated_data(domain, selector)
        )
    except InvalidTag:
        raise SealingError(
            f"the stored DKIM key of {name} does not open with {OPTION} ({secret.path}): "
            "it was altered or stored under another domain or selector"
        ) from None


def load_secret(path: Path, option: str = OPTION) -> KeySecret:
    """The key-encryption key in ``path`` (base64 of 32 bytes), or SealingError naming it
    and ``option`` (the config key that named the file)."""
    try:
        text = path.read_text("ascii")
    except (OSError, UnicodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise SealingError(f"cannot read {option} {path}: {why}") from None
    try:
        secret = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SealingError(f"{option} {path}: not base64 text") from None
    if len(secret) != KEY_BYTES:
        raise SealingError(
            f"{option} {path}: holds {len(secret)} bytes, not {KEY_BYTES} "
            "(make one with `openssl rand -base64 32`)"
        )
    return KeySecret(path, secret)


def create_secret(path: Path) -> bool:
    """Write a new random key to ``path`` (0600, created exclusively; its directory 0700 when
    made here); False when the file exists already, which is then left alone."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, base64.b64encode(os.urandom(KEY_BYTES)) + b"\n")
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    os.close(fd)
    return True
