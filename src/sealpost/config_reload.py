"""SIGHUP reloads the whole configuration file, where that is safe.

``ConfigReloader.reload()`` re-reads the file the server started from and validates it like
``sealpost serve`` does. A file that does not load leaves the running configuration as it
was, with one ERROR line naming every problem. A file that loads is compared with what runs,
key by key (``smtp.listeners``, ``delivery.routes.example.com``, ...):

- what can change live is applied at once (``LIVE``): connection and AUTH-failure limits,
  session limits and timeouts (new connections; open ones keep theirs), local domains, the
  TLS policy rules, routes and retry timings (from the next delivery attempt), retention,
  the log level and format, the config's DKIM keys (``[[dkim.keys]]``: every key file is read
  before anything is applied, and one that cannot be read refuses the whole reload);
  certificates are re-read on every SIGHUP as before;
- the DKIM key-encryption keys (``[dkim] key_encryption_key_file`` and
  ``previous_key_encryption_key_files``) are re-read on every SIGHUP too, so a node learns a
  rotated key without a restart: a file that cannot be read refuses the whole reload (one
  ERROR line naming the option and the file); keys that changed are taken once the store's
  sealed keys are checked to open with them (``SigningKeys.rekey``: else one ERROR line, the
  running keys kept);
- every other changed key (listener addresses, store url, workers, the API and metrics
  listeners, DNS, ...) needs a restart: one INFO line lists them, and they are listed again
  at each reload until the server restarts.

No connection is dropped: nothing here closes a socket. With ``[server] workers``, the
supervisor forwards SIGHUP and each worker reloads its own part (the primary: delivery and
retention too).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealpost.config.loader import ConfigError, load_config
from sealpost.config.model import Config
from sealpost.dkim.keyring import Keyring, load_keyring
from sealpost.dkim.keys import DkimKey, DkimKeyError, load_key
from sealpost.dkim.sealing import SealingError
from sealpost.domains.signers import SigningKeys
from sealpost.inbound.context import ListenerContext
from sealpost.inbound.limits import AuthFailureGuard, ConnectionLimiter
from sealpost.observability.logs import configure_logging
from sealpost.outbound import Outbound
from sealpost.retention.purger import Purger
from sealpost.session_settings import connection_limiter, session_timeouts, with_session_limits
from sealpost.startup import retention_settings
from sealpost.submission.door import Submission
from sealpost.submission.local_hold import LocalHold

log = logging.getLogger("sealpost")

LIMITS = (
    "server.max_connections",
    "server.max_connections_per_ip",
    "server.connection_rate_per_ip",
    "server.limit_exempt",
)
AUTH_LIMITS = ("server.auth_failures_per_ip", "server.auth_failure_window")
SESSION = ("server.max_message_size", "server.max_recipients", "server.local_domains")
TIMEOUTS = (
    "server.idle_timeout",
    "server.data_timeout",
    "server.min_data_rate",
    "server.tls_handshake_timeout",
)
OUTBOUND = (
    "delivery.tls_policy",
    "delivery.default_tls",
    "mta_sts.enabled",
    "delivery.routes",
    "delivery.smarthost",
    "delivery.smtp_port",
    "delivery.minimal_backoff",
    "delivery.maximal_backoff",
    "delivery.max_lifetime",
    "delivery.delay_warning_after",
    "server.local_domains",
)
LOGGING = ("log.level", "log.format")
RETENTION = ("retention",)
DKIM = ("dkim.keys",)
KEK = ("dkim.key_encryption_key_file", "dkim.previous_key_encryption_key_files")
LIVE = frozenset(
    (*LIMITS, *AUTH_LIMITS, *SESSION, *TIMEOUTS, *OUTBOUND, *LOGGING, *RETENTION, *DKIM, *KEK)
)


@dataclass
class LiveParts:
    """The running parts a reload updates (``None``: not in this process)."""

    limiter: ConnectionLimiter
    guard: AuthFailureGuard
    contexts: list[ListenerContext]
    submission: Submission
    outbound: Outbound | None = None
    purger: Purger | None = None
    signing_keys: SigningKeys | None = None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay whole (one key)."""
    if not isinstance(value, dict):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def changed_keys(old: Config, new: Config) -> list[str]:
    """The dotted keys whose values differ between ``old`` and ``new``."""
    a, b = flatten(old.model_dump(mode="json")), flatten(new.model_dump(mode="json"))
    return sorted(k for k in a.keys() | b.keys() if a.get(k, _MISSING) != b.get(k, _MISSING))


_MISSING = object()
_PENDING: set[asyncio.Task[object]] = set()


def is_live(key: str) -> bool:
    return any(key == live or key.startswith(live + ".") for live in LIVE)


def _touches(keys: Iterable[str], group: Iterable[str]) -> bool:
    group = tuple(group)
    return any(k == g or k.startswith(g + ".") for k in keys for g in group)


@dataclass
class ConfigReloader:
    """Holds the configuration the server started with and the one applied since."""

    started: Config
    parts: Callable[[], LiveParts]
    source: Path | None = None
    applied: Config = field(init=False)

    def __post_init__(self) -> None:
        self.applied = self.started
        self.source = self.source or self.started.source

    def reload(self) -> Config:
        """Re-read, validate, apply; returns the configuration now in effect for the live
        keys (the running one when the file is refused)."""
        if self.source is None:
            log.error("config reload: the server was not started from a file; nothing re-read")
            return self.applied
        try:
            new = load_config(self.source)
        except ConfigError as exc:
            problems = "; ".join(str(issue) for issue in exc.issues)
            log.error("config reload refused, the running configuration is kept: %s", problems)
            return self.applied
        live = [k for k in changed_keys(self.applied, new) if is_live(k)]
        restart = [k for k in changed_keys(self.started, new) if not is_live(k)]
        keys: list[DkimKey] | None = None
        if _touches(live, DKIM):
            try:  # every file read first: a bad one refuses the reload, nothing half-applied
                keys = [load_key(k.domain, k.selector, k.key_file) for k in new.dkim.keys]
            except DkimKeyError as exc:
                log.error("config reload refused, the running configuration is kept: %s", exc)
                return self.applied
        parts = self.parts()
        try:  # the key-encryption keys: re-read on every SIGHUP, like the certificates
            keyring = _reread_keyring(parts, new)
        except SealingError as exc:
            log.error("config reload refused, the running configuration is kept: %s", exc)
            return self.applied
        if live:
            apply(parts, new, live, keys)
        if keyring is not None and parts.signing_keys is not None:
            _spawn(parts.signing_keys.rekey(keyring))  # checked against the store first
        self.applied = new
        log.info(
            "config reloaded from %s: %s; %s",
            self.source,
            f"applied {', '.join(live)}" if live else "no live setting changed",
            f"changed but needing a restart: {', '.join(restart)}"
            if restart
            else "nothing needs a restart",
        )
        return new


def _reread_keyring(parts: LiveParts, new: Config) -> Keyring | None:
    """The key-encryption key files ``new`` names, read again; None when this process opens
    no stored key (not started yet) or nothing changed. SealingError names the option and the
    file that cannot be read."""
    running = parts.signing_keys.keyring if parts.signing_keys is not None else None
    if running is None:
        return None
    ring = load_keyring(new.dkim_secret_file, new.dkim.previous_key_encryption_key_files)
    return None if ring.same_as(running) else ring


def _spawn(work: Coroutine[Any, Any, object]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _PENDING.add(task)  # kept until done: the loop holds tasks only weakly
    task.add_done_callback(_PENDING.discard)


def apply(
    parts: LiveParts, new: Config, changed: list[str], dkim_keys: list[DkimKey] | None = None
) -> None:
    """Hand ``new``'s values to every part whose keys are among ``changed`` (``dkim_keys``:
    the config's DKIM keys, already read, when ``dkim.keys`` changed)."""
    srv = new.server
    if _touches(changed, LIMITS):
        parts.limiter.update_limits(connection_limiter(srv))
    if _touches(changed, AUTH_LIMITS):
        parts.guard.max_failures = srv.auth_failures_per_ip
        parts.guard.window = srv.auth_failure_window
    if _touches(changed, SESSION):
        for ctx in parts.contexts:
            ctx.policy = with_session_limits(ctx.policy, srv)
    if _touches(changed, TIMEOUTS):
        timeouts = session_timeouts(srv)
        for ctx in parts.contexts:
            ctx.timeouts = timeouts
    if _touches(changed, OUTBOUND):
        parts.submission.update_local_hold(LocalHold.of(srv.local_domains, new.delivery.routes))
        if parts.outbound is not None:
            parts.outbound.apply(new)
    if _touches(changed, LOGGING):
        configure_logging(new.log.level, new.log.format)
    if dkim_keys is not None and parts.signing_keys is not None:
        parts.signing_keys.replace_static(dkim_keys)
        _spawn(parts.signing_keys.refresh())
    if _touches(changed, RETENTION) and parts.purger is not None:
        parts.purger.settings = retention_settings(new)
        parts.purger.wake()
