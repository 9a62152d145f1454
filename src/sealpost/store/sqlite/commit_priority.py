"""The queue writer thread's CPU priority: a commit runs ahead of TLS and parsing work.

A commit is short (a fraction of a millisecond of CPU and one ``fdatasync``) and everything
waits on it: the ``250`` of every message in its batch (RFC 5321 section 6.1, nothing is
acknowledged before it is on disk) and, while it holds the writers' lock file (``writer``),
the other workers' commits as well. On a busy machine the scheduler makes the writer thread
wait for a core behind the event loops' handshakes and whatever else runs there, and when
that happens inside the lock every worker waits with it.

Measured (docs/benchmarks.md, "The queue writer's priority"), interleaved A/B on 2 cores
shared with the load generator: nice -4 took case b at concurrency 10 from p50 2.77 / p99
6.80 ms to 2.51 / 6.18 ms and case c from 2.22 / 7.56 to 2.08 / 6.08 ms at the same msgs/s.
Nice -10 gained as much latency but cost 5-7% of msgs/s and up to 18% more CPU per message:
a writer that always preempts commits smaller batches.

So the writer thread asks for a nice value ``BOOST`` steps below its process's. Linux keeps
a nice value per thread (``setpriority(PRIO_PROCESS, tid)``) and allows the lower value to a
process with ``CAP_SYS_NICE`` or within its ``RLIMIT_NICE`` (systemd's ``LimitNICE=``, which
contrib/sealpost.service sets). Without either, the thread keeps its process's priority,
one INFO line says how to grant it, and everything works as before, a little slower.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)
BOOST = 4  # nice steps below the process: a weight of 2.4:1 against the event loops
NICE_MIN = -20


def boost_current_thread(steps: int = BOOST) -> int | None:
    """Lower this thread's nice value by ``steps`` (not below -20); the new value, or None
    when the system refused it (then nothing changed)."""
    if not hasattr(os, "setpriority"):  # not Linux or BSD: nothing to ask for
        return None
    tid = threading.get_native_id()
    base = os.getpriority(os.PRIO_PROCESS, tid)
    wanted = max(NICE_MIN, base - steps)
    try:
        os.setpriority(os.PRIO_PROCESS, tid, wanted)
    except OSError as exc:
        log.info(
            "queue writer runs at its process's priority (nice %d): raising it to %d was "
            "refused (%s). Commits then wait for a core behind TLS work on a busy machine; "
            "allow it with LimitNICE=%d in the systemd unit, or CAP_SYS_NICE "
            "(docs/operations.md, Running under systemd)",
            base,
            wanted,
            exc.strerror or exc,
            wanted,
        )
        return None
    return wanted
