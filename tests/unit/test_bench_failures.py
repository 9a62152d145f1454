"""A part of a benchmark run that fails is reported, and the other parts still run."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from bench import outbound, run
from bench.cases import CASES, Bounds
from bench.harness import BenchOptions, BenchReport, attempt
from bench.machine import Machine
from bench.report import to_json, to_markdown

from tests.interop.postfix_peer import PostfixPeerError


def _report() -> BenchReport:
    options = BenchOptions((CASES["b"],), (10,), Bounds(10.0, 10**6))
    machine = Machine(2, "cpu", 4.0, "6", "3.11", "3.7", "ext4", (0.0, 0.0, 0.0))
    return BenchReport(machine, options, "now")


def _fail() -> None:
    raise PostfixPeerError("postkick qmgr I failed: ")


def test_a_failed_part_is_recorded_and_the_next_part_still_runs() -> None:
    report = _report()
    ran: list[str] = []
    attempt(report, "inbound", lambda: ran.append("inbound"))
    attempt(report, "outbound", _fail)
    attempt(report, "api", lambda: ran.append("api"))
    assert ran == ["inbound", "api"]
    assert [(f.part, f.error) for f in report.failures] == [
        ("outbound", "PostfixPeerError: postkick qmgr I failed: ")
    ]


def test_the_report_names_the_failed_parts() -> None:
    report = _report()
    attempt(report, "outbound", _fail)
    text = to_markdown(report)
    assert "## Parts that failed" in text
    assert "| outbound | PostfixPeerError: postkick qmgr I failed:  |" in text
    assert json.loads(to_json(report))["failures"] == [
        {"part": "outbound", "error": "PostfixPeerError: postkick qmgr I failed: "}
    ]
    assert "Parts that failed" not in to_markdown(_report())


def test_the_command_writes_the_report_and_exits_1_when_a_part_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_run(options: BenchOptions) -> BenchReport:
        report = _report()
        attempt(report, "queue", _fail)
        return report

    monkeypatch.setattr(run, "run_benchmark", failing_run)
    output = tmp_path / "report.md"
    assert run.main(["--cases", "queue", "--quick", "--output", str(output)]) == 1
    assert "| queue | PostfixPeerError" in output.read_text()


def test_a_failed_qmgr_kick_does_not_end_the_wait_for_the_deferred_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deferred = tmp_path / "deferred"
    deferred.mkdir()
    kicks: list[int] = []

    def scan_incoming(timeout: float) -> None:
        kicks.append(1)
        if len(kicks) == 1:
            raise PostfixPeerError("postkick qmgr I failed: ")
        (deferred / "A1").write_text("parked")  # the second kick gets qmgr going

    peer = SimpleNamespace(layout=SimpleNamespace(queue_dir=tmp_path), scan_incoming=scan_incoming)
    monkeypatch.setattr(outbound, "_KICK", 0.0)
    outbound._wait_deferred(peer, 1, timeout=10)  # type: ignore[arg-type]
    assert len(kicks) == 2
