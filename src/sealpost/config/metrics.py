"""Config table for the metrics and health listener ([metrics]): Prometheus text, plain HTTP."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from sealpost.config.section import Section
from sealpost.config.values import Domain, address_text


class MetricsSection(Section):
    """The metrics and health listener: GET /metrics (Prometheus text format), GET /healthz
    and GET /readyz (docs/operations.md). Plain HTTP with no authentication, like every
    Prometheus exporter: keep it on loopback or a monitoring network."""

    enabled: bool = Field(True, description="Serve /metrics, /healthz and /readyz.")
    address: Annotated[str, AfterValidator(address_text)] = Field(
        "127.0.0.1:9425",
        description="host:port of the metrics and health listener (plain HTTP, no "
        "authentication). Loopback by default; to let a Prometheus server on another "
        'machine scrape it, set an address such as "10.0.0.5:9425" that only your '
        "monitoring network reaches.",
    )
    domains: list[Domain] = Field(
        default_factory=list,
        description="Recipient domains that get their own domain label on the delivery "
        'metrics, e.g. ["gmail.com", "outlook.com"]; every other domain is counted as '
        '"other". Empty: no domain label values but "other", so the number of series '
        "stays bounded whatever the traffic.",
    )
    queue_cache_seconds: Annotated[float, Field(ge=0, le=60)] = Field(
        2.0,
        description="How long the queue-wide gauges (queue depth by state, age of the "
        "oldest queued message), which are read from the store at scrape time, are reused "
        "before the store is asked again (0: every scrape asks).",
    )
    readiness_timeout: Annotated[float, Field(gt=0, le=60)] = Field(
        2.0,
        description="Seconds /readyz waits for the store's answer before it answers 503.",
    )
