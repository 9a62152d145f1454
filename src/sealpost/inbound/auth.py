"""SMTP AUTH credentials, checked SparkPost's way: user ``SMTP_Injection``, password an API key.

Checklist H2: the reply is the same for an unknown user and a wrong key, the key check runs
either way (no user-enumeration timing), failures are delayed and counted per client IP, and
an IP over the limit is locked out for the window. A key without the ``smtp/inject`` grant is
refused like a wrong key and counts as a failure: the reply never tells an attacker that the
key itself was right. RFC 4954 section 4: AUTH is only ever reached inside TLS; the protocol
engine enforces that before we are called.

A session stays authenticated after AUTH, so ``still_valid`` is asked again before each of
its messages is queued: a key revoked meanwhile (on any node, by any process) queues nothing
more, even on a connection opened before the revocation.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable

from sealpost.api_keys import verify_key
from sealpost.inbound.limits import AuthFailureGuard
from sealpost.model.grants import Grant
from sealpost.smtp.server import AuthOutcome
from sealpost.store.contracts.keys import KeyStore

INJECTION_USER = "SMTP_Injection"


class Authenticator:
    """Turns an AUTH exchange into an ``AuthOutcome`` for the protocol engine."""

    def __init__(
        self,
        keys: KeyStore,
        guard: AuthFailureGuard,
        failure_delay: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._guard = guard
        self._delay = failure_delay
        self._clock = clock

    async def authenticate(self, client_ip: str, username: str, password: str) -> AuthOutcome:
        if self._guard.locked_out(client_ip, self._clock()):
            return AuthOutcome(user=None, locked_out=True)
        record = await verify_key(self._keys, password)
        user_ok = hmac.compare_digest(username.encode("utf-8", "replace"), INJECTION_USER.encode())
        if record is not None and user_ok and record.allows(Grant.SMTP_INJECT):
            domains = frozenset(record.sender_domains) or None
            return AuthOutcome(user=record.id, sender_domains=domains)
        self._guard.record_failure(client_ip, self._clock())
        if self._delay > 0:
            await asyncio.sleep(self._delay)
        return AuthOutcome(user=None)

    async def still_valid(self, key_id: str) -> bool:
        """Whether the key a session authenticated as is still active with ``smtp/inject``."""
        record = await self._keys.find_key(key_id)
        return record is not None and record.active and record.allows(Grant.SMTP_INJECT)
