"""An httpx transport that connects only to addresses the egress rule has already checked.

httpx normally resolves the URL's host itself when it opens a connection, a second lookup
that DNS rebinding exploits (checked: a public address; connected: 127.0.0.1). Here the
caller first clears the hosts (``net.egress``) and then sends its requests inside
``pinned({host: address})``; the transport's network backend (an httpcore
``AsyncNetworkBackend``) opens the TCP connection to that address and refuses any host that
was not pinned, so nothing is ever resolved twice and nothing unchecked is reached.

Everything else stays httpx's: the URL keeps the host name, so the ``Host`` header, SNI and
the certificate check (``verify``: the name must match, RFC 6125) all use the name, and
connections are pooled per host name (never shared between two names on one address).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType

import httpcore
import httpx

_NOTHING: Mapping[str, str] = MappingProxyType({})
_PINS: ContextVar[Mapping[str, str]] = ContextVar("sealpost_pinned_hosts", default=_NOTHING)


def url_host(url: str) -> str:
    """The host as the transport sees it (lower case, IDNA, no brackets)."""
    return httpx.URL(url).raw_host.decode("ascii")


@contextlib.contextmanager
def pinned(hosts: Mapping[str, str]) -> Iterator[None]:
    """Within the block, a connection to ``host`` goes to ``hosts[host]`` (a checked IP)."""
    token = _PINS.set(MappingProxyType({**_PINS.get(), **hosts}))
    try:
        yield
    finally:
        _PINS.reset(token)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """TCP to the pinned address of the host; a host with no pin is a connect error."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[tuple[int, int, int] | tuple[int, int, bytes]] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = _PINS.get().get(host)
        if address is None:
            raise httpcore.ConnectError(f"{host}: not cleared by the egress rule")
        return await self._inner.connect_tcp(
            address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[tuple[int, int, int] | tuple[int, int, bytes]] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never a target")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` over ``PinnedBackend`` (no proxies, HTTP/1.1)."""

    def __init__(self, *, verify: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False)
        # httpx builds its pool without a way to pass a network backend; replace it.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(),
        )
