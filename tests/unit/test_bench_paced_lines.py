"""``--also-at-postfix-rate``: the paced Sealpost lines and their ratios to Postfix."""

from __future__ import annotations

import pytest
from bench.cases import CASES, Bounds
from bench.harness import (
    AT_POSTFIX_RATE_LABEL,
    AT_TARGET_RATE_LABEL,
    BenchOptions,
    BenchReport,
    Measurement,
    paced_rates,
)
from bench.machine import Machine
from bench.peers import PostfixServer
from bench.report import inbound_markdown, ratios
from bench.resources import ResourceUsage
from bench.results import LoadResult


def test_paced_at_postfix_rate_and_at_the_target_multiple() -> None:
    assert paced_rates(312.0) == [
        (312.0, AT_POSTFIX_RATE_LABEL),
        (pytest.approx(468.0), AT_TARGET_RATE_LABEL),
    ]
    assert AT_TARGET_RATE_LABEL == "Sealpost (at 1.5x Postfix's rate)"


def test_a_postfix_that_made_nothing_still_gives_a_positive_rate() -> None:
    assert [rate for rate, _ in paced_rates(0.0)] == [1.0, 1.5]


def _measurement(label: str, msgs: int, p99: float) -> Measurement:
    load = LoadResult(msgs, {}, msgs, 10.0, 1.0, p99, 2)
    return Measurement(CASES["b"], 10, label, load, ResourceUsage(2**20, 2**20, 1.0, 1))


def test_each_paced_line_gets_its_own_ratio_to_postfix() -> None:
    options = BenchOptions((CASES["b"],), (10,), Bounds(10.0, 10**6), at_postfix_rate=True)
    machine = Machine(2, "cpu", 4.0, "6", "3.11", "3.7", "ext4", (0.0, 0.0, 0.0))
    report = BenchReport(machine, options, "now")
    report.measurements += [
        _measurement("Sealpost", 5540, 9.8),
        _measurement(PostfixServer.label, 3120, 7.8),
        _measurement(AT_POSTFIX_RATE_LABEL, 3120, 6.0),
        _measurement(AT_TARGET_RATE_LABEL, 4680, 7.0),
    ]
    by_subject = {r.subject: r for r in ratios(report)}
    target = by_subject[AT_TARGET_RATE_LABEL]
    assert target.msgs_per_s == pytest.approx(1.5)
    assert target.p99 == pytest.approx(7.0 / 7.8)
    assert by_subject[AT_POSTFIX_RATE_LABEL].msgs_per_s == pytest.approx(1.0)
    assert by_subject["Sealpost"].p99 == pytest.approx(9.8 / 7.8)
    assert f"| b, {AT_TARGET_RATE_LABEL} | 10 | 1.50x |" in inbound_markdown(report)
