"""A running Sealpost with outbound delivery pointed at loopback fixtures.

Real DNS (the dnslib server), a real SMTP sink with a trustme certificate as the MX, a real
HTTPS server for MTA-STS policies, and the real server (uvloop, SQLite) between them.
Messages enter through ``Submission`` as an authenticated submission would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.events import EventRecord
from sealpost.model.queue import StoredMessage
from tests.support import ServerThread

MX = "mx.example.test"
WAIT = 20.0


def message_bytes(subject: str = "hello", sender: str = "alice@sealpost.test") -> bytes:
    return (
        f"From: {sender}\r\nTo: bob@example.net\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject}@sealpost.test>\r\n\r\nbody of {subject}\r\n.dot line\r\n"
    ).encode()


def trust_bundle(directory: Path, *ca_files: Path) -> Path:
    bundle = directory / "trusted-cas.pem"
    bundle.write_bytes(b"".join(p.read_bytes() for p in ca_files))
    return bundle


@dataclass
class Rig:
    server: ServerThread

    def submit(
        self,
        rcpts: list[str],
        *,
        mail_from: str = "alice@sealpost.test",
        data: bytes | None = None,
        requiretls: bool = False,
        tls_minimum: str | None = None,
    ) -> str:
        message = InboundMessage(
            Envelope(mail_from, tuple(rcpts), requiretls=requiretls, tls_minimum=tls_minimum),
            SessionInfo(
                "submission",
                "127.0.0.1",
                40000,
                helo="client.test",
                auth_user="0123abcd",
                local_hostname=MX,
            ),
            data if data is not None else message_bytes(),
        )
        app = self.server.app
        return self.server.call(lambda: app.submission.submit(message)).message_id

    def events(self, *kinds: str, message_id: str | None = None) -> list[EventRecord]:
        store = self.server.app.store
        return self.server.call(
            lambda: store.list_events(types=list(kinds) or None, message_id=message_id, limit=1000)
        )

    def wait_events(
        self, *kinds: str, count: int = 1, message_id: str | None = None
    ) -> list[EventRecord]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            found = self.events(*kinds, message_id=message_id)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"wanted {count} {kinds} events; have {self.events()}")

    def stored(self, message_id: str) -> StoredMessage:
        store = self.server.app.store
        found = self.server.call(lambda: store.get(message_id))
        assert found is not None
        return found

    def all_messages(self) -> list[StoredMessage]:
        store = self.server.app.store

        async def read() -> list[StoredMessage]:
            rows = await store.list(limit=1000)
            return [m for r in rows if (m := await store.get(r.id)) is not None]

        return self.server.call(read)


def start_rig(
    start_server,
    dns_server,
    sink,
    *,
    ca_file: Path | None,
    delivery: dict | None = None,
    https_port: int = 9,
    tls_policy: dict | None = None,
    **tables: dict,
) -> Rig:
    dns_server.add("example.net", "MX", (10, MX))
    dns_server.add(MX, "A", "127.0.0.1")
    settings = {
        "enabled": True,
        "smtp_port": sink.port,
        "poll_interval": 0.1,
        "minimal_backoff": 0.3,
        "maximal_backoff": 0.3,
        "connect_timeout": 5,
        "command_timeout": 5,
        "data_timeout": 5,
        "tls_handshake_timeout": 5,
        **(delivery or {}),
    }
    if ca_file is not None:
        settings["ca_file"] = str(ca_file)
    all_tables = {
        "dns": {"nameservers": [dns_server.nameserver], "timeout": 2},
        "delivery": settings,
        "mta_sts": {"https_port": https_port},
        **tables,
    }
    if tls_policy:
        all_tables["delivery.tls_policy"] = tls_policy
    server = start_server(server={"local_domains": ["sealpost.test"]}, tables=all_tables)
    return Rig(server)
