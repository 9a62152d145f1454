"""contrib/sealpost.service (issue 17 part 4): the hardening is there, the stop timeout is
above the drain, and systemd itself accepts the unit (``systemd-analyze verify``) and rates
its exposure low (``systemd-analyze security --offline``)."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sealpost.config.model import ServerSection

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "sealpost.service"
INSTALLED_COMMAND = "/opt/sealpost/venv/bin/sealpost"
SUPERVISOR_MARGIN = 15.0  # runner.py: the supervisor kills workers drain_timeout + 15 s on


def service() -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string(UNIT.read_text())
    return dict(parser["Service"])


def test_the_unit_is_hardened_and_binds_low_ports_without_root():
    unit = service()
    expected = {
        "User": "sealpost",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ReadWritePaths": "/var/lib/sealpost",
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
        "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
        "Restart": "on-failure",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "KillMode": "mixed",  # one SIGTERM, to the supervisor; a second one means "now"
    }
    assert {key: unit.get(key) for key in expected} == expected
    assert unit["ExecStart"].startswith(INSTALLED_COMMAND + " serve ")


def test_systemd_waits_longer_than_the_drain():
    drain = ServerSection.model_fields["drain_timeout"].default
    assert float(service()["TimeoutStopSec"]) > drain + SUPERVISOR_MARGIN


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is not installed (apt-get install systemd)")
        pytest.skip("systemd-analyze is not installed")
    return tool


def _runnable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart on this checkout's interpreter: verify checks that the
    command exists, and /opt/sealpost is not installed here."""
    command = Path(sys.executable).with_name("sealpost")
    if not command.exists():
        command = Path(sys.executable)
    copy = tmp_path / "sealpost.service"
    copy.write_text(UNIT.read_text().replace(INSTALLED_COMMAND, str(command)))
    return copy


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path):
    tool = _systemd_analyze()
    done = subprocess.run(
        [tool, "verify", str(_runnable_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_systemd_rates_the_exposure_low(tmp_path: Path):
    tool = _systemd_analyze()
    done = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(_runnable_copy(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for sealpost\.service: ([0-9.]+)", done.stdout)
    assert match, done.stdout[-2000:] + done.stderr
    assert float(match.group(1)) <= 3.0, done.stdout[-2000:]  # 1.9 "OK" when written
