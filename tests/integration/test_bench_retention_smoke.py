"""``bench/retention.py`` end to end at a tiny scale, so it cannot rot: days of traffic are
written, the purge round with the defaults removes the final messages older than 3 days
(and no event: none is 10 days old), and the file is measured before and after. No timing
is asserted."""

from __future__ import annotations

import asyncio

from bench.retention import run


def test_the_retention_bench_purges_and_measures(tmp_path):
    result = asyncio.run(run(days=5, per_day=40, body_bytes=20_000, workdir=tmp_path))
    assert result["messages_written"] == 200
    assert result["purged"]["messages"] == 80  # days 0 and 1 of 5, with 3 days kept
    assert result["purged"]["events"] == 0
    assert result["pages_returned"] > 0
    assert result["after"]["file_bytes"] < result["before"]["file_bytes"]
    assert result["bytes_per_message"] > 20_000 and result["steady_state_gb_per_1m_a_day"] > 0
