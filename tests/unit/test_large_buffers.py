"""``map_large_buffers``: after it, a block of uvloop's TLS read buffer size is a mapping of
its own even once such a block was freed (glibc would otherwise raise its threshold and put
the next ones in the heap). Checked in a fresh interpreter, by the chunk header's
IS_MMAPPED bit, so the test process's own allocator is left alone."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
from sealpost.net.large_buffers import TLS_READ_BUFFER, map_large_buffers
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
if sys.argv[1] == "set":
    assert map_large_buffers()
mapped = []
for _ in range(3):  # a free, then the next block of the same size
    block = libc.malloc(TLS_READ_BUFFER)
    header = ctypes.c_size_t.from_address(block - ctypes.sizeof(ctypes.c_size_t)).value
    mapped.append(bool(header & 2))  # glibc's IS_MMAPPED
    libc.free(block)
print(mapped)
"""

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")


def probe(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_glibc_alone_moves_the_second_buffer_into_the_heap():
    assert probe("default") == "[True, False, False]"


def test_with_the_threshold_every_buffer_is_its_own_mapping():
    assert probe("set") == "[True, True, True]"


def test_an_operators_own_setting_wins(monkeypatch: pytest.MonkeyPatch):
    from sealpost.net.large_buffers import map_large_buffers

    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert map_large_buffers() is False
