"""Issue 15 part 1 over real HTTPS: python-sparkpost 1.3.10's ``sp.suppression_list`` calls
(create one and many, list, get, update, delete) against a running Sealpost; SparkPost's
error bodies for malformed input, naming the field; the search's filters and cursor; and
grants (``suppression_lists/view`` reads, ``suppression_lists/manage`` writes)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sparkpost import SparkPost
from sparkpost.exceptions import SparkPostAPIException

from sealpost.api_keys import create_key
from sealpost.model.grants import Grant
from tests.support import Pki, ServerThread


@pytest.fixture
def http(server: ServerThread, api_key: str, pki: Pki) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"https://127.0.0.1:{server.ports['api']}/api/v1",
        verify=pki.client_context(),
        headers={"Authorization": api_key},
        timeout=20,
    ) as client:
        yield client


def test_python_sparkpost_suppression_list_calls(server, api_key, pki, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_file))
    sp = SparkPost(api_key, base_uri=f"127.0.0.1:{server.ports['api']}")
    lists = sp.suppression_list

    created = lists.create(
        {
            "email": "Ann@Example.NET",
            "transactional": True,
            "non_transactional": True,
            "description": "asked by phone",
        }
    )
    assert created == {"message": "Suppression List successfully updated"}
    bulk = lists.create(
        [
            {"recipient": "bob@example.net", "type": "non_transactional"},
            {"email": "cat@example.org", "non_transactional": True, "description": "legacy"},
        ]
    )
    assert bulk["message"].startswith("Suppression List successfully updated")

    entries = lists.get("ann@example.net")  # the address is matched without regard to case
    assert [(e["recipient"], e["type"]) for e in entries] == [
        ("ann@example.net", "non_transactional"),
        ("ann@example.net", "transactional"),
    ]
    for entry in entries:
        assert entry["source"] == "Manually Added" and entry["description"] == "asked by phone"
        assert entry["created"].endswith("+00:00") and entry["updated"] == entry["created"]
        assert entry[entry["type"]] is True

    listed = lists.list(types="non_transactional")
    assert sorted(e["recipient"] for e in listed) == [
        "ann@example.net",
        "bob@example.net",
        "cat@example.org",
    ]
    assert [e["recipient"] for e in lists.list(limit=1)] == ["ann@example.net"]

    lists.update({"email": "bob@example.net", "type": "non_transactional", "description": "x"})
    assert lists.get("bob@example.net")[0]["description"] == "x"

    assert lists.delete("ann@example.net") is True  # both types
    with pytest.raises(SparkPostAPIException) as gone:
        lists.get("ann@example.net")
    assert gone.value.status == 404
    with pytest.raises(SparkPostAPIException) as again:
        lists.delete("ann@example.net")
    assert again.value.status == 404


def test_delete_one_type_and_the_summary(http: httpx.Client):
    body = {"type": "transactional"}
    assert http.put("/suppression-list/dan@example.net", json=body).status_code == 200
    body = {"type": "non_transactional"}
    assert http.put("/suppression-list/dan@example.net", json=body).status_code == 200
    gone = http.request("DELETE", "/suppression-list/dan@example.net", json=body)
    assert gone.status_code == 204
    left = http.get("/suppression-list/dan@example.net").json()
    assert [e["type"] for e in left["results"]] == ["transactional"] and left["total_count"] == 1
    summary = http.get("/suppression-list/summary").json()["results"]
    assert summary["manually_added"] == 1 and summary["bounce_rule"] == 0
    assert summary["total"] == 1


def test_search_filters_and_follows_the_cursor(http: httpx.Client):
    recipients = [
        {"recipient": f"u{n:02d}@{'one' if n % 2 else 'two'}.example", "type": "transactional"}
        for n in range(25)
    ]
    assert http.put("/suppression-list", json={"recipients": recipients}).status_code == 200
    first = http.get("/suppression-list", params={"per_page": 10}).json()
    assert first["total_count"] == 25 and len(first["results"]) == 10
    seen = [e["recipient"] for e in first["results"]]
    links = first["links"]
    while links:
        [link] = links
        assert link["rel"] == "next"
        page = http.get(link["href"].removeprefix("/api/v1")).json()
        seen += [e["recipient"] for e in page["results"]]
        links = page["links"]
    assert seen == sorted(r["recipient"] for r in recipients)
    one = http.get("/suppression-list", params={"domain": "ONE.example"}).json()
    assert one["total_count"] == 12
    assert all(e["recipient"].endswith("@one.example") for e in one["results"])
    assert (
        http.get("/suppression-list", params={"sources": "Bounce Rule"}).json()["total_count"] == 0
    )
    past = http.get("/suppression-list", params={"to": "2001-01-01T00:00:00Z"}).json()
    assert past["total_count"] == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("PUT", "/suppression-list/x@example.net", {}, 400, "type"),
        ("PUT", "/suppression-list/x@example.net", {"type": "bogus"}, 400, "type"),
        ("PUT", "/suppression-list/x@example.net", {"type": 5}, 422, "type"),
        ("PUT", "/suppression-list/not-an-address", {"type": "transactional"}, 400, "recipient"),
        (
            "PUT",
            "/suppression-list/x@example.net",
            {"type": "transactional", "description": "d" * 1025},
            400,
            "description",
        ),
        ("PUT", "/suppression-list", {}, 400, "recipients"),
        ("PUT", "/suppression-list", {"recipients": "x@example.net"}, 422, "recipients"),
        (
            "PUT",
            "/suppression-list",
            {"recipients": [{"recipient": "ok@example.net", "type": "transactional"}, {}]},
            400,
            "recipients[1].recipient",
        ),
        (
            "PUT",
            "/suppression-list",
            {"recipients": [{"recipient": "ok@example.net", "type": "nope"}]},
            400,
            "recipients[0].type",
        ),
        ("DELETE", "/suppression-list/x@example.net", {"type": "nope"}, 400, "type"),
        ("GET", "/suppression-list?cursor=%%%", None, 400, "cursor"),
        ("GET", "/suppression-list?types=nope", None, 400, "types"),
        ("GET", "/suppression-list?sources=Nobody", None, 400, "sources"),
        ("GET", "/suppression-list?from=yesterday", None, 422, "from"),
        ("GET", "/suppression-list?per_page=0", None, 422, "per_page"),
    ],
)
def test_malformed_input_is_a_json_error_naming_the_field(
    http: httpx.Client, method, path, body, status, field
):
    answer = http.request(method, path, json=body)
    assert answer.status_code == status, answer.text
    errors = answer.json()["errors"]
    assert any(field in (e.get("description") or "") for e in errors), errors
    # Nothing was written by a refused bulk request, not even its valid entries.
    assert http.get("/suppression-list").json()["total_count"] == 0


def test_view_reads_and_manage_writes(server: ServerThread, pki: Pki):
    store = server.app.store

    def key(*grants: Grant) -> str:
        made, _ = server.call(lambda: create_key(store, "k", 0.0, grants=set(grants)))
        return made

    viewer, manager = key(Grant.SUPPRESSION_LISTS_VIEW), key(Grant.SUPPRESSION_LISTS_MANAGE)
    base = f"https://127.0.0.1:{server.ports['api']}/api/v1/suppression-list"
    with httpx.Client(verify=pki.client_context(), timeout=20) as client:
        put = {"type": "transactional"}
        refused = client.put(f"{base}/e@example.net", json=put, headers={"Authorization": viewer})
        assert refused.status_code == 403
        assert "suppression_lists/manage" in refused.json()["errors"][0]["description"]
        done = client.put(f"{base}/e@example.net", json=put, headers={"Authorization": manager})
        assert done.status_code == 200
        assert client.get(base, headers={"Authorization": manager}).status_code == 403
        assert client.get(base, headers={"Authorization": viewer}).json()["total_count"] == 1


def test_a_chunked_delete_body_past_the_limit_is_refused_unread(http: httpx.Client, server):
    """DELETE reads an optional body, so it is capped like POST and PUT (413, code 1300)."""
    limit = server.app.config.api.max_request_bytes

    def chunks():
        piece = b" " * 65536
        for _ in range(limit // len(piece) + 2):
            yield piece

    answer = http.request("DELETE", "/suppression-list/x@example.net", content=chunks())
    assert answer.status_code == 413 and answer.json()["errors"][0]["code"] == "1300"
