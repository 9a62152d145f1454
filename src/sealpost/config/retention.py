"""Config table for retention ([retention]): how long what Sealpost stores is kept."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from sealpost.config.section import Section
from sealpost.config.values import Seconds

Days = Annotated[float, Field(ge=0)]


class RetentionSection(Section):
    """How long stored mail and its history are kept (docs/operations.md#retention). A
    background purger on the primary process deletes what is older, a few hundred rows per
    transaction, so the queue never waits behind it; 0 keeps that kind for ever."""

    message_days: Days = Field(
        3.0,
        description="Days a message is kept once final (every recipient delivered, bounced "
        "or cancelled), counted from its last attempt: its body, envelope and recipients "
        "then go. Queued and held mail is never purged. 0: kept for ever.",
    )
    event_days: Days = Field(
        10.0,
        description="Days events (GET /api/v1/events, webhooks) are kept; SparkPost keeps "
        "10. A webhook that is failing for longer loses the events that aged out. "
        "0: kept for ever.",
    )
    idempotency_hours: Annotated[float, Field(ge=0)] = Field(
        24.0,
        description="Hours an Idempotency-Key of the transmissions API is remembered "
        "(SparkPost: 24). 0: for ever.",
    )
    received_report_days: Days = Field(
        90.0,
        description="Days the TLS-RPT reports other senders sent us are kept. 0: for ever. "
        "(The session tallies and reports we send are kept [tlsrpt] keep_days.)",
    )
    held_days: Days = Field(
        30.0,
        description="Days local mail held here is kept (mail to [server] local_domains "
        "without a route: what the TLS-RPT intake reads), counted from its arrival. Mail an "
        "operator held with sealpost queue hold is never purged. 0: kept for ever.",
    )
    transmission_days: Days = Field(
        3.0,
        description="Days the record of a POST /api/v1/transmissions (what GET "
        "/api/v1/transmissions/{id} shows) is kept, counted from its last change, or from "
        "its start_time when that is later: a scheduled transmission is never purged before "
        "it starts (a cancelled one counts from its cancellation). Its messages and events "
        "follow message_days and event_days. 0: kept for ever.",
    )
    interval: Seconds = Field(
        300.0,
        description="Seconds between purge rounds; a round runs its batches until nothing "
        "expired is left.",
    )
    batch: Annotated[int, Field(ge=10, le=100_000)] = Field(
        100,
        description="Rows of each kind deleted per transaction. Larger purges faster but "
        "holds the store's writer longer each time: with SQLite, mail being accepted waits "
        "for the batch in progress (the purger then pauses as long as the batch took).",
    )
    vacuum_pages: Annotated[int, Field(ge=0)] = Field(
        2000,
        description="SQLite: free pages given back to the file system after each batch "
        "(PRAGMA incremental_vacuum, 256 pages per transaction; 2000 pages are 8 MB with "
        "the default page size), so the file shrinks. 0: never (the space is reused inside "
        "the file). No effect on PostgreSQL, where autovacuum reclaims space.",
    )
