"""Runs the composition root on the fastest event loop available (uvloop when installed)."""

from __future__ import annotations

import asyncio
import logging

from sealpost.app import Sealpost
from sealpost.config.model import Config
from sealpost.net.devcert import is_self_signed

log = logging.getLogger("sealpost")


async def serve(config: Config) -> None:
    server = Sealpost(config)
    await server.start()
    if is_self_signed(config.tls.cert_file):
        log.warning(
            "TLS certificate %s is self-signed: fine for development, not for "
            "production (clients cannot verify it)",
            config.tls.cert_file,
        )
    print(
        "sealpost ready: " + ", ".join(f"{b.name}={b.host}:{b.port}/{b.tls}" for b in server.bound),
        flush=True,
    )
    await server.run()


def run_server(config: Config) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(serve(config))
        return
    uvloop.run(serve(config))
