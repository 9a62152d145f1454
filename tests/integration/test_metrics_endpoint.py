"""The metrics and health listener of a real server ([metrics], issue 15 part 3).

Real traffic moves the counters: SMTP on a real socket, an API transmission over HTTPS, a
real delivery to a loopback SMTP sink found through the loopback DNS server. ``/metrics`` is
read over HTTP and must parse (prometheus_client's parser, and ``promtool check metrics``
when Debian's prometheus package is installed); ``/healthz`` and ``/readyz`` answer on the
same listener, and ``/readyz`` turns 503 when the store stops answering.
"""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sealpost import __version__
from sealpost.webhooks.worker import WebhookWorker
from tests.fixtures.postgres import admin
from tests.fixtures.webhook_receiver import (  # noqa: F401 (fixture)
    WebhookReceiver,
    webhook_receiver_fixture,
)
from tests.integration.delivery_rig import start_rig, trust_bundle
from tests.integration.test_api_webhooks import (  # noqa: F401 (fixtures)
    FAST,
    api,
    basic_hook,
    hook_server,
    send_mail,
    wait_status,
)
from tests.integration.test_workers import PLAIN, serving_pid
from tests.serve_process import ServerProcess
from tests.support import Pki, ServerThread, write_config

WAIT = 20.0
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape_text(port: int) -> str:
    r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    return r.text


def samples_of(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


# The suite's servers run without a metrics listener (tests/support.write_config: a uvicorn
# start and stop per server cost every other test a third of its time); this module's serve
# their metrics.
METRICS = {"metrics": {"address": "127.0.0.1:0"}}


@pytest.fixture
def start_server(start_server: Callable[..., ServerThread]) -> Callable[..., ServerThread]:
    def start(*args: object, tables: dict | None = None, **kwargs: object) -> ServerThread:
        return start_server(*args, tables=METRICS | (tables or {}), **kwargs)

    return start


def promtool_accepts(text: str) -> None:
    """``promtool check metrics`` (the exposition format and naming lint), when installed."""
    promtool = shutil.which("promtool")
    if promtool is None:
        assert not os.environ.get("CI"), "promtool not installed (Debian package prometheus)"
        return
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} within {WAIT:.0f} s")


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    return sum(
        value
        for (sample, found), value in samples.items()
        if sample == name and set(labels.items()) <= set(found)
    )


def api_transmission(server: ServerThread, pki: Pki, rcpt: str) -> None:
    from sealpost.api_keys import create_key

    key, _ = server.call(lambda: create_key(server.app.store, "metrics", 0.0))
    request = {
        "recipients": [{"address": rcpt}],
        "content": {"from": "alice@sealpost.test", "subject": "via api", "text": "hi"},
    }
    with httpx.Client(verify=pki.client_context(), timeout=10) as c:
        r = c.post(
            f"https://127.0.0.1:{server.ports['api']}/api/v1/transmissions",
            json=request,
            headers={"Authorization": key},
        )
    assert r.status_code == 200, r.text


def test_counters_move_with_real_smtp_api_and_delivery(
    start_server, dns_server, smtp_sink, sink_certs, pki: Pki
):
    sink = smtp_sink(cert=sink_certs.good)
    rig = start_rig(
        start_server,
        dns_server,
        sink,
        ca_file=sink_certs.ca_file,
        metrics={"address": "127.0.0.1:0", "domains": ["example.net"]},
    )
    server = rig.server
    port = server.ports["metrics"]
    # SMTP on the plain listener, for a local domain: accepted and held here.
    with smtplib.SMTP("127.0.0.1", server.ports["plain"], timeout=10) as client:
        client.sendmail("a@elsewhere.test", ["postmaster@sealpost.test"], "Subject: x\r\n\r\nx")
    # The API, to a remote domain: delivered to the sink over verified STARTTLS.
    api_transmission(server, pki, "bob@example.net")
    wait_for(lambda: len(sink.messages) == 1, "the API message was not delivered")

    def delivered() -> bool:
        found = samples_of(scrape_text(port))
        return total(found, "sealpost_delivery_attempts_total", result="delivered") == 1

    wait_for(delivered, "the delivery was not counted")
    text = scrape_text(port)
    promtool_accepts(text)
    found = samples_of(text)
    accepted = "sealpost_messages_accepted_total"
    assert total(found, accepted, listener="plain", method="smtp") == 1
    assert total(found, accepted, listener="api", method="api") == 1
    attempt = {"result": "delivered", "tls": "verified", "policy_source": "default"}
    assert total(found, "sealpost_delivery_attempts_total", domain="example.net", **attempt) == 1
    assert found[("sealpost_queue_messages", (("state", "held"),))] == 1
    assert found[("sealpost_queue_gauges_up", ())] == 1
    assert found[("sealpost_store_commit_seconds_count", ())] >= 2
    assert total(found, "sealpost_build_info") == 1
    assert total(found, "sealpost_smtp_connections_open") == 0  # the SMTP client has gone
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"store": "ok", "listeners": "ok"}}
    assert httpx.get(f"http://127.0.0.1:{port}/nothing", timeout=10).status_code == 404


def test_open_connections_and_per_ip_421s_are_counted(start_server):
    server = start_server(server={"max_connections_per_ip": 1, "limit_exempt": []})
    port = server.ports["metrics"]
    with smtplib.SMTP("127.0.0.1", server.ports["plain"], timeout=10) as first:
        first.ehlo("one.test")
        found = samples_of(scrape_text(port))
        assert found[("sealpost_smtp_connections_open", (("listener", "plain"),))] == 1
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP("127.0.0.1", server.ports["plain"], timeout=10)
        assert refused.value.smtp_code == 421
    found = samples_of(scrape_text(port))
    assert found[("sealpost_smtp_connections_refused_total", (("limit", "per_ip"),))] == 1


def test_no_domain_label_for_domains_the_operator_did_not_list(
    start_server, dns_server, smtp_sink, sink_certs
):
    """Mail to many domains (here: none resolves) adds no series per domain."""
    sink = smtp_sink(cert=sink_certs.good)
    rig = start_rig(start_server, dns_server, sink, ca_file=sink_certs.ca_file)
    port = rig.server.ports["metrics"]
    domains = [f"d{n}-nowhere.test" for n in range(25)]
    rig.submit([f"user@{d}" for d in domains])

    def counted() -> bool:
        found = samples_of(scrape_text(port))
        return total(found, "sealpost_delivery_attempts_total") >= len(domains)

    wait_for(counted, "the attempts to every domain were not counted")
    text = scrape_text(port)
    assert not any(d in text for d in domains)
    series = [k for k in samples_of(text) if k[0] == "sealpost_delivery_attempts_total"]
    assert series and all(dict(labels)["domain"] == "other" for _, labels in series)
    assert len(series) <= 3  # result x tls outcome, not x domain


@pytest.mark.parametrize("workers", [2, 1])
def test_every_worker_is_counted_at_one_address(
    tmp_path: Path, pki: Pki, dns_server, smtp_sink, workers: int
):
    """``sealpost serve`` as a real process: whichever worker accepted a message, the one
    metrics listener counts it, and the primary's deliveries too."""
    sink = smtp_sink()
    tables = {
        "dns": {"nameservers": [dns_server.nameserver], "timeout": 2},
        "delivery": {"enabled": True, "poll_interval": 0.2, "default_tls": "may"},
        "delivery.routes": {"example.test": f"127.0.0.1:{sink.port}"},
    }
    config = write_config(
        tmp_path, pki, listeners=[PLAIN], server={"workers": workers}, tables=METRICS | tables
    )
    server = ServerProcess(config).start()
    try:
        served: set[int] = set()
        sent = 0
        while sent < 40 and (sent < 6 or len(served) < workers):
            with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as client:
                client.ehlo("workers.test")
                assert client.sock is not None
                if workers > 1:
                    served.add(serving_pid(server, client.sock))
                else:  # one process: the server itself, no workers
                    served.add(server.proc.pid)
                client.sendmail("a@sender.test", ["u@example.test"], f"Subject: {sent}\r\n\r\nx")
            sent += 1
        assert len(served) == workers, "not every worker served a connection"
        wait_for(lambda: len(sink.messages) == sent, "not every message was delivered")
        port = server.ports["metrics"]

        def counted() -> bool:
            found = samples_of(scrape_text(port))
            return total(found, "sealpost_delivery_attempts_total") == sent

        wait_for(counted, "the deliveries were not counted")
        text = scrape_text(port)
        promtool_accepts(text)
        found = samples_of(text)
        accepted = "sealpost_messages_accepted_total"
        assert total(found, accepted, listener="mx", method="smtp") == sent
        attempt = {"result": "delivered", "tls": "plaintext", "policy_source": "default"}
        assert total(found, "sealpost_delivery_attempts_total", **attempt) == sent
        assert total(found, "sealpost_smtp_connections_open") == 0
        assert found[("sealpost_store_commit_seconds_count", ())] >= 2 * sent
        assert found[("sealpost_build_info", (("version", __version__),))] == 1
        assert found[("sealpost_queue_messages", (("state", "queued"),))] == 0
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        if workers > 1:  # a worker killed and forked again: its counts are not lost, and
            # the connection it held no longer counts as open
            held = smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10)
            held.ehlo("held.test")
            assert held.sock is not None
            victim = serving_pid(server, held.sock)
            found = samples_of(scrape_text(port))
            assert total(found, "sealpost_smtp_connections_open") == 1
            os.kill(victim, signal.SIGKILL)
            held.close()
            wait_for(
                lambda: victim not in server.worker_pids() and len(server.worker_pids()) == 2,
                "the killed worker was not replaced",
            )
            wait_for(lambda: _answers(port), "the metrics listener did not answer again")
            found = samples_of(scrape_text(port))
            assert total(found, accepted, listener="mx", method="smtp") == sent
            assert total(found, "sealpost_smtp_connections_open") == 0
    finally:
        server.terminate()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_readyz_fails_while_the_store_is_unreachable(start_server, pg_server: str, pg_url: str):
    """A PostgreSQL store whose database stops taking connections (and loses the ones it
    had): /readyz answers 503 naming the store, the queue gauges report the store out, and
    both recover once the database is back. /healthz stays 200 throughout."""
    server = start_server(
        store_url=pg_url, tables={"metrics": {"address": "127.0.0.1:0", "queue_cache_seconds": 0}}
    )
    base = f"http://127.0.0.1:{server.ports['metrics']}"
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    name = pg_url.rsplit("/", 1)[1]
    admin(pg_server, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    try:
        admin(
            pg_server,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
        )
        ready = httpx.get(f"{base}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["checks"]["store"] in ("unreachable", "timeout")
        assert ready.json()["checks"]["listeners"] == "ok"
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        found = samples_of(scrape_text(server.ports["metrics"]))
        assert found[("sealpost_queue_gauges_up", ())] == 0
    finally:
        admin(pg_server, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    wait_for(
        lambda: httpx.get(f"{base}/readyz", timeout=10).status_code == 200,
        "/readyz did not recover",
    )


def test_webhook_failures_and_lag_are_counted(
    api: httpx.Client,  # noqa: F811 (the fixtures imported above)
    hook_server: ServerThread,  # noqa: F811
    webhook_receiver: WebhookReceiver,
):
    """Two failed POSTs, then the batch is delivered: two ``failed``, one ``delivered``
    with its lag observed."""
    server = hook_server
    assert server.app is not None
    app = server.app
    hook_id = api.post("/webhooks", json=basic_hook(webhook_receiver)).json()["results"]["id"]
    webhook_receiver.fail_next(2, status=503)
    if app.webhooks is not None:  # test-speed retries in place of the configured worker
        server.call(app.webhooks.stop)

    async def make() -> WebhookWorker:
        worker = WebhookWorker(
            app.store, guard=app.egress, ca_file=server.config.delivery.ca_file, settings=FAST
        )
        worker.on_batch(app.metrics.count_webhook_batch)
        worker.start()
        return worker

    server.webhook_worker = server.call(make)  # type: ignore[attr-defined]
    send_mail(server, "ann@example.test")
    wait_status(api, hook_id, webhook_receiver, count=3)
    found = samples_of(scrape_text(server.ports["metrics"]))
    batches = "sealpost_webhook_batches_total"
    assert found[(batches, (("result", "failed"),))] == 2
    assert found[(batches, (("result", "delivered"),))] == 1
    assert found[("sealpost_webhook_lag_seconds_count", ())] == 1
    assert 0 <= found[("sealpost_webhook_lag_seconds_sum", ())] < WAIT


def test_mta_sts_fetches_and_policy_refusals_are_counted(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path: Path
):
    """An MTA-STS ``enforce`` policy (fetched over real HTTPS) that lists no MX of the
    domain: the fetch counts ``ok``, the attempt ``policy_refused`` from ``mta-sts``."""
    sink = smtp_sink(cert=sink_certs.good)
    dns_server.add("_mta-sts.example.net", "TXT", "v=STSv1; id=20261203;")
    dns_server.add("mta-sts.example.net", "A", "127.0.0.1")
    policy = "version: STSv1\nmode: enforce\nmx: *.elsewhere.example\nmax_age: 86400\n"
    https_server.policy("example.net", policy)
    bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file)
    rig = start_rig(start_server, dns_server, sink, ca_file=bundle, https_port=https_server.port)
    rig.submit(["bob@example.net"])
    rig.wait_events("delay")
    port = rig.server.ports["metrics"]
    refused = {"result": "deferred", "tls": "policy_refused", "policy_source": "mta-sts"}

    def counted() -> bool:
        found = samples_of(scrape_text(port))
        return total(found, "sealpost_delivery_attempts_total", **refused) >= 1

    wait_for(counted, "the refused attempt was not counted")
    found = samples_of(scrape_text(port))
    assert found[("sealpost_mta_sts_fetches_total", (("result", "ok"),))] == 1
    assert total(found, "sealpost_delivery_attempts_total", tls="verified") == 0
    assert sink.sessions == []
