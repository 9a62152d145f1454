"""Session ticket keys shared by every worker process, rotated every hour with a one-way ratchet.

A TLS session ticket (RFC 5077 for TLS 1.2, RFC 8446 section 4.6.1 for TLS 1.3) is the
session state sealed with a key only the server holds; a client that shows it on its next
connection resumes without a certificate or signature. OpenSSL makes that key at random for
each ``SSL_CTX``, so with ``[server] workers`` above one each worker had its own, and a client
resumed only when the kernel handed its next connection to the worker that issued the ticket
(half the time with two workers, a quarter with four). Postfix's smtpd processes share theirs
through tlsmgr(8); ours share a ``TicketKeyChain``:

* The supervisor makes the chain before it forks (32 random bytes, memory only, never logged),
  so every worker starts with the same state, a worker forked later included.
* Time is cut into epochs of ``EPOCH`` seconds (Postfix rotates its keys at its session cache
  timeout, an hour by default). Entering a new epoch, the chain replaces its secret with a
  one-way function of it and forgets the old one: every process reaches the same key for the
  same epoch on its own, and a secret read out of a process's memory opens no ticket of an
  earlier epoch (a TLS 1.2 ticket carries the session's master secret, so that is its
  forward secrecy). The clock never takes the chain back.
* The key block (16-byte name, 32-byte HMAC key, 32-byte AES key) is set on the listeners'
  one front context (``CertificateSet.context``): OpenSSL seals and opens tickets with the
  context a handshake started on, whichever certificate the SNI callback picks later.

Python's ``ssl`` module sets no ticket keys, so ``install`` calls OpenSSL's
``SSL_CTX_ctrl(SSL_CTRL_SET_TLSEXT_TICKET_KEYS)`` through ctypes on the ``SSL_CTX`` the
``SSLContext`` wraps, after checking that the pointer it found is that context (its options
and ticket count read through OpenSSL match Python's) and reading the keys back. Where any
of that fails the keys stay OpenSSL's own and ``install`` says why: tickets then resume only
on the worker that issued them, as before. A ticket of an earlier epoch (its name unknown) is
no error: the client gets a full handshake and a new ticket.
"""

from __future__ import annotations

import _ssl
import asyncio
import contextlib
import ctypes
import hashlib
import hmac
import logging
import math
import secrets
import ssl
import sys
import time
from dataclasses import dataclass

log = logging.getLogger("sealpost.tls")

EPOCH = 3600.0  # seconds a key is used; Postfix's smtpd_tls_session_cache_timeout default
BLOCK = 80  # OpenSSL's ticket key block: name (16), HMAC key (32), AES key (32)
_SET_KEYS = 59  # SSL_CTRL_SET_TLSEXT_TICKET_KEYS
_GET_KEYS = 58  # SSL_CTRL_GET_TLSEXT_TICKET_KEYS


@dataclass
class TicketKeyChain:
    """One server's ticket keys: the secret of ``epoch``; ``block(now)`` ratchets first."""

    epoch: int
    secret: bytes

    @classmethod
    def new(cls, now: float) -> TicketKeyChain:
        return cls(_epoch_of(now), secrets.token_bytes(32))

    def advance(self, now: float) -> bool:
        """Ratchet to ``now``'s epoch (forgetting each secret passed); True if it moved."""
        target = _epoch_of(now)
        if target <= self.epoch:
            return False  # the same epoch, or a clock set back: never un-ratchet
        secret = self.secret
        for _ in range(target - self.epoch):
            secret = hmac.digest(secret, b"sealpost ticket key: next epoch", hashlib.sha256)
        self.secret, self.epoch = secret, target
        return True

    def block(self, now: float) -> bytes:
        """The 80-byte key block of ``now``'s epoch (advancing to it)."""
        self.advance(now)
        parts = (
            hmac.digest(self.secret, label, hashlib.sha256) for label in (b"name", b"hmac", b"aes")
        )
        name, mac, aes = parts
        return name[:16] + mac + aes

    def __repr__(self) -> str:  # the secret never reaches a log line or a traceback
        return f"TicketKeyChain(epoch={self.epoch})"


def _epoch_of(now: float) -> int:
    return math.floor(now / EPOCH)


class TicketKeys:
    """The chain applied to one server context: ``refresh(now)`` at start and then often
    (each worker's periodic task) sets the key block when its epoch changed."""

    def __init__(self, chain: TicketKeyChain, context: ssl.SSLContext) -> None:
        self.chain = chain
        self.context = context
        self.shared = False  # the keys on the context are the chain's
        self._installed: int | None = None

    def refresh(self, now: float) -> None:
        if self._installed is not None and not self.chain.advance(now):
            return
        error = install(self.context, self.chain.block(now))
        if error is None:
            self.shared, self._installed = True, self.chain.epoch
            return
        if self._installed is None:  # say it once, at start
            log.warning(
                "TLS session tickets: the workers cannot share a ticket key (%s); a client "
                "resumes only with the worker that issued its ticket",
                error,
            )
        self._installed = self.chain.epoch

    async def rotate(self, stop: asyncio.Event) -> None:
        """Refresh just after each epoch begins, until ``stop`` is set."""
        while True:
            wait = EPOCH * (self.chain.epoch + 1) - time.time() + 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(wait, 1.0))
            if stop.is_set():
                return
            self.refresh(time.time())


def install(context: ssl.SSLContext, block: bytes) -> str | None:
    """Set ``block`` as ``context``'s ticket keys; None when done, else why not."""
    if len(block) != BLOCK:
        return f"a key block of {len(block)} bytes, not {BLOCK}"
    if sys.implementation.name != "cpython":
        return f"the SSL_CTX is found only in CPython, not {sys.implementation.name}"
    try:
        lib = _libssl()
    except (OSError, AttributeError) as exc:
        return f"OpenSSL's functions are not reachable: {exc}"
    ctx = _ssl_ctx(context, lib)
    if ctx is None:
        return "the SSLContext's OpenSSL context was not found"
    if lib.SSL_CTX_ctrl(ctx, _SET_KEYS, BLOCK, block) != 1:
        return "OpenSSL refused the key block"
    back = ctypes.create_string_buffer(BLOCK)
    if lib.SSL_CTX_ctrl(ctx, _GET_KEYS, BLOCK, back) != 1 or back.raw != block:
        return "OpenSSL did not keep the key block"
    return None


_lib: ctypes.CDLL | None = None


def _libssl() -> ctypes.CDLL:
    """The libssl Python's ``_ssl`` is linked against (its symbols, found through it)."""
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(_ssl.__file__)
        lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p]
        lib.SSL_CTX_ctrl.restype = ctypes.c_long
        lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get_options.restype = ctypes.c_uint64
        lib.SSL_CTX_get_num_tickets.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get_num_tickets.restype = ctypes.c_size_t
        _lib = lib
    return _lib


def _ssl_ctx(context: ssl.SSLContext, lib: ctypes.CDLL) -> int | None:
    """The ``SSL_CTX *`` right after the object header of CPython's ``PySSLContext``, once
    OpenSSL confirms it: its options and ticket count are the ones Python reports."""
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not pointer:
        return None
    if lib.SSL_CTX_get_options(pointer) != int(context.options):
        return None
    if lib.SSL_CTX_get_num_tickets(pointer) != context.num_tickets:
        return None
    return int(pointer)
