"""The console's local users: a name, an argon2id password hash (RFC 9106) and grants.

Users are kept as store documents (kind ``console_user``, id the name), so every node of a
cluster sees the same users, ``sealpost store copy`` moves them, and all three backends keep
them through the one ``DocumentStore`` contract. A user holds grants exactly like an API
key (``model/grants.py``) and needs ``console/access`` to log in. Passwords are people's
low-entropy secrets, so unlike API keys (``api_keys``) they get a slow, memory-hard hash
(``argon2-cffi``'s defaults: argon2id, 64 MiB, 3 passes); log-in attempts are rate-limited
per IP (``[console] login_per_minute``). An unknown name is checked against a dummy hash, so
its answer takes as long as a wrong password's.

A check costs about 0.1 s of CPU and 64 MiB, so it runs on a thread of its own, one at a
time per process: the event loop (the SMTP sessions of the same worker) goes on meanwhile,
and concurrent log-ins queue for that thread instead of each taking 64 MiB. The dummy hash
is a constant of this module, made with the library's default parameters; it is computed
(once) only if those defaults change, so importing this module (every ``sealpost``
command) costs no hash.
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sealpost.model.document import Document
from sealpost.model.grants import ALL_GRANTS, Grant, in_order, parse_grant
from sealpost.store.contracts.documents import DocumentStore
from sealpost.store.errors import DuplicateError

KIND = "console_user"
MIN_PASSWORD = 12
_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
_HASHER = PasswordHasher()
# argon2id of a random string nobody kept, with argon2-cffi's default parameters.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$mFC5oEMH1ei2Y2ggRwbUXg"
    "$BC89X3exG/+aemcurkcVLGOm0EZ7NVS6x+BwAoLsXWk"
)
# Threads start on the first check only: never in the supervisor, which forks.
_CHECKS = ThreadPoolExecutor(1, "sealpost-password")


@functools.cache
def _dummy_hash() -> str:
    """What an unknown name is checked against: as costly as a real user's hash."""
    if _HASHER.check_needs_rehash(_DUMMY_HASH):  # the library's defaults changed
        return _HASHER.hash(secrets.token_hex(16))
    return _DUMMY_HASH


def _matches(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one of ``password_hash``; None (an unknown name) costs
    the same check, against the dummy, and never matches."""
    try:
        _HASHER.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


class UserError(ValueError):
    """A name or password that cannot be used."""


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    name: str
    password_hash: str
    grants: frozenset[Grant]
    created_at: float

    def allows(self, grant: Grant) -> bool:
        return grant in self.grants


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UserError(
            f"user name {name!r}: 1-64 of a-z 0-9 . _ @ -, starting with a letter or digit"
        )
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")


def _of(document: Document) -> ConsoleUser:
    p = document.payload
    grants = frozenset(g for g in map(parse_grant, p.get("grants", ())) if g is not None)
    return ConsoleUser(document.id, str(p["password_hash"]), grants, float(p["created_at"]))


async def create_user(
    store: DocumentStore,
    name: str,
    password: str,
    now: float,
    grants: Iterable[Grant] | None = None,
) -> ConsoleUser:
    """Store a new user; ``grants`` None gives every grant (as ``keys create`` does).
    ``DuplicateError`` when the name is taken, ``UserError`` for a bad name or password."""
    check_name(name)
    check_password(password)
    held = ALL_GRANTS if grants is None else frozenset(grants)
    if not held:
        raise UserError("a user needs at least one grant")
    if await store.get_document(KIND, name) is not None:
        raise DuplicateError(f"console user {name} exists already")
    user = ConsoleUser(name, _HASHER.hash(password), held, now)
    payload = {
        "password_hash": user.password_hash,
        "grants": [g.value for g in in_order(held)],
        "created_at": now,
    }
    await store.put_document(Document(KIND, name, payload, now))
    return user


async def find_user(store: DocumentStore, name: str) -> ConsoleUser | None:
    if not _NAME.fullmatch(name):
        return None
    document = await store.get_document(KIND, name)
    return None if document is None else _of(document)


async def list_users(store: DocumentStore) -> list[ConsoleUser]:
    return [_of(d) for d in await store.list_documents(KIND)]


async def delete_user(store: DocumentStore, name: str) -> bool:
    return await store.delete_document(KIND, name)


async def verify_user(store: DocumentStore, name: str, password: str) -> ConsoleUser | None:
    """The user when ``password`` is theirs; None otherwise (same work for unknown names)."""
    user = await find_user(store, name)
    stored = user.password_hash if user else None
    loop = asyncio.get_running_loop()
    return user if await loop.run_in_executor(_CHECKS, _matches, stored, password) else None
