"""The 7001 sending-domain check honours every domain Sealpost can sign for: a domain with
a [[dkim.keys]] key in the config is as good as one verified through the API."""

from __future__ import annotations

import httpx

from sealpost.api_keys import create_key
from sealpost.dkim.keys import generate_key
from tests.support import Pki


def test_config_dkim_domain_may_send_and_unknown_domain_gets_7001(start_server, pki: Pki, tmp_path):
    private, _ = generate_key("rsa-sha256", bits=2048)
    key_file = tmp_path / "s1.key"
    key_file.write_bytes(private)
    server = start_server(
        tables={
            "api": {"address": "127.0.0.1:0", "allow_unverified_domains": False},
            "[[dkim.keys]]": [{"domain": "shop.test", "selector": "s1", "key_file": str(key_file)}],
        }
    )
    key, _ = server.call(lambda: create_key(server.app.store, "t", 0.0))
    body = {
        "recipients": [{"address": "u@example.test"}],
        "content": {"from": "orders@shop.test", "subject": "s", "text": "t"},
    }
    with httpx.Client(
        base_url=f"https://127.0.0.1:{server.ports['api']}/api/v1",
        verify=pki.client_context(),
        headers={"Authorization": key},
    ) as api:
        assert api.post("/transmissions", json=body).status_code == 200
        body["content"]["from"] = "orders@elsewhere.test"
        refused = api.post("/transmissions", json=body)
        assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "7001"
    [stored_id] = [r.id for r in server.call(lambda: server.app.store.list(limit=10))]
    stored = server.call(lambda: server.app.store.get(stored_id))
    assert b"DKIM-Signature:" in stored.message.data and b"d=shop.test" in stored.message.data
