"""The typed configuration model: one pydantic class per TOML table.

The field descriptions here ARE the reference documentation: ``config/template.py`` renders the
commented ``sealpost.toml`` and ``config/reference.py`` renders ``docs/configuration.md`` from
them. Every table forbids unknown keys, so a typo is an error rather than a silent default.
Values are strict (``"25"`` is not a number). Relative paths are resolved against the directory
of the config file when a ``base_dir`` is passed in the validation context (``load_config`` does).

Cross-field rules live here too, so a ``Config`` built in code obeys them as well. RFC 4954
section 4 requires a configuration that never permits plaintext passwords outside TLS; it is
the only one Sealpost has (``auth = true`` needs ``tls`` other than ``none``). ``require_tls``
needs TLS to require (RFC 3207 section 4: 530 until STARTTLS).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)

from sealpost.config.api import ApiSection
from sealpost.config.console import ConsoleSection
from sealpost.config.metrics import MetricsSection
from sealpost.config.outbound import DeliverySection, DkimSection, DnsSection, MtaStsSection
from sealpost.config.retention import RetentionSection
from sealpost.config.section import Section
from sealpost.config.tls_reports import TlsReportsSection
from sealpost.config.tlsrpt import TlsRptSection
from sealpost.config.values import (
    Domain,
    LogFormat,
    LogLevel,
    Positive,
    ResolvedPath,
    Seconds,
    SizeOrPercent,
    TlsMode,
    address_text,
    cidr_text,
    issue,
    node_id_text,
    one_of,
    parse_address,
    redact_url,
    size_or_percent,
    sni_name,
    store_url,
)


class ServerSection(Section):
    """Identity of this server and the limits every inbound session obeys."""

    hostname: Domain = Field(
        description="Name this server uses in its SMTP banner and EHLO; it should match the "
        "certificate and the MX/submission host names."
    )
    data_dir: ResolvedPath = Field(
        Path("var"),
        validate_default=True,
        description="Directory for the DKIM key files that sealpost dkim generate writes (in "
        "its dkim/ subdirectory) and the default [dkim] key_encryption_key_file, relative to "
        "the config file; the queue database is where [store] url says (the sending domains' "
        "DKIM keys are in the store, sealed).",
    )
    local_domains: list[Domain] = Field(
        default_factory=list,
        description="Domains whose mail is accepted on any listener without AUTH; mail for "
        "every other domain needs an authenticated submission.",
    )
    max_message_size: Positive = Field(
        10_240_000,
        description="Largest message accepted, in bytes (advertised as SIZE, RFC 1870); "
        "also the cap on each message the API composes, after substitution (422 beyond).",
    )
    max_recipients: Annotated[int, Field(ge=100)] = Field(
        1000,
        description="Most RCPT TO commands per message; then 452 4.5.3. RFC 5321 section "
        "4.5.3.1.8 requires accepting at least 100.",
    )
    max_connections: Positive = Field(
        1000,
        description="Open SMTP connections across all listeners; beyond it new ones get 421.",
    )
    max_connections_per_ip: Positive = Field(
        50,
        description="Open connections from one client IP (Postfix "
        "smtpd_client_connection_count_limit); beyond it new ones get 421 4.7.0.",
    )
    limit_exempt: list[Annotated[str, AfterValidator(cidr_text)]] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="Client networks (CIDR) exempt from max_connections_per_ip and "
        "connection_rate_per_ip, as Postfix exempts $mynetworks "
        "(smtpd_client_event_limit_exceptions): by default this host itself, so local "
        "injectors and load tests are never refused; they still count towards "
        "max_connections. Set [] to limit every client.",
    )
    connection_rate_per_ip: Annotated[int, Field(ge=0)] = Field(
        0,
        description="New connections per minute from one client IP (Postfix "
        "smtpd_client_connection_rate_limit, mox uses 300); beyond it 421 4.7.0. "
        "0 means no limit.",
    )
    idle_timeout: Seconds = Field(
        300.0,
        description="Seconds to wait for the next command; RFC 5321 section 4.5.3.2.7 asks "
        "for at least 300.",
    )
    data_timeout: Seconds = Field(600.0, description="Seconds allowed for the whole DATA phase.")
    drain_timeout: Seconds = Field(
        30.0,
        description="On SIGTERM, seconds to let SMTP transactions in progress and outbound "
        "deliveries finish (new connections get 421 4.3.2 meanwhile); what is still open "
        "then is cut. Keep systemd's TimeoutStopSec above it.",
    )
    min_data_rate: Positive = Field(
        500,
        description="Bytes per second a client must sustain during DATA (Postfix "
        "smtpd_min_data_rate); slower clients are disconnected.",
    )
    tls_handshake_timeout: Seconds = Field(
        30.0, description="Seconds allowed for a TLS handshake (implicit TLS or STARTTLS)."
    )
    auth_failures_per_ip: Positive = Field(
        10, description="Failed AUTH attempts from one IP per window before it is locked out."
    )
    auth_failure_window: Seconds = Field(
        300.0, description="Seconds over which AUTH failures are counted, and the lockout length."
    )
    auth_failure_delay: Annotated[float, Field(ge=0)] = Field(
        1.0, description="Seconds to wait before answering a failed AUTH."
    )
    workers: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = Field(
        "auto",
        description="Worker processes that serve SMTP and the API and deliver mail, on the "
        'same listening sockets and queue (1 to 64); "auto" is one per CPU core. 1 runs '
        "everything in one process. With more, every worker delivers (the [delivery] "
        "limits hold for the whole server), the first worker also runs webhooks, a "
        "supervisor process restarts a worker that dies, and the connection, AUTH and API "
        "request limits hold for the whole server (on a PostgreSQL store, for this node). A "
        "memory:// store is one process's memory, so it always runs 1.",
    )

    @property
    def worker_count(self) -> int:
        """``workers`` as a number ("auto": the CPU cores this process may use)."""
        if self.workers == "auto":
            cores = os.process_cpu_count() if hasattr(os, "process_cpu_count") else None
            return max(1, min(64, cores or len(os.sched_getaffinity(0)) or 1))
        return self.workers


class SniCertificate(Section):
    """A certificate chosen when a client asks for its name via SNI."""

    name: Annotated[str, AfterValidator(sni_name)] = Field(
        description="Server name to match, case-insensitively; *.example.com matches one label."
    )
    cert_file: ResolvedPath = Field(description="PEM certificate chain for this name.")
    key_file: ResolvedPath = Field(description="PEM private key for this name.")


class TlsSection(Section):
    """Server certificates for every TLS listener (TLS 1.2 and 1.3, Mozilla intermediate)."""

    cert_file: ResolvedPath = Field(
        Path("certs/server.pem"),
        validate_default=True,
        description="PEM certificate chain (leaf first), relative to the config file.",
    )
    key_file: ResolvedPath = Field(
        Path("certs/server.key"),
        validate_default=True,
        description="PEM private key (unencrypted) matching cert_file.",
    )
    reload_interval: Seconds = Field(
        5.0,
        description="Seconds between checks for changed certificate files; SIGHUP reloads at "
        "once. A certificate that fails to load is logged and the previous one kept.",
    )
    sni: list[SniCertificate] = Field(
        default_factory=list,
        description="Extra certificates chosen by SNI, one [[tls.sni]] table each; clients "
        "that send no name or an unknown one get cert_file.",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> TlsSection:
        seen: dict[str, int] = {}
        for index, entry in enumerate(self.sni):
            if entry.name in seen:
                raise issue(
                    f'duplicate SNI name "{entry.name}" (also tls.sni[{seen[entry.name]}])',
                    f"sni[{index}].name",
                )
            seen[entry.name] = index
        return self


# Listener names of mail Sealpost itself queues (submission/door.py signs it as ours).
RESERVED_LISTENER_NAMES = frozenset({"api", "dsn", "tlsrpt"})


class ListenerConfig(Section):
    """One SMTP listening socket."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")] = Field(
        description="Unique name, used in log lines and stored with each message it accepts; "
        '"api", "dsn" and "tlsrpt" are reserved (Sealpost\'s own mail).'
    )
    address: Annotated[str, AfterValidator(address_text)] = Field(
        description="host:port or [ipv6]:port to listen on; port 0 lets the system pick a "
        "free port (for tests)."
    )
    tls: Annotated[TlsMode, one_of(TlsMode)] = Field(
        TlsMode.STARTTLS,
        description="starttls: plaintext then STARTTLS (RFC 3207, ports 25 and 587); "
        "implicit: TLS from the first byte (RFC 8314, port 465); none: no TLS at all.",
    )
    require_tls: bool = Field(
        False,
        description="Refuse MAIL until STARTTLS has succeeded (530 5.7.0); for submission "
        "on 587. Never set it on port 25: senders fall back to plaintext (RFC 3207 section 4).",
    )
    auth: bool = Field(
        False,
        description="Offer AUTH (RFC 4954); only ever inside TLS, so it needs tls = "
        '"starttls" or "implicit".',
    )

    @property
    def host(self) -> str:
        return parse_address(self.address)[0]

    @property
    def port(self) -> int:
        return parse_address(self.address)[1]

    @model_validator(mode="after")
    def _tls_rules(self) -> ListenerConfig:
        if self.name in RESERVED_LISTENER_NAMES:  # mail from them counts as originated here
            raise issue(
                f"{self.name!r} names Sealpost's own mail (API, bounces, TLS reports); "
                "choose another listener name",
                "name",
            )
        if self.auth and self.tls is TlsMode.NONE:
            raise issue(
                'AUTH is never offered in plaintext: set tls = "starttls" or "implicit", '
                "or auth = false",
                "auth",
            )
        if self.require_tls and self.tls is TlsMode.NONE:
            raise issue('require_tls needs tls = "starttls" (got tls = "none")', "require_tls")
        return self


class SmtpSection(Section):
    """SMTP listeners, as [[smtp.listeners]] tables."""

    listeners: list[ListenerConfig] = Field(
        default_factory=list,
        description="SMTP listening sockets, one [[smtp.listeners]] table each; names and "
        "addresses must be unique.",
    )

    @model_validator(mode="after")
    def _unique(self) -> SmtpSection:
        names: dict[str, int] = {}
        addresses: dict[str, int] = {}
        for index, listener in enumerate(self.listeners):
            if listener.name in names:
                raise issue(
                    f'duplicate listener name "{listener.name}" '
                    f"(also smtp.listeners[{names[listener.name]}])",
                    f"listeners[{index}].name",
                )
            key = f"{listener.host.lower()}:{listener.port}"
            if key in addresses and listener.port != 0:
                raise issue(
                    f'address "{listener.address}" already used by '
                    f"smtp.listeners[{addresses[key]}]",
                    f"listeners[{index}].address",
                )
            names[listener.name] = index
            addresses[key] = index
        return self


class StoreSection(Section):
    """Where the queue lives."""

    url: Annotated[str, AfterValidator(store_url)] = Field(
        "sqlite:///var/queue.db",
        validate_default=True,
        description="sqlite:///relative/path (to the config file) or sqlite:////absolute/path; "
        "memory:// keeps the queue in memory (tests only); postgresql://user@host:5432/db "
        "puts it in a PostgreSQL database that several nodes can share (cluster mode).",
    )
    min_free: SizeOrPercent = Field(
        "100MB",
        description="Free space kept on a SQLite queue's file system (like Postfix's "
        "queue_minfree): below it new mail is refused (452 4.3.1 at MAIL FROM, 503 on the "
        "API) and the rest is left to deliveries, bounces and events. Bytes (1048576), a "
        "size (512MB, 1GiB: KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024) or a "
        "percentage of the file system (5%); 0 turns the check off. Not checked for "
        "PostgreSQL or memory stores (docs/operations.md).",
    )

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a ``sqlite://`` URL, else ``None``."""
        if self.url.startswith("sqlite:///"):
            return Path(self.url[len("sqlite:///") :])
        return None

    @property
    def min_free_parts(self) -> tuple[int, float]:
        """``min_free`` as (bytes, percent), one of them 0."""
        return size_or_percent(self.min_free)


class ClusterSection(Section):
    """This node among several sharing one PostgreSQL store (docs/cluster.md)."""

    node_id: Annotated[str, AfterValidator(node_id_text)] | None = Field(
        None,
        description="This node's name on the queue leases it takes; defaults to the host name. "
        "Every node on one database needs its own: at start a node gives back the leases its "
        "name holds (those of its previous run), so two nodes sharing a name would take each "
        "other's messages back. 1 to 63 letters, digits, '.', '_', ':' or '-'.",
    )

    @property
    def node(self) -> str:
        """``node_id``, or the host name when it is not set."""
        return self.node_id or _host_node_id()


def _host_node_id() -> str:
    """The host name, as a node id (its first 63 characters)."""
    return socket.gethostname()[:63] or "localhost"


class LogSection(Section):
    """Logging."""

    level: Annotated[LogLevel, one_of(LogLevel)] = Field(
        LogLevel.INFO, description="Lowest level written."
    )
    format: Annotated[LogFormat, one_of(LogFormat)] = Field(
        LogFormat.TEXT, description="text for people; json writes one JSON object per line."
    )


class Config(Section):
    """The whole ``sealpost.toml``."""

    server: ServerSection
    tls: TlsSection = Field(default_factory=dict, validate_default=True)
    smtp: SmtpSection = Field(default_factory=dict, validate_default=True)
    store: StoreSection = Field(default_factory=dict, validate_default=True)
    cluster: ClusterSection = Field(default_factory=dict, validate_default=True)
    log: LogSection = Field(default_factory=dict, validate_default=True)
    dns: DnsSection = Field(default_factory=dict, validate_default=True)
    delivery: DeliverySection = Field(default_factory=dict, validate_default=True)
    mta_sts: MtaStsSection = Field(default_factory=dict, validate_default=True)
    dkim: DkimSection = Field(default_factory=dict, validate_default=True)
    api: ApiSection = Field(default_factory=dict, validate_default=True)
    tlsrpt: TlsRptSection = Field(default_factory=dict, validate_default=True)
    tls_reports: TlsReportsSection = Field(default_factory=dict, validate_default=True)
    metrics: MetricsSection = Field(default_factory=dict, validate_default=True)
    retention: RetentionSection = Field(default_factory=dict, validate_default=True)
    console: ConsoleSection = Field(default_factory=dict, validate_default=True)

    _source: Path | None = PrivateAttr(default=None)
    _base_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _remember_base_dir(self, info: ValidationInfo) -> Config:
        base = (info.context or {}).get("base_dir")
        self._base_dir = Path(base) if base is not None else None
        return self

    @property
    def base_dir(self) -> Path | None:
        """The directory relative paths were resolved against (the config file's), if any."""
        return self._base_dir

    @property
    def source(self) -> Path | None:
        """The file this configuration was loaded from, if any."""
        return self._source

    @property
    def dkim_secret_file(self) -> Path:
        """The file of the key that seals sending domains' DKIM keys (``[dkim]
        key_encryption_key_file``, default ``<data_dir>/dkim-secret.key``)."""
        return self.dkim.key_encryption_key_file or self.server.data_dir / "dkim-secret.key"

    @property
    def needs_tls(self) -> bool:
        """Whether any listener uses TLS, so the certificate files must load."""
        return any(listener.tls is not TlsMode.NONE for listener in self.smtp.listeners)

    def effective_summary(self) -> dict[str, Any]:
        """Every effective setting as plain JSON values, for ``serve`` to log; no secrets."""
        data = self.model_dump(mode="json")
        data["store"]["url"] = redact_url(self.store.url)
        data["config_file"] = str(self._source) if self._source else None
        return data
