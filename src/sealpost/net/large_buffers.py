"""Large buffers get pages of their own, given back when freed (glibc's mmap threshold).

Every TLS connection on uvloop holds a 256 KiB read buffer (``SSL_READ_MAX_SIZE``, malloc'd
when the TLS layer is made, freed when the connection is gone). glibc serves a request that
big with ``mmap`` only until the first such block is freed; then it raises its threshold
and carves the next ones out of the heap. There, as buffers come and go at shifting offsets
and the freed space is reused for small objects, nearly every page of them ends up resident,
and the heap keeps its high-water mark: a worker with 25 TLS connections grew 5-10 MB under
the benchmark's case b at concurrency 50 (docs/benchmarks.md). Fixing the threshold at
exactly that size keeps each buffer in a mapping of its own: only the pages a read touches
become resident (a TLS record is at most 16 KiB), and the whole mapping goes back to the
kernel when the connection closes. Measured: 400 idle STARTTLS sessions after some churn
cost 57 KB each instead of 78-79 (server and client in one process); the peak PSS of that
benchmark case 2 MB lower; about 0.1 ms of CPU more per TLS connection (a map, a few page
faults, an unmap).

Smaller requests keep glibc's defaults. Nothing of the kind is read per message: the
inbound connection reads into its listener's buffer (``asyncio.BufferedProtocol``), so the
TLS layer no longer allocates a bytes object of its whole read size for every record.

Only on glibc; elsewhere, or when the operator set ``MALLOC_MMAP_THRESHOLD_`` (glibc's own
variable, which then wins), this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform

TLS_READ_BUFFER = 256 * 1024  # uvloop's SSL_READ_MAX_SIZE
_M_MMAP_THRESHOLD = -3  # <malloc.h>
_ENV = "MALLOC_MMAP_THRESHOLD_"
GLIBC_SONAME = "libc.so.6"  # glibc's C library on every Linux architecture since glibc 2.0


@functools.cache
def glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (its malloc's knobs are glibc's own); else None.

    Loaded by its soname, never through ``ctypes.util.find_library``: that runs
    ``ldconfig -p`` in a child process, and the supervisor calls this before every fork
    (``workers.prefork``): for a moment its newest child was ldconfig, not the worker it
    was about to fork (a ``kill -9`` of "the newest worker" hit it). Looked up once per
    process."""
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(GLIBC_SONAME)
    except OSError:
        return None


def map_large_buffers(threshold: int = TLS_READ_BUFFER) -> bool:
    """Serve every allocation of ``threshold`` bytes or more with its own mapping, in this
    process and the ones it forks later. True when the setting took effect."""
    libc = None if os.environ.get(_ENV) else glibc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
