"""Config table for the HTTPS API ([api]): SparkPost-compatible REST, TLS only."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from sealpost.config.section import Section
from sealpost.config.values import Positive, address_text, cidr_text


class ApiSection(Section):
    """The SparkPost-compatible HTTPS API (TLS only, same certificates as SMTP)."""

    enabled: bool = Field(True, description="Serve the HTTPS API.")
    address: Annotated[str, AfterValidator(address_text)] = Field(
        "127.0.0.1:8443",
        description="host:port the API listens on (always HTTPS). Loopback unless you say "
        'otherwise: to serve other machines, set a public address such as "0.0.0.0:8443" '
        "and give each caller a key with only the grants it needs.",
    )
    allow_unverified_domains: bool = Field(
        False,
        description="Accept transmissions from sending domains that are not verified "
        "(development only; SparkPost refuses them with code 7001).",
    )
    max_request_bytes: Positive = Field(
        20 * 1024 * 1024, description="Largest request body accepted (413 beyond)."
    )
    max_recipients: Positive = Field(
        10000, description="Most recipients in one transmission (422 beyond)."
    )
    max_transmission_bytes: Positive = Field(
        100 * 1024 * 1024,
        description="Most octets all the messages of one transmission may take together, "
        "after substitution (422, code 1300, beyond; each message is also capped at "
        "[server] max_message_size). Building stops as soon as the cap would be passed; "
        "one request's peak memory is about 2.4 times this value. Split larger "
        "sends into several transmissions.",
    )
    allowed_private_targets: list[Annotated[str, AfterValidator(cidr_text)]] = Field(
        default_factory=list,
        description="Networks (CIDR) that webhooks, their OAuth2 token URLs and API tls-checks "
        "may reach although they are loopback, private (RFC 1918), link-local, CGNAT, "
        "unique-local, multicast, reserved or this server's own addresses, e.g. "
        '["127.0.0.0/8"] for a test suite or ["10.1.2.0/24"] for an internal webhook '
        "receiver. Empty: every such address is refused (422, rule private-target). API "
        "tls-checks may use any port on these networks.",
    )
    tls_check_per_minute: Positive = Field(
        6,
        description="tls-checks one API key may run per minute through GET /api/v1/tls-check "
        "(each opens up to six connections per MX host); beyond it 429 with Retry-After. "
        "The sealpost tls-check command is not limited.",
    )
