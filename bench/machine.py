"""The machine a benchmark ran on: cores, CPU model (from /proc/cpuinfo), memory, versions.

Owns the facts a reader needs to compare a table with their own hardware.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu_model: str
    memory_gb: float
    kernel: str
    python: str
    postfix: str
    filesystem: str  # where both queues live (/tmp): fsync cost depends on it
    load_average: tuple[float, float, float]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        load = ", ".join(f"{x:.2f}" for x in self.load_average)
        return (
            f"{self.cores} cores, {self.cpu_model}, {self.memory_gb:.1f} GB RAM, "
            f"Linux {self.kernel}, Python {self.python}, Postfix {self.postfix}, "
            f"queues on {self.filesystem}; "
            f"load average at start {load}"
        )


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def postfix_version() -> str:
    try:
        result = subprocess.run(
            ["/usr/sbin/postconf", "-d", "-h", "mail_version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() or "unknown"


def filesystem_of(path: Path = Path("/tmp")) -> str:
    """``"ext4 on /dev/vda"`` for the mount holding ``path``."""
    resolved = str(path.resolve())
    best = None
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and (best is None or len(mount) > len(best.mountpoint)):
            best = part
    return f"{best.fstype} on {best.device}" if best else "unknown"


def describe_machine() -> Machine:
    return Machine(
        cores=os.cpu_count() or 1,
        cpu_model=cpu_model(),
        memory_gb=psutil.virtual_memory().total / 2**30,
        kernel=platform.release(),
        python=platform.python_version(),
        postfix=postfix_version(),
        filesystem=filesystem_of(),
        load_average=os.getloadavg(),
    )
