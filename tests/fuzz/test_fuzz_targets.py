"""Every coverage-guided fuzz target (``fuzz/<target>.py``, checklist L) runs briefly.

Each target runs as its own process under libFuzzer for a few seconds: first over its whole
corpus in ``fuzz/corpus/<target>/`` (the seeds and every input that earlier long runs found
interesting, so a regression on any of them fails here), then mutating it. New corpus units
and crash files go to a temporary directory, so the repository is never written. A crash (an
escaped exception or a broken invariant), a timeout or running out of memory fails the test,
which prints the input that caused it. ``make fuzz`` runs the same targets for longer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
TARGETS = [
    "smtp_server",
    "client_replies",
    "mta_sts",
    "dsn_parse",
    "rfc822",
    "config_loader",
    "tlsrpt_report",
]
SECONDS = 4  # per target; the whole file stays under about 40 s


def fuzz_command(target: str, work: Path) -> list[str]:
    (work / "new").mkdir()
    command = [
        sys.executable,
        str(FUZZ / f"{target}.py"),
        f"-max_total_time={SECONDS}",
        "-rss_limit_mb=1024",
        "-timeout=10",
        "-seed=1",
        "-print_final_stats=1",
        f"-artifact_prefix={work}/",
    ]
    dictionary = FUZZ / f"{target}.dict"
    if dictionary.exists():
        command.append(f"-dict={dictionary}")
    return [*command, str(work / "new"), str(FUZZ / "corpus" / target)]


def findings(work: Path) -> str:
    """Each crash, timeout or out-of-memory input libFuzzer saved, shown as Python bytes."""
    found = [
        f"{path.name}: {path.read_bytes()!r}"
        for prefix in ("crash-", "timeout-", "oom-", "slow-unit-", "leak-")
        for path in sorted(work.glob(f"{prefix}*"))
    ]
    return "\n".join(found) or "(no input saved)"


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_finds_nothing_in_a_short_run(target: str, tmp_path: Path) -> None:
    corpus = FUZZ / "corpus" / target
    assert len(list(corpus.iterdir())) >= 5, f"{corpus} lost its seeds"
    proc = subprocess.run(
        fuzz_command(target, tmp_path),
        capture_output=True,
        text=True,
        errors="replace",
        timeout=SECONDS * 10 + 60,
        check=False,
    )
    assert proc.returncode == 0, (
        f"fuzz/{target}.py failed (exit {proc.returncode}).\n"
        f"Inputs:\n{findings(tmp_path)}\n"
        f"Output (tail):\n{proc.stderr[-4000:]}"
    )
    assert "Done " in proc.stderr, proc.stderr[-2000:]
    assert "stat::number_of_executed_units" in proc.stderr
