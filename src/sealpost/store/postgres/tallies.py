"""The console's counts of the event stream on PostgreSQL (``contracts.event_tallies``): one
grouped read per call over the ``events_time`` index range. ``fields`` is ``json``: the
text form of ``tlsrpt_failures`` is compared, so no function meets a non-array."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from sealpost.model.event_tally import ATTEMPT_TYPES, AttemptCount, EventCount, ReasonCount
from sealpost.store.postgres.database import Database

# model.event_tally.attempt_outcome, in SQL.
_OUTCOME = """CASE
    WHEN type <> 'delivery' THEN CASE
        WHEN COALESCE(fields->>'tlsrpt_failures', '[]') NOT IN ('[]', 'null') THEN 'refused'
        ELSE 'other' END
    WHEN COALESCE(fields->'tls'->>'version', '') = '' THEN 'plaintext'
    WHEN fields->'tls'->>'verified' = 'true' THEN 'verified'
    ELSE 'unverified' END"""
_SOURCE = "COALESCE(fields->'tls'->>'policy_source', '')"
_ATTEMPTS = f"type IN ({', '.join(repr(t) for t in ATTEMPT_TYPES)})"
_RANGE = "timestamp >= $1 AND timestamp < $2"

BY_BUCKET = (
    "SELECT floor(timestamp / $3)::bigint AS k, type, count(*) FROM events"
    f" WHERE {_RANGE} AND type = ANY($4::text[]) GROUP BY 1, 2"
)
ATTEMPTS_BY_BUCKET = (
    f"SELECT floor(timestamp / $3)::bigint AS k, {_OUTCOME} AS o, {_SOURCE} AS s, count(*)"
    f" FROM events WHERE {_RANGE} AND {_ATTEMPTS} GROUP BY 1, 2, 3"
)
BY_DOMAIN = f"""WITH t AS (
    SELECT dom, outcome, src, peer, count(*) AS n FROM (
        SELECT COALESCE(fields->>'recipient_domain', '') AS dom,
               {_OUTCOME} AS outcome, {_SOURCE} AS src,
               COALESCE(fields->'tls'->>'peer_name', '') AS peer
        FROM events WHERE {_RANGE} AND {_ATTEMPTS}) AS a
    GROUP BY dom, outcome, src, peer),
top AS (SELECT dom FROM t GROUP BY dom ORDER BY sum(n) DESC, dom COLLATE "C" LIMIT $3)
SELECT t.dom, t.outcome, t.src, t.n, t.peer FROM t JOIN top ON top.dom = t.dom"""
TOP_REASONS = (
    "SELECT r, count(*) AS n FROM (SELECT fields->>'reason' AS r FROM events"
    f" WHERE {_RANGE} AND type = ANY($3::text[])) AS e"
    ' WHERE r IS NOT NULL GROUP BY r ORDER BY n DESC, r COLLATE "C" LIMIT $4'
)


class PostgresTallies(Database):
    """``EventTallies``."""

    async def count_events_by_bucket(
        self, from_time: float, to_time: float, bucket_seconds: float, types: Sequence[str]
    ) -> list[EventCount]:
        async def read(conn: asyncpg.Connection) -> list[EventCount]:
            args = (from_time, to_time, bucket_seconds, list(types))
            rows = await conn.fetch(BY_BUCKET, *args)
            return [EventCount(float(k * bucket_seconds), t, int(n)) for k, t, n in rows]

        return await self._read(read) if types else []

    async def count_attempts_by_bucket(
        self, from_time: float, to_time: float, bucket_seconds: float
    ) -> list[AttemptCount]:
        async def read(conn: asyncpg.Connection) -> list[AttemptCount]:
            rows = await conn.fetch(ATTEMPTS_BY_BUCKET, from_time, to_time, bucket_seconds)
            return [AttemptCount(float(k * bucket_seconds), o, s, int(n)) for k, o, s, n in rows]

        return await self._read(read)

    async def count_attempts_by_domain(
        self, from_time: float, to_time: float, limit: int
    ) -> list[AttemptCount]:
        async def read(conn: asyncpg.Connection) -> list[AttemptCount]:
            rows = await conn.fetch(BY_DOMAIN, from_time, to_time, max(limit, 0))
            return [AttemptCount(d, o, s, int(n), p) for d, o, s, n, p in rows]

        return await self._read(read)

    async def top_reasons(
        self, from_time: float, to_time: float, types: Sequence[str], limit: int
    ) -> list[ReasonCount]:
        async def read(conn: asyncpg.Connection) -> list[ReasonCount]:
            rows = await conn.fetch(TOP_REASONS, from_time, to_time, list(types), max(limit, 0))
            return [ReasonCount(r, int(n)) for r, n in rows]

        return await self._read(read) if types else []
