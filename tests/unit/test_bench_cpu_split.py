"""``bench.cpu_split``: ``--loadgen-cpus``, the split, the mask a started process gets."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from bench.cpu_split import CpuSplit, parse_cpus, started_on
from bench.run import options_from


def test_lists_and_ranges_parse_to_sorted_cpus() -> None:
    assert parse_cpus("0") == (0,)
    assert parse_cpus("3,1") == (1, 3)
    assert parse_cpus("0-2,5") == (0, 1, 2, 5)


@pytest.mark.parametrize("text", ["", "x", "2-1", "-1", "0-a"])
def test_bad_cpu_lists_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_cpus(text)


def test_the_servers_get_every_cpu_the_generator_does_not() -> None:
    split = CpuSplit.of((0,), available={0, 1, 2})
    assert split == CpuSplit(loadgen=(0,), servers=(1, 2))
    assert split.describe() == "load generator pinned to CPU 0, servers to CPU 1,2"


def test_a_split_needs_cpus_on_both_sides_that_exist() -> None:
    with pytest.raises(ValueError, match="not available"):
        CpuSplit.of((4,), available={0, 1})
    with pytest.raises(ValueError, match="no CPU left"):
        CpuSplit.of((0, 1), available={0, 1})


def test_a_process_started_inside_runs_on_the_given_cpus_and_the_mask_comes_back() -> None:
    mine = os.sched_getaffinity(0)
    cpu = min(mine)
    with started_on((cpu,)):
        out = subprocess.run(
            [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    assert out.strip() == f"[{cpu}]"
    assert os.sched_getaffinity(0) == mine
    with started_on(None):
        assert os.sched_getaffinity(0) == mine


def test_the_command_line_takes_and_checks_the_option() -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("a split needs two CPUs")
    cpu = min(os.sched_getaffinity(0))
    options, _ = options_from(["--cases", "b", "--loadgen-cpus", str(cpu)])
    assert options.cpu_split is not None and options.cpu_split.loadgen == (cpu,)
    assert options_from(["--cases", "b"])[0].cpu_split is None
    with pytest.raises(SystemExit):
        options_from(["--cases", "b", "--loadgen-cpus", "9999"])
