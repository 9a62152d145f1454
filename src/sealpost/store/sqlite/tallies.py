"""The console's counts of the event stream on SQLite (``contracts.event_tallies``): one
grouped read per call over the ``events_time`` index (``+type`` keeps SQLite from choosing
``events_type``, which would walk the whole history of a type)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from sealpost.model.event_tally import ATTEMPT_TYPES, AttemptCount, EventCount, ReasonCount
from sealpost.store.sqlite.database import Database

# model.event_tally.attempt_outcome, in SQL.
_OUTCOME = """CASE
    WHEN type <> 'delivery' THEN CASE
        WHEN COALESCE(json_array_length(fields, '$.tlsrpt_failures'), 0) > 0 THEN 'refused'
        ELSE 'other' END
    WHEN COALESCE(json_extract(fields, '$.tls.version'), '') = '' THEN 'plaintext'
    WHEN json_extract(fields, '$.tls.verified') = 1 THEN 'verified'
    ELSE 'unverified' END"""
_SOURCE = "COALESCE(json_extract(fields, '$.tls.policy_source'), '')"
_ATTEMPTS = f"+type IN ({', '.join(repr(t) for t in ATTEMPT_TYPES)})"
_RANGE = "timestamp >= ? AND timestamp < ?"


def _marks(count: int) -> str:
    return ", ".join("?" * count)


BY_DOMAIN = f"""WITH t AS (
    SELECT dom, outcome, src, peer, count(*) AS n FROM (
        SELECT COALESCE(json_extract(fields, '$.recipient_domain'), '') AS dom,
               {_OUTCOME} AS outcome, {_SOURCE} AS src,
               COALESCE(json_extract(fields, '$.tls.peer_name'), '') AS peer
        FROM events WHERE {_RANGE} AND {_ATTEMPTS})
    GROUP BY dom, outcome, src, peer),
top AS (SELECT dom FROM t GROUP BY dom ORDER BY sum(n) DESC, dom LIMIT ?)
SELECT t.dom, t.outcome, t.src, t.n, t.peer FROM t JOIN top ON top.dom = t.dom"""


class SqliteTallies(Database):
    """``EventTallies``."""

    async def count_events_by_bucket(
        self, from_time: float, to_time: float, bucket_seconds: float, types: Sequence[str]
    ) -> list[EventCount]:
        wanted = tuple(types)
        if not wanted:
            return []
        query = (
            "SELECT CAST(timestamp / ? AS INTEGER), type, count(*) FROM events"
            f" WHERE {_RANGE} AND +type IN ({_marks(len(wanted))}) GROUP BY 1, 2"
        )
        params = (bucket_seconds, from_time, to_time, *wanted)

        def read(conn: sqlite3.Connection) -> list[EventCount]:
            rows = conn.execute(query, params).fetchall()
            return [EventCount(float(k * bucket_seconds), t, int(n)) for k, t, n in rows]

        return await self._read(read)

    async def count_attempts_by_bucket(
        self, from_time: float, to_time: float, bucket_seconds: float
    ) -> list[AttemptCount]:
        query = (
            f"SELECT CAST(timestamp / ? AS INTEGER), {_OUTCOME}, {_SOURCE}, count(*)"
            f" FROM events WHERE {_RANGE} AND {_ATTEMPTS} GROUP BY 1, 2, 3"
        )
        params = (bucket_seconds, from_time, to_time)

        def read(conn: sqlite3.Connection) -> list[AttemptCount]:
            rows = conn.execute(query, params).fetchall()
            return [AttemptCount(float(k * bucket_seconds), o, s, int(n)) for k, o, s, n in rows]

        return await self._read(read)

    async def count_attempts_by_domain(
        self, from_time: float, to_time: float, limit: int
    ) -> list[AttemptCount]:
        params = (from_time, to_time, max(limit, 0))

        def read(conn: sqlite3.Connection) -> list[AttemptCount]:
            rows = conn.execute(BY_DOMAIN, params).fetchall()
            return [AttemptCount(d, o, s, int(n), p) for d, o, s, n, p in rows]

        return await self._read(read)

    async def top_reasons(
        self, from_time: float, to_time: float, types: Sequence[str], limit: int
    ) -> list[ReasonCount]:
        wanted = tuple(types)
        if not wanted:
            return []
        query = (
            "SELECT r, count(*) AS n FROM (SELECT json_extract(fields, '$.reason') AS r"
            f" FROM events WHERE {_RANGE} AND +type IN ({_marks(len(wanted))}))"
            " WHERE r IS NOT NULL GROUP BY r ORDER BY n DESC, r LIMIT ?"
        )
        params = (from_time, to_time, *wanted, max(limit, 0))

        def read(conn: sqlite3.Connection) -> list[ReasonCount]:
            return [ReasonCount(r, int(n)) for r, n in conn.execute(query, params).fetchall()]

        return await self._read(read)
