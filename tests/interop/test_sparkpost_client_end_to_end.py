"""Issue 4's end-to-end proof: the official ``sparkpost`` 1.3.10 client, unmodified, sends
through Sealpost's HTTPS API (inline with cc/bcc and an attachment, a stored template, raw
RFC 822); every message is delivered over verified STARTTLS to an SMTP sink found through
real DNS; a real HTTPS webhook receiver gets the delivery events with their TLS record; and
the events API returns the same events for the transmission."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from sparkpost import SparkPost

from sealpost.api_keys import create_key
from tests.fixtures.webhook_receiver import WebhookReceiver
from tests.integration.delivery_rig import start_rig, trust_bundle
from tests.support import API_LOOPBACK_TARGETS, Pki

pytestmark = pytest.mark.interop


def test_sparkpost_client_to_tls_delivery_to_webhook_and_events_api(
    start_server, dns_server, smtp_sink, sink_certs, pki: Pki, tmp_path: Path, monkeypatch
):
    with WebhookReceiver(tmp_path / "receiver") as receiver:
        bundle = trust_bundle(tmp_path, sink_certs.ca_file, receiver.ca_file)
        sink = smtp_sink(cert=sink_certs.good)
        rig = start_rig(start_server, dns_server, sink, ca_file=bundle, api=API_LOOPBACK_TARGETS)
        server = rig.server
        key, _ = server.call(lambda: create_key(server.app.store, "client", 0.0))
        api = f"https://127.0.0.1:{server.ports['api']}"
        http = httpx.Client(
            base_url=f"{api}/api/v1",
            verify=pki.client_context(),
            headers={"Authorization": key},
            timeout=20,
        )
        hook = {"name": "all", "target": receiver.url(), "events": ["delivery"]}
        assert http.post("/webhooks", json=hook).status_code == 200
        assert (
            http.post(
                "/templates",
                json={
                    "id": "welcome",
                    "name": "Welcome",
                    "published": True,
                    "content": {
                        "from": "hello@sealpost.test",
                        "subject": "Welcome {{name}}",
                        "text": "Hi {{name}}",
                    },
                },
            ).status_code
            == 200
        )

        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_file))
        sp = SparkPost(key, base_uri=f"127.0.0.1:{server.ports['api']}")
        inline = sp.transmissions.send(
            recipients=["ann@example.net"],
            cc=["cc@example.net"],
            bcc=["bcc@example.net"],
            from_email="Shop <orders@sealpost.test>",
            subject="Receipt",
            text="Thanks!",
            html="<p>Thanks!</p>",
            attachments=[
                {
                    "name": "r.txt",
                    "type": "text/plain",
                    "data": base64.b64encode(b"receipt").decode(),
                }
            ],
        )
        template = sp.transmissions.send(
            recipients=[
                {"address": {"email": "bob@example.net"}, "substitution_data": {"name": "Bob"}}
            ],
            template="welcome",
        )
        raw = sp.transmissions.send(
            recipients=["raw@example.net"],
            email_rfc822="From: raw@sealpost.test\r\nTo: raw@example.net\r\nSubject: raw\r\n"
            "\r\nraw body\r\n",
        )
        assert inline["total_accepted_recipients"] == 3
        assert template["total_accepted_recipients"] == 1
        assert raw["total_accepted_recipients"] == 1

        receiver.wait_for(lambda r: len(r.events()) >= 5, timeout=30)
        delivered = {e["rcpt_to"]: e for e in receiver.events()}
        assert set(delivered) == {
            "ann@example.net",
            "cc@example.net",
            "bcc@example.net",
            "bob@example.net",
            "raw@example.net",
        }
        for event in delivered.values():
            assert event["type"] == "delivery" and event["outbound_tls"] == "1"
            tls = event["tls"]
            assert tls["version"] == "TLSv1.3" and tls["verified"] is True
            assert tls["peer_name"] == "mx.example.test"
        assert delivered["ann@example.net"]["transmission_id"] == inline["id"]
        assert delivered["bob@example.net"]["template_id"] == "welcome"

        found = http.get(
            "/events/message", params={"events": "delivery", "transmissions": inline["id"]}
        ).json()
        assert sorted(e["rcpt_to"] for e in found["results"]) == [
            "ann@example.net",
            "bcc@example.net",
            "cc@example.net",
        ]
        assert all(e["tls"]["verified"] is True for e in found["results"])

        bodies = {m.recipients[0]: m.body for m in sink.messages}
        assert b"Hi Bob" in bodies["bob@example.net"]
        assert b"r.txt" in bodies["ann@example.net"]
        assert b"Bcc:" not in bodies["bcc@example.net"]
        http.close()
