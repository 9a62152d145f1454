"""TLS reads that do not allocate 256 KiB for a few bytes (uvloop's TLS layer).

uvloop's TLS layer (``SSLProtocol``) asks ``SSLObject.read(262144)``, without a buffer, in
two places. A server connection (our ``BufferedProtocol``) does so only for application data
it then discards: as a connection closes it drains what is left (``_do_read_into_void``),
and again when the peer's ``close_notify`` arrives. A plain ``Protocol`` (the outbound SMTP
client's ``net.stream``, httpx's connections) does so for *every* read
(``_do_read__copied``): each reply of the remote server cost a 256 KiB ``mmap``, a page
fault, an ``mremap`` down to the bytes read and later a ``munmap``: Python's ``ssl``
allocates a bytes object of the whole 256 KiB before ``SSL_read`` runs, and with the mmap
threshold at that size (``large_buffers``) that allocation is a mapping of its own. In the
server's drain the read nearly always finds nothing (``SSLWantReadError``), and the
mapping is freed at once. Measured: an empty read costs 19-21 µs that way and 2.4-5.3 µs through
the scratch buffer (one process, memory BIOs); in the benchmark's case b (one message per
STARTTLS session) py-spy found 6.6% of the workers' samples in those reads against 0.8% for
every read of real data; end to end the saving (a few such reads per connection) is below
that machine's noise (docs/benchmarks.md, 2026-12-06, night).

The outbound drain measured on 2026-12-08 (10,000 messages, py-spy and ``perf``): 8% of the
workers' samples on that line, and ``mmap``/``mremap``/``munmap`` with their page faults
7.8% of their CPU.

``ScratchSSLObject.read`` of more than a record, without a buffer, reads into a scratch
buffer the size of a TLS record's largest payload (2^14 bytes, RFC 8446 section 5.1;
RFC 5246 section 6.2.1) and returns a copy of what it read. A caller gets the same bytes,
perhaps in more calls (``read`` may return less than asked; every caller in uvloop and
asyncio reads until ``SSLWantReadError`` or end of data). ``net.tls.server_context`` and
``net.client_tls`` make their contexts' ``wrap_bio`` return it
(``SSLContext.sslobject_class``). The copy is made before the next read; the buffer is
the thread's own (``SSL_read`` runs without the GIL), so one serves every connection an
event loop reads.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

RECORD_PAYLOAD = 1 << 14  # the most plaintext one TLS record carries


class _Scratch(threading.local):
    """One record's worth of buffer per thread (made on a thread's first large read)."""

    def __init__(self) -> None:
        self.buffer = bytearray(RECORD_PAYLOAD)
        self.view = memoryview(self.buffer)


_scratch = _Scratch()


class ScratchSSLObject(ssl.SSLObject):
    """An ``SSLObject`` whose large unbuffered reads go through the scratch buffer."""

    def read(self, len: int = 1024, buffer: Any = None) -> Any:  # ssl's parameter names
        if buffer is not None or len <= RECORD_PAYLOAD:
            return super().read(len, buffer)
        scratch = _scratch
        count = super().read(RECORD_PAYLOAD, scratch.buffer)
        return scratch.view[:count].tobytes()
