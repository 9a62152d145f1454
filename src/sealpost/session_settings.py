"""What an SMTP session may do, built from ``[server]`` and a listener's config: the server
policy, the session timeouts, the local-domain set and the connection limits.

One builder for the start (``app.py``) and for a SIGHUP reload (``config_reload``), so a
reloaded value means exactly what the same value means at start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sealpost.config.model import ListenerConfig, ServerSection
from sealpost.inbound.context import Timeouts
from sealpost.inbound.limits import ConnectionLimiter
from sealpost.inbound.shared_limits import LimitBoard
from sealpost.smtp.server import ServerPolicy


def local_domains(server: ServerSection) -> frozenset[str]:
    """``[server] local_domains`` as the policy compares them: lower case, no trailing dot."""
    return frozenset(d.lower().rstrip(".") for d in server.local_domains)


def session_timeouts(server: ServerSection) -> Timeouts:
    return Timeouts(
        idle=server.idle_timeout,
        data=server.data_timeout,
        min_data_rate=server.min_data_rate,
        handshake=server.tls_handshake_timeout,
    )


def server_policy(
    server: ServerSection, listener: ListenerConfig, storage_low: Callable[[], bool]
) -> ServerPolicy:
    """How the sessions of ``listener`` behave (``storage_low``: the ``[store] min_free``
    verdict, read by MAIL)."""
    return ServerPolicy(
        hostname=server.hostname,
        local_domains=local_domains(server),
        tls_mode=listener.tls,
        require_tls=listener.require_tls,
        auth_enabled=listener.auth,
        max_message_size=server.max_message_size,
        max_recipients=server.max_recipients,
        storage_low=storage_low,
    )


def with_session_limits(policy: ServerPolicy, server: ServerSection) -> ServerPolicy:
    """``policy`` with the values a reload may change: size, recipients, local domains."""
    return replace(
        policy,
        max_message_size=server.max_message_size,
        max_recipients=server.max_recipients,
        local_domains=local_domains(server),
    )


def connection_limiter(
    server: ServerSection, board: LimitBoard | None = None, worker: int = 0
) -> ConnectionLimiter:
    """The connection limits (``board``: the table several workers share, if any)."""
    return ConnectionLimiter.with_exempt(
        server.max_connections,
        server.max_connections_per_ip,
        server.connection_rate_per_ip,
        server.limit_exempt,
        board=board,
        worker=worker,
    )
