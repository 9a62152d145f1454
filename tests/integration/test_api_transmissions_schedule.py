"""Scheduled transmissions (options.start_time), GET, list and DELETE (reference 2.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.test_api_transmissions import PATH, body, client, messages, sent
from tests.support import Pki, ServerThread


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).replace(microsecond=0).isoformat()


def test_scheduled_transmission_get_and_delete(server: ServerThread, pki: Pki, api_key: str):
    start = later(hours=5)
    request = body(
        recipients=["a@example.net", "b@example.net"],
        campaign_id="spring",
        description="d",
        options={"start_time": start},
    )
    with client(server, pki, api_key) as c:
        created = c.post(PATH, json=request)
        assert created.status_code == 200, created.text
        tid = created.json()["results"]["id"]
        got = c.get(f"{PATH}/{tid}")
        assert got.status_code == 200
        view = got.json()["results"]["transmission"]
        assert view["id"] == tid and view["state"] == "submitted"
        assert view["num_rcpts"] == 2 and view["num_generated"] == 0
        assert view["campaign_id"] == "spring" and view["description"] == "d"
        assert view["content"] == {"template_id": "inline", "use_draft_template": False}
        assert view["options"]["start_time"] == start
        assert "message_ids" not in view
        due = datetime.fromisoformat(start).timestamp()
        assert all(m.next_attempt_at == due for m in sent(server, tid))
        listed = c.get(PATH, params={"campaign_id": "spring"}).json()["results"]
        assert [t["id"] for t in listed] == [tid]
        assert c.get(PATH, params={"campaign_id": "autumn"}).json()["results"] == []
        deleted = c.delete(f"{PATH}/{tid}", headers={"Content-Type": "application/json"})
        assert deleted.status_code == 204 and deleted.content == b""
        assert c.get(f"{PATH}/{tid}").json()["results"]["transmission"]["state"] == "Canceled"
        assert c.delete(f"{PATH}/{tid}").status_code == 204
    assert [m.state for m in messages(server)] == ["cancelled", "cancelled"]


def test_started_unknown_and_out_of_range(server: ServerThread, pki: Pki, api_key: str):
    with client(server, pki, api_key) as c:
        now_tid = c.post(PATH, json=body()).json()["results"]["id"]
        r = c.delete(f"{PATH}/{now_tid}")
        assert r.status_code == 409 and r.json()["errors"][0]["code"] == "2006"
        view = c.get(f"{PATH}/{now_tid}").json()["results"]["transmission"]
        assert view["state"] == "Success" and view["num_generated"] == 1
        past = c.post(PATH, json=body(options={"start_time": "2001-01-01T00:00:00+00:00"}))
        assert past.status_code == 200
        r = c.get(f"{PATH}/99999")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "1600"
        assert c.delete(f"{PATH}/99999").status_code == 404
        assert c.get(f"{PATH}/not-a-number").status_code == 404
        r = c.post(PATH, json=body(options={"start_time": later(days=4)}))
        assert r.status_code == 422 and "options.start_time" in r.json()["errors"][0]["description"]
        r = c.post(PATH, json=body(options={"start_time": "tomorrow"}))
        assert r.status_code == 422
    assert [m.state for m in messages(server)] == ["queued", "queued"]


def test_delete_by_campaign_cancels_only_its_future_transmissions(
    server: ServerThread, pki: Pki, api_key: str
):
    with client(server, pki, api_key) as c:
        future = body(campaign_id="c1", options={"start_time": later(hours=1)})
        a = c.post(PATH, json=future).json()["results"]["id"]
        other = body(campaign_id="c2", options={"start_time": later(hours=1)})
        b = c.post(PATH, json=other).json()["results"]["id"]
        now = c.post(PATH, json=body(campaign_id="c1")).json()["results"]["id"]
        assert c.delete(PATH, params={"campaign_id": "c1"}).status_code == 204
        assert c.delete(PATH).status_code == 422
        states = {
            tid: c.get(f"{PATH}/{tid}").json()["results"]["transmission"]["state"]
            for tid in (a, b, now)
        }
        listed = c.get(PATH).json()["results"]
    assert states == {a: "Canceled", b: "submitted", now: "Success"}
    # SparkPost lists the scheduled transmissions only: not one sent or cancelled.
    assert [t["id"] for t in listed] == [b]
