"""Config tables for outbound delivery: [dns], [delivery], [mta_sts] and [[dkim.keys]].

Defaults follow Postfix where it has an answer: opportunistic TLS (``may``) for everyone,
retries from 5 minutes doubling to about an hour, and a 5-day queue lifetime (RFC 5321
section 4.5.4.1 asks for at least 4-5 days before giving up).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from sealpost.config.section import Section
from sealpost.config.values import (
    Domain,
    Positive,
    ResolvedPath,
    Seconds,
    TlsLevelName,
    issue,
    route_text,
)


def _probe(value: str) -> str:
    parts = value.split()
    if not 1 <= len(parts) <= 2 or (len(parts) == 2 and not parts[1].isalnum()):
        raise ValueError('expected "<name> [TYPE]", e.g. ". SOA"')
    return value


class DnsSection(Section):
    """How Sealpost asks DNS questions (MX, A/AAAA, TXT, TLSA)."""

    nameservers: list[Annotated[str, AfterValidator(route_text)]] = Field(
        default_factory=list,
        description='Resolvers to ask, as "ip" or "ip:port" ("[v6]:port"); empty uses the '
        "system resolver. Only a validating resolver you trust makes answers DNSSEC-secure.",
    )
    timeout: Seconds = Field(5.0, description="Seconds to wait for one DNS answer.")
    dnssec: bool = Field(
        False,
        description="The nameservers are validating resolvers you trust (loopback or a "
        "trusted link): their AD bit makes an answer DNSSEC-secure, which DANE needs. Also "
        'makes "dane" the default TLS level.',
    )
    dnssec_check: Literal["refuse", "warn"] = Field(
        "refuse",
        description="With dnssec = true, ask at start whether the nameservers really "
        "validate (the signed probe must come back AD, the bogus one SERVFAIL); refuse to "
        "start when they do not, or only warn.",
    )
    dnssec_probe_secure: Annotated[str, AfterValidator(_probe)] = Field(
        ". SOA",
        description='The start-up check\'s signed name, "<name> [TYPE]" (default type SOA): '
        "must come back with the AD bit.",
    )
    dnssec_probe_bogus: Annotated[str, AfterValidator(_probe)] = Field(
        "dnssec-failed.org. A",
        description='The start-up check\'s deliberately mis-signed name, "<name> [TYPE]" '
        "(default type A): must fail with SERVFAIL. dnssec-failed.org is kept bogus for "
        "this purpose.",
    )


class DeliverySection(Section):
    """Outbound delivery: routing, TLS policy, concurrency, timeouts and retries."""

    enabled: bool = Field(True, description="Deliver queued mail; false only accepts it.")
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = Field(
        25, description="Port of MX hosts (25 on the Internet; tests use others)."
    )
    helo_name: Domain | None = Field(
        None, description="Name sent in EHLO; defaults to server.hostname."
    )
    smarthost: Annotated[str, AfterValidator(route_text)] | None = Field(
        None,
        description='Send all mail (but statically routed domains) to this "host:port" '
        "instead of MX hosts.",
    )
    routes: dict[Domain, Annotated[str, AfterValidator(route_text)]] = Field(
        default_factory=dict,
        description='Static routes: domain = "host:port". Mail for local_domains is only '
        "delivered when it has a route here; otherwise it stays here as inbound mail, stored "
        "held (sealpost queue list --state held).",
    )
    tls_policy: dict[str, TlsLevelName] = Field(
        default_factory=dict,
        description='Per-domain minimum TLS level: "example.com" = "verify" (also '
        '".example.com" for its subdomains). Levels: none, may, encrypt, verify, dane '
        "(DANE where the MX host, or the static route or smarthost host, has secure TLSA "
        "records, else may), dane-only.",
    )
    default_tls: TlsLevelName | None = Field(
        None,
        description="TLS level for domains without a rule; unset: dane when [dns] dnssec "
        "is true, else may (Postfix's defaults).",
    )
    ca_file: ResolvedPath | None = Field(
        None,
        description="Extra CA certificates (PEM) trusted besides the system ones, when "
        "verifying MX certificates and MTA-STS servers.",
    )
    concurrency: Positive = Field(
        100,
        description="Simultaneous outbound sessions in all, for the node: with several "
        "[server] workers each worker's dispatcher takes its share (rounded up).",
    )
    per_domain_concurrency: Positive = Field(
        20,
        description="Simultaneous sessions to one destination domain (Postfix: 20), for "
        "the node's workers together (each takes its share, rounded up, and the total is "
        "held); on a PostgreSQL store, for all nodes of the cluster together.",
    )
    messages_per_connection: Positive = Field(
        100, description="Messages sent over one SMTP connection before it is closed."
    )
    connect_timeout: Seconds = Field(30.0, description="Seconds to connect to one address.")
    command_timeout: Seconds = Field(
        300.0, description="Seconds to wait for a reply (RFC 5321 section 4.5.3.2: 5 min)."
    )
    data_timeout: Seconds = Field(
        600.0, description="Seconds to wait for the reply to the final dot (RFC: 10 min)."
    )
    tls_handshake_timeout: Seconds = Field(30.0, description="Seconds for a TLS handshake.")
    broken_tls_memory: Seconds = Field(
        3600.0,
        description="Under level may, how long a host whose TLS handshake failed is sent "
        "mail in plaintext without trying STARTTLS again.",
    )
    minimal_backoff: Seconds = Field(300.0, description="First retry after this many seconds.")
    maximal_backoff: Seconds = Field(4000.0, description="Longest wait between retries.")
    max_lifetime: Seconds = Field(
        432000.0, description="Give up and bounce after this many seconds (5 days)."
    )
    delay_warning_after: Annotated[float, Field(ge=0)] = Field(
        14400.0, description="Send one delay notice after this many seconds; 0: never."
    )
    lease: Seconds = Field(
        600.0,
        description="Seconds a claimed message is reserved for one delivery worker; after a "
        "crash it is retried once the lease runs out.",
    )
    poll_interval: Seconds = Field(
        1.0, description="Seconds between queue scans when nothing wakes the dispatcher."
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> DeliverySection:
        if self.maximal_backoff < self.minimal_backoff:
            raise issue("must be at least minimal_backoff", "maximal_backoff")
        return self


class MtaStsSection(Section):
    """MTA-STS (RFC 8461): domains that publish a policy get verified TLS only."""

    enabled: bool = Field(True, description="Discover and apply MTA-STS policies.")
    https_port: Annotated[int, Field(ge=1, le=65535)] = Field(
        443, description="Port of the mta-sts.<domain> policy servers (443; tests use others)."
    )
    fetch_timeout: Seconds = Field(10.0, description="Seconds for one policy fetch.")


class DkimKeyConfig(Section):
    """One DKIM signing key (``sealpost dkim generate`` writes one and prints this table)."""

    domain: Domain = Field(description="Sign mail whose From: is this domain (or below it).")
    selector: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")] = Field(
        description="Selector: the public key is at <selector>._domainkey.<domain>."
    )
    key_file: ResolvedPath = Field(description="PEM private key (RSA or Ed25519).")


class DkimSection(Section):
    """DKIM signing of outgoing mail (RFC 6376; Ed25519 per RFC 8463)."""

    keys: list[DkimKeyConfig] = Field(
        default_factory=list,
        description="Signing keys, one [[dkim.keys]] table each; with an RSA and an Ed25519 "
        "key for one domain, mail carries both signatures.",
    )
    key_encryption_key_file: ResolvedPath | None = Field(
        None,
        description="The key (base64 of 32 random bytes, mode 0600) that seals the sending "
        "domains' DKIM private keys in the store (AES-256-GCM); default "
        "<[server] data_dir>/dkim-secret.key. Created at the first start when missing and the "
        "store holds no sealed key. Every node of a cluster needs the same file: copy it to "
        "each node before it starts (docs/cluster.md); a node with another key cannot sign "
        "for those domains. Keep it out of the database's backups. To rotate it, see "
        "previous_key_encryption_key_files.",
    )
    previous_key_encryption_key_files: list[ResolvedPath] = Field(
        default_factory=list,
        description="Earlier key-encryption keys still accepted to open the stored DKIM keys "
        "(a keyring: key_encryption_key_file seals, every listed key opens). To rotate: put "
        "the new key in key_encryption_key_file and the old file here on every node, SIGHUP "
        "or restart, run `sealpost dkim reseal`, and remove the old file from this list once "
        "`sealpost dkim kek-status` counts no key under its id (docs/cluster.md). Re-read on "
        "SIGHUP.",
    )
