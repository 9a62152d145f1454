"""Run swaks (the Swiss Army Knife for SMTP) as a real third-party SMTP client.

Owns one thing: invoking ``swaks`` with a bounded timeout and handing back its transcript
(stdout and stderr interleaved, in the order swaks wrote them) as a ``CompletedProcess``.
Use ``--no-data-fixup`` with ``input_data`` / ``--data -`` to put exact bytes on the wire,
e.g. bare LF for smuggling tests (RFC 5321 section 2.3.8).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

SWAKS = "swaks"


def run_swaks(
    args: Sequence[str],
    timeout: float = 20,
    *,
    input_data: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``swaks *args``; ``stdout`` is the whole transcript, ``returncode`` swaks' status.

    Raises ``FileNotFoundError`` when swaks is missing (tests call ``require_binary`` first)
    and ``subprocess.TimeoutExpired`` when it outlives ``timeout`` seconds.
    """
    binary = shutil.which(SWAKS)
    if binary is None:
        raise FileNotFoundError("swaks is not installed (apt-get install swaks)")
    result = subprocess.run(
        [binary, *args],
        input=input_data,
        stdin=None if input_data is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=timeout,
        check=False,
    )
    transcript = result.stdout.decode("utf-8", errors="replace")
    return subprocess.CompletedProcess(result.args, result.returncode, transcript, None)
