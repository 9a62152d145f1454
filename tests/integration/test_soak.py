"""The short version of the kill campaign (``make soak``, ``bench/soak.py``): a few SIGKILLs
of the whole server (two worker processes) under SMTP and HTTPS API load with delivery out
to a real sink; no acknowledged message lost, no duplicate but those in flight at a kill."""

from __future__ import annotations

from pathlib import Path

from bench.soak import campaign, passed


def test_a_few_kills_lose_nothing_and_duplicate_only_what_was_in_flight(tmp_path: Path):
    result = campaign(tmp_path, 3, load_min=0.3, load_max=0.6, seed=17)
    assert result["kills"] == 3
    assert result["acknowledged_smtp"] > 0 and result["acknowledged_api"] > 0, result
    assert result["delivered_messages"] >= result["acknowledged"], result
    assert passed(result), result
