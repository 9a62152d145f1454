"""API keys (SparkPost style): 40 lowercase hex characters, stored only as a salted hash.

A key is 160 bits from the operating system's CSPRNG. Slow password hashes (bcrypt, scrypt,
Argon2) exist to make guessing *low-entropy* secrets expensive; guessing a 160-bit random key
is infeasible at any hash speed, so one HMAC-SHA256 keyed with a per-key 16-byte random salt is
sufficient: a stolen database reveals no key and cannot be attacked with precomputed tables,
and verifying costs microseconds on every API request and SMTP AUTH (a slow hash there would
hand attackers a CPU exhaustion lever).

The key's first 8 characters are its id: stored in clear, shown in listings, used to find the
record. Verification compares digests with ``hmac.compare_digest`` and takes the same path
(one HMAC, one constant-time compare) for unknown, revoked and malformed keys as far as
reasonable; a malformed key never reaches the store.

A key also carries grants (``model/grants.py``): what it may do. Verifying a key says only who
is calling; each caller (an API route, SMTP AUTH) then checks the grant it needs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.grants import ALL_GRANTS, Grant
from sealpost.store.contracts.keys import KeyStore
from sealpost.store.errors import DuplicateError

KEY_HEX_CHARS = 40
KEY_ID_CHARS = 8
SALT_BYTES = 16
_KEY_FORMAT = re.compile(r"[0-9a-f]{40}")
_DUMMY_SALT = secrets.token_bytes(SALT_BYTES)
_DUMMY_DIGEST = secrets.token_bytes(32)
_CREATE_ATTEMPTS = 5


def generate_key() -> str:
    """A new key: 40 lowercase hex characters, 160 random bits."""
    return secrets.token_hex(KEY_HEX_CHARS // 2)


def key_id_of(key: str) -> str:
    """The public id of a key: its first 8 characters."""
    return key[:KEY_ID_CHARS]


def is_well_formed(key: str) -> bool:
    """Whether ``key`` looks like a Sealpost key (40 lowercase hex characters)."""
    return len(key) == KEY_HEX_CHARS and _KEY_FORMAT.fullmatch(key) is not None


def digest_key(key: str, salt: bytes) -> bytes:
    """HMAC-SHA256 of the key under ``salt`` (see the module docstring for why it suffices)."""
    return hmac.new(salt, key.encode("ascii", "replace"), hashlib.sha256).digest()


def hash_key(key: str) -> tuple[bytes, bytes]:
    """A fresh random salt and the key's digest under it: what the store keeps."""
    salt = secrets.token_bytes(SALT_BYTES)
    return salt, digest_key(key, salt)


async def create_key(
    store: KeyStore,
    label: str,
    now: float,
    sender_domains: tuple[str, ...] = (),
    grants: Iterable[Grant] | None = None,
) -> tuple[str, ApiKeyRecord]:
    """Make and store a key; the key itself is returned here once and never stored.

    ``sender_domains`` limits the domains the key may send as (empty: any).
    ``grants`` is what the key may do; None gives it every grant, and an empty set is refused
    (a key that may do nothing is a mistake, not a key)."""
    domains = tuple(sorted({d.lower().rstrip(".") for d in sender_domains}))
    held = ALL_GRANTS if grants is None else frozenset(grants)
    if not held:
        raise ValueError("an API key needs at least one grant")
    for _ in range(_CREATE_ATTEMPTS):
        key = generate_key()
        salt, digest = hash_key(key)
        record = ApiKeyRecord(key_id_of(key), label, salt, digest, now, None, domains, held)
        try:
            await store.add_key(record)
        except DuplicateError:  # 8-character id collision (about 1 in 4 billion): draw again
            continue
        return key, record
    raise DuplicateError("could not find a free API key id")


async def verify_key(store: KeyStore, presented: str) -> ApiKeyRecord | None:
    """The active record for ``presented``, or None (unknown, revoked, wrong or malformed)."""
    if not is_well_formed(presented):
        hmac.compare_digest(digest_key(presented[:KEY_HEX_CHARS], _DUMMY_SALT), _DUMMY_DIGEST)
        return None
    record = await store.find_key(key_id_of(presented))
    salt, expected = (record.salt, record.digest) if record else (_DUMMY_SALT, _DUMMY_DIGEST)
    matches = hmac.compare_digest(digest_key(presented, salt), expected)
    if record is None or not matches or not record.active:
        return None
    return record


async def revoke_key(store: KeyStore, key_id: str, now: float) -> bool:
    """Revoke a key by id; False when there is no such active key."""
    return await store.revoke_key(key_id, now)
