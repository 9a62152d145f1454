"""The supervisor's memory just before each fork: what the workers inherit, and keep sharing.

A forked worker shares every page of the supervisor until one of them writes to it; the
page is then copied. Three things are done to the supervisor's heap first (the advice of
the ``gc.freeze`` documentation for pre-fork servers, plus glibc's side of it):

- ``gc.collect()``: the garbage of start-up (imports, the config, ``prepare``) is freed
  now, not frozen with the rest and kept for good.
- ``malloc_trim(0)``: the pages glibc holds free in the middle of its heap go back to the
  kernel (``madvise``). Left resident, they are counted in every process that maps them,
  and a worker's first allocation there copies a page of the supervisor's garbage; trimmed,
  it gets a fresh zero page, and the supervisor holds nothing for it. Measured on the
  benchmark's server (2 workers and the writer process, after the warm-up, five
  interleaved pairs): the tree's PSS 0.2-2.2 MB lower (median 0.5 of about 113), the
  supervisor's own 0.3-0.7; at the start of case b at concurrency 50, 0.3-1.6 MB lower
  (docs/benchmarks.md). The collection alone changed nothing measurable.
- ``gc.freeze()``: every object left moves out of the collector's reach, so a collection in
  a worker does not write to the headers of the inherited objects.

Before all that, start-up runs without the collector's automatic passes (``pause_collector``,
the first thing ``sealpost serve`` does): its imports leave over 100,000 objects for the
collector to track and almost no cyclic garbage, yet it walks them over and over (2 full
passes, 23 of the middle generation and 249 of the youngest: 0.11 s by its own clock, more
in the caches it sweeps). The collection above then frees what little cyclic garbage there
is, and ``prepare_fork`` turns the collector back on for the supervisor and every worker; a
single process (``workers = 1``) turns it on before its loop starts, and a start-up that
fails on its way out. Measured (fifteen interleaved pairs, the serving imports alone):
1.43 s of CPU instead of 1.61 (medians; every pair faster, by 0.05-0.35 s); the tree's PSS
after start-up 0.3-0.4 MB higher (of 109: the holes the last collection leaves,
docs/benchmarks.md).

What no parent can prevent on Python 3.11 is the copies made by reference counts and by the
interpreter specializing the bytecode a worker runs: 11-16 MB of each worker's private
pages (docs/architecture.md, Memory). glibc only: elsewhere the trim is skipped.
"""

from __future__ import annotations

import ctypes
import gc

from sealpost.net.large_buffers import glibc


def pause_collector() -> None:
    """Start-up without the collector's automatic passes (``sealpost serve``, first thing).
    ``prepare_fork`` turns it back on, or ``resume_collector`` when no fork comes."""
    gc.disable()


def resume_collector() -> None:
    """Automatic collections again (the end of ``pause_collector``; harmless when on)."""
    gc.enable()


def prepare_fork() -> None:
    """Collect, give the heap's free pages back, freeze, and collect automatically from now
    on (a ``pause_collector`` ends here); call right before ``os.fork``."""
    gc.collect()
    trim_heap()
    gc.freeze()
    resume_collector()


def trim_heap() -> bool:
    """glibc's ``malloc_trim(0)``: True when it gave memory back to the kernel."""
    libc = glibc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return bool(trim(0))
