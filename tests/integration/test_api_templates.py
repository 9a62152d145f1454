"""/api/v1/templates CRUD and transmissions that use stored templates (draft vs
published), over real HTTPS."""

from __future__ import annotations

from tests.integration.test_api_transmissions import (
    FROM,
    PATH,
    client,
    messages,
    parsed,
    sent,
)
from tests.support import Pki, ServerThread

TEMPLATES = "/api/v1/templates"


def template(**fields: object) -> dict:
    return {
        "id": "welcome",
        "name": "Welcome",
        "published": True,
        "content": {
            "from": {"email": FROM, "name": "Shop"},
            "subject": "Welcome {{name}}",
            "text": "Hello {{name}}",
            "html": "<p>Hello {{name}}</p>",
            "headers": {"X-Template": "yes"},
        },
        **fields,
    }


def send(c, template_id: str, draft: bool = False):
    return c.post(
        PATH,
        json={
            "recipients": [{"address": "ann@example.net", "substitution_data": {"name": "Ann"}}],
            "content": {"template_id": template_id, "use_draft_template": draft},
        },
    )


def test_template_crud_and_use(server: ServerThread, pki: Pki, api_key: str):
    with client(server, pki, api_key) as c:
        r = c.post(TEMPLATES, json=template())
        assert r.status_code == 200 and r.json() == {"results": {"id": "welcome"}}
        assert c.post(TEMPLATES, json=template()).status_code == 409
        listed = c.get(TEMPLATES).json()["results"]
        assert [(t["id"], t["published"], t["has_draft"]) for t in listed] == [
            ("welcome", True, False)
        ]
        got = c.get(f"{TEMPLATES}/welcome").json()["results"]
        assert got["content"]["subject"] == "Welcome {{name}}" and got["published"] is True

        r = send(c, "welcome")
        assert r.status_code == 200, r.text
        [m] = sent(server, r.json()["results"]["id"])
        msg = parsed(m)
        assert msg["Subject"] == "Welcome Ann" and msg["X-Template"] == "yes"
        assert msg["From"] == "Shop <orders@shop.test>"
        assert m.message.annotations["template_id"] == "welcome"

        draft = template()["content"] | {"subject": "Draft {{name}}"}
        assert c.put(f"{TEMPLATES}/welcome", json={"content": draft}).status_code == 200
        assert (
            c.get(f"{TEMPLATES}/welcome", params={"draft": "true"}).json()["results"]["content"][
                "subject"
            ]
            == "Draft {{name}}"
        )
        assert (
            parsed(sent(server, send(c, "welcome").json()["results"]["id"])[0])["Subject"]
            == "Welcome Ann"
        ), "transmissions use the published version"
        drafted = send(c, "welcome", draft=True).json()["results"]["id"]
        assert parsed(sent(server, drafted)[0])["Subject"] == "Draft Ann"

        r = c.put(f"{TEMPLATES}/welcome", params={"update_published": "true"}, json={})
        assert r.status_code == 200
        assert c.get(f"{TEMPLATES}/welcome").json()["results"]["content"]["subject"] == (
            "Draft {{name}}"
        )
        r = send(c, "welcome", draft=True)
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "2004"

        assert c.delete(f"{TEMPLATES}/welcome").status_code == 200
        assert c.get(f"{TEMPLATES}/welcome").status_code == 404
        assert c.delete(f"{TEMPLATES}/welcome").status_code == 404
        r = send(c, "welcome")
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "1603"
    assert len(messages(server)) == 3


def test_drafts_generated_ids_and_refusals(server: ServerThread, pki: Pki, api_key: str):
    with client(server, pki, api_key) as c:
        r = c.post(TEMPLATES, json=template(id=None, name="My Promo!", published=False))
        assert r.status_code == 200 and r.json()["results"]["id"] == "my-promo"
        again = c.post(TEMPLATES, json=template(id=None, name="My Promo!", published=False))
        assert again.json()["results"]["id"] == "my-promo-2"
        r = send(c, "my-promo")
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "2005"
        assert send(c, "my-promo", draft=True).status_code == 200
        evil = template(id="evil")
        evil["content"]["subject"] = "x\r\nBcc: victim@evil.test"
        r = c.post(TEMPLATES, json=evil)
        assert r.status_code == 422 and "content.subject" in r.json()["errors"][0]["description"]
        r = c.post(TEMPLATES, json={"name": "no content"})
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "1400"
        r = c.post(TEMPLATES, json=template(id="Bad Id"))
        assert r.status_code == 422
        r = c.put(f"{TEMPLATES}/nothing", json={"name": "x"})
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "1600"
    assert len(messages(server)) == 1
