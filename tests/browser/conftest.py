"""Browser tests of the web console: Debian's ``chromium`` (``/usr/bin/chromium``, installed
by ``scripts/test``) driven by Playwright's Python package, which never downloads a browser
here (``executable_path``). One server and one browser per module keep them fast; each test
gets a fresh browser context (no cookies). The server delivers over real SMTP to a sink with
a trustme certificate found through the real DNS test server, so messages have real TLS
records. Without chromium the tests are skipped locally and fail in CI (``CI=true``)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sealpost.api_keys import create_key
from sealpost.config.loader import load_config
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.grants import ALL_GRANTS, Grant
from sealpost.model.queue_admin import Suspension
from tests.fixtures.dns_server import DnsServer
from tests.fixtures.smtp_sink import SmtpSink, make_certificates, running_sinks
from tests.support import ServerThread, make_pki, write_config

CHROMIUM = os.environ.get("SEALPOST_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).with_name("axe.min.js")
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
MX = "mx.example.test"
PARKED = "parked.test"  # a suspended domain: its mail stays queued, never attempted
WAIT = 20.0


def _chromium() -> str:
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: scripts/test installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@dataclass
class ConsoleRig:
    server: ServerThread
    sink: SmtpSink
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.server.ports['api']}"

    def key(self, name: str, grants: frozenset[Grant]) -> str:
        store = self.server.app.store
        key, _ = self.server.call(lambda: create_key(store, name, 0.0, grants=grants))
        self.keys[name] = key
        return key

    def submit(self, rcpt: str, subject: str, sender: str = "alice@sealpost.test") -> str:
        data = (
            f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@sealpost.test>\r\n\r\nbody of {subject}\r\n"
        ).encode()
        message = InboundMessage(
            Envelope(sender, (rcpt,)),
            SessionInfo("submission", "127.0.0.1", 40000, helo="client.test", local_hostname=MX),
            data,
        )
        app = self.server.app
        return self.server.call(lambda: app.submission.submit(message)).message_id

    def state(self, message_id: str) -> str:
        store = self.server.app.store
        stored = self.server.call(lambda: store.get(message_id))
        assert stored is not None
        return stored.state

    def wait_state(self, message_id: str, state: str) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if self.state(message_id) == state:
                return
            time.sleep(0.05)
        raise AssertionError(f"{message_id} never reached {state}: {self.state(message_id)}")


@pytest.fixture(scope="module")
def rig(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ConsoleRig]:
    """The module's server; a module's ``RIG_TABLES`` adds or replaces config tables."""
    tmp = tmp_path_factory.mktemp("console")
    pki = make_pki(tmp / "pki")
    certs = make_certificates(tmp / "sink-pki")
    sinks = running_sinks()
    start_sink = next(sinks)
    with DnsServer() as dns:
        dns.add("example.net", "MX", (10, MX))
        dns.add(MX, "A", "127.0.0.1")
        sink = start_sink(cert=certs.good)
        tables = {
            "dns": {"nameservers": [dns.nameserver], "timeout": 2},
            "delivery": {
                "enabled": True,
                "smtp_port": sink.port,
                "poll_interval": 0.1,
                "minimal_backoff": 300,
                "maximal_backoff": 300,
                "connect_timeout": 5,
                "ca_file": str(certs.ca_file),
            },
            "mta_sts": {"https_port": 9},
            "console": {"enabled": True, "login_per_minute": 1000},
            **getattr(request.module, "RIG_TABLES", {}),
        }
        path = write_config(tmp, pki, server={"local_domains": ["sealpost.test"]}, tables=tables)
        server = ServerThread(load_config(path)).start()
        try:
            store = server.app.store
            server.call(lambda: store.suspend_domain(Suspension(PARKED, time.time()), time.time()))
            rig = ConsoleRig(server, sink)
            every = frozenset(ALL_GRANTS)
            rig.key("admin", every)
            rig.key("no-console", every - {Grant.CONSOLE_ACCESS})
            rig.key("viewer", every - {Grant.QUEUE_MANAGE})
            rig.key("console-only", frozenset({Grant.CONSOLE_ACCESS}))
            yield rig
        finally:
            server.stop()
            next(sinks, None)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser, rig: ConsoleRig):
    """A page in a fresh context (no cookies); the test CA is not the browser's, so HTTPS
    errors are ignored (the certificate is checked by every other test). After the test,
    the browser's console must show no Content-Security-Policy refusal."""
    context = browser.new_context(
        ignore_https_errors=True, base_url=rig.base, viewport={"width": 1200, "height": 900}
    )
    context.set_default_timeout(WAIT * 1000)
    page = context.new_page()
    logged: list[str] = []
    page.on("console", lambda message: logged.append(message.text))
    yield page
    context.close()
    # No inline script or style anywhere: the CSP never had to refuse one.
    assert not [line for line in logged if "Content Security Policy" in line], logged


def log_in(page, key: str, then: str = "/console/") -> None:
    page.goto(f"/console/login?next={then}")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def axe_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now. The script is
    evaluated through the DevTools protocol, which the page's CSP does not govern."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
