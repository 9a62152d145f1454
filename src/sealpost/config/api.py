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
        "0.0.0.0:8443", description="host:port the API listens on (always HTTPS)."
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
