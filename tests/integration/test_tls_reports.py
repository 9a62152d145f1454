"""Receiving TLS-RPT reports (issue 14, RFC 8460) on a running Sealpost: by mail over SMTP
with STARTTLS to a local domain (Google's and Microsoft's forms), and by POST over HTTPS with
an API key (raw JSON and gzip); read back through the API and ``sealpost tlsrpt received``.
Refusals (bad JSON, a missing field, a gzip bomb, a body over the limit, a key without the
grant, a tenant key and another domain) are checked as the client sees them."""

from __future__ import annotations

import gzip
import json
import os
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sealpost.api_keys import create_key
from sealpost.config.loader import load_config
from sealpost.model.grants import ALL_GRANTS, Grant
from tests.fixtures.tlsrpt_samples import (
    GOOGLE,
    MICROSOFT,
    as_gzip,
    as_json,
    google_mail,
    microsoft_mail,
    report,
)
from tests.support import Pki, ServerThread, make_pki, write_config

MB = 1024 * 1024
LIMITS = {"max_report_bytes": MB, "scan_interval": 3600.0}  # only the door's wake-up reads


class Rig:
    def __init__(self, server: ServerThread, pki: Pki, config: Path) -> None:
        self.server, self.pki, self.config = server, pki, config
        self.keys: dict[str, str] = {}

    def key(self, label: str, grants=None, domains: tuple[str, ...] = ()) -> str:
        if label not in self.keys:
            store = self.server.app.store
            self.keys[label], _ = self.server.call(
                lambda: create_key(store, label, 0.0, sender_domains=domains, grants=grants)
            )
        return self.keys[label]

    def api(self, method: str, path: str, key: str | None, **kwargs) -> httpx.Response:
        headers = {"Authorization": key} if key else {}
        headers.update(kwargs.pop("headers", {}))
        with httpx.Client(verify=self.pki.client_context(), timeout=20) as client:
            url = f"https://127.0.0.1:{self.server.ports['api']}/api/v1{path}"
            return client.request(method, url, headers=headers, **kwargs)

    def post(self, body: bytes, content_type: str, key: str | None = None) -> httpx.Response:
        key = key or self.key("poster", {Grant.TLS_REPORTS_MODIFY})
        headers = {"Content-Type": content_type}
        return self.api("POST", "/tls-reports", key, content=body, headers=headers)

    def reports(self, **params) -> list[dict]:
        key = self.key("reader", {Grant.TLS_REPORTS_VIEW})
        answer = self.api("GET", "/tls-reports", key, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()["results"]

    def mail(self, data: bytes, rcpt: str = "tlsrpt@example.test") -> str:
        with smtplib.SMTP("127.0.0.1", self.server.ports["mx"], timeout=10) as client:
            client.ehlo("mail-sor-f41.google.test")
            client.starttls(context=self.pki.client_context())
            client.ehlo("mail-sor-f41.google.test")
            client.mail("reports@sender.test")
            assert client.rcpt(rcpt)[0] == 250
            code, reply = client.data(data)
        assert code == 250, reply
        return reply.decode().rsplit(" ", 1)[1]  # the queue id

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sealpost", "tlsrpt", "received", *args, "-c", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "200"},
        )


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    base: Path = tmp_path_factory.mktemp("tlsrpt")
    pki = make_pki(base / "pki")
    config = write_config(
        base,
        pki,
        server={"local_domains": ["example.test", "tenant.test"]},
        tables={
            "delivery": {"enabled": False},
            "api": {"address": "127.0.0.1:0", "max_request_bytes": 2 * MB},
            "tls_reports": LIMITS,
        },
    )
    server = ServerThread(load_config(config)).start()
    try:
        yield Rig(server, pki, config)
    finally:
        server.stop()


def wait_for(check, what: str):
    deadline = time.monotonic() + 20
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.05)


def test_reports_by_mail_show_in_the_api_and_the_cli(rig: Rig):
    intake = rig.server.app.intake
    assert intake is not None
    first = rig.mail(google_mail())
    rig.mail(microsoft_mail())
    rig.mail(google_mail())  # the same report again: stored once
    wait_for(lambda: intake.counts.examined >= 3, "the three held messages read")
    by_org = {r["organization_name"]: r for r in rig.reports(domain="example.test")}
    google = by_org["Google Inc."]
    assert google["source"] == "mail" and google["message_id"] == first
    assert google["report_id"] == GOOGLE["report-id"]
    assert google["start_datetime"] == "2026-11-30T00:00:00Z"
    assert (google["total_successful_session_count"], google["total_failure_session_count"]) == (
        118,
        2,
    )
    assert by_org["Microsoft Corporation"]["total_failure_session_count"] == 3
    assert intake.counts.duplicates >= 1
    # The whole report, by our id; and the message it came in is still held (nothing lost).
    key = rig.key("reader", {Grant.TLS_REPORTS_VIEW})
    whole = rig.api("GET", f"/tls-reports/{google['id']}", key).json()["results"]
    assert whole["report"]["policies"][0]["failure-details"][0]["result-type"] == (
        "certificate-expired"
    )
    held = rig.server.call(lambda: rig.server.app.store.get(google["message_id"]))
    assert held.state == "held"

    listed = rig.cli("--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {r["organization_name"] for r in rows} >= {"Google Inc.", "Microsoft Corporation"}
    table = rig.cli("--domain", "example.test")
    assert table.returncode == 0 and "Google Inc." in table.stdout and "mail" in table.stdout
    shown = rig.cli("--show", google["id"])
    assert json.loads(shown.stdout)["report"]["organization-name"] == "Google Inc."
    later = rig.cli("--since", "2026-12-01", "--json")
    assert later.returncode == 0 and "Google Inc." not in later.stdout  # its day ended before
    wrong = rig.cli("--since", "last tuesday")
    assert wrong.returncode != 0 and "--since" in wrong.stderr and "Traceback" not in wrong.stderr


def test_a_broken_report_by_mail_is_kept_held_and_not_stored(rig: Rig):
    intake = rig.server.app.intake
    refused = intake.counts.refused
    broken = report(GOOGLE, report_id="broken-1", policies=None)
    queued_as = rig.mail(google_mail(broken))
    wait_for(lambda: intake.counts.refused > refused, "the broken report refused")
    assert not [r for r in rig.reports() if r["report_id"] == "broken-1"]
    kept = rig.server.call(lambda: rig.server.app.store.get(queued_as))
    assert kept.state == "held"  # nothing lost: the operator finds it with `queue show`


def test_posting_raw_json_and_gzip_is_idempotent(rig: Rig):
    raw = report(MICROSOFT, report_id="api-raw-1")
    first = rig.post(as_json(raw), "application/tlsrpt+json")
    assert first.status_code == 200, first.text
    made = first.json()["results"]
    assert made["created"] is True and made["source"] == "api"
    again = rig.post(as_json(raw), "application/json")
    assert again.status_code == 200 and again.json()["results"] == {**made, "created": False}

    zipped = rig.post(as_gzip(report(GOOGLE, report_id="api-gz-1")), "application/tlsrpt+gzip")
    assert zipped.status_code == 200 and zipped.json()["results"]["created"] is True
    ids = [r["report_id"] for r in rig.reports()]
    assert ids.count("api-raw-1") == 1 and ids.count("api-gz-1") == 1


def test_refusals_name_the_problem(rig: Rig):
    bad_json = rig.post(b'{"organization-name": "x", ', "application/tlsrpt+json")
    assert bad_json.status_code == 400
    assert bad_json.json()["errors"][0]["message"] == "invalid report"

    missing = rig.post(as_json(report(GOOGLE, report_id=None)), "application/json")
    assert missing.status_code == 422
    [error] = missing.json()["errors"]
    assert error == {
        "message": "required field is missing",
        "description": "report-id is a required field",
        "code": "1400",
    }
    wrong = report(GOOGLE, date_range={"start-datetime": "2026-11-30", "end-datetime": 5})
    answer = rig.post(as_json(wrong), "application/json")
    assert answer.status_code == 422
    assert "date-range.end-datetime" in answer.json()["errors"][0]["description"]

    bomb = gzip.compress(b" " * (64 * MB), compresslevel=9)  # 64 MB of blanks in ~64 KB
    assert len(bomb) < 2 * MB
    refused = rig.post(bomb, "application/tlsrpt+gzip")
    assert refused.status_code == 413
    assert "max_report_bytes" in refused.json()["errors"][0]["description"]

    too_big = rig.post(b" " * (3 * MB), "application/json")  # past [api] max_request_bytes
    assert too_big.status_code == 413
    assert too_big.json()["errors"][0]["message"] == "request body too large"

    xml = rig.post(b"<feedback/>", "application/xml")
    assert xml.status_code == 415
    assert not [r for r in rig.reports() if r["report_id"] in ("", None)]


def test_grants_and_tenant_keys(rig: Rig):
    body = as_json(report(MICROSOFT, report_id="grant-1"))
    no_key = rig.post(body, "application/json", key="0" * 40)
    assert no_key.status_code == 401
    reader = rig.key("reader", {Grant.TLS_REPORTS_VIEW})
    forbidden = rig.post(body, "application/json", key=reader)
    assert forbidden.status_code == 403
    assert "'tls_reports/modify'" in forbidden.json()["errors"][0]["description"]
    poster = rig.key("poster", {Grant.TLS_REPORTS_MODIFY})
    assert rig.api("GET", "/tls-reports", poster).status_code == 403
    all_but = rig.key("all-but", ALL_GRANTS - {Grant.TLS_REPORTS_VIEW})
    assert rig.api("GET", "/tls-reports", all_but).status_code == 403

    # A tenant key (sender domains) posts and sees only its own domains' reports.
    tenant = rig.key(
        "tenant", {Grant.TLS_REPORTS_MODIFY, Grant.TLS_REPORTS_VIEW}, domains=("tenant.test",)
    )
    own = report(MICROSOFT, report_id="tenant-1")
    own["policies"][0]["policy"]["policy-domain"] = "tenant.test"
    assert rig.post(as_json(own), "application/json", key=tenant).status_code == 200
    other = rig.post(body, "application/json", key=tenant)
    assert other.status_code == 422
    assert "policy-domain" in other.json()["errors"][0]["description"]
    seen = rig.api("GET", "/tls-reports", tenant).json()["results"]
    assert [r["report_id"] for r in seen] == ["tenant-1"]
    everyone = rig.reports()
    google = next(r for r in everyone if r["organization_name"] == "Google Inc.")
    assert rig.api("GET", f"/tls-reports/{google['id']}", tenant).status_code == 404


def test_listing_pages_with_a_cursor_and_filters_by_date(rig: Rig):
    for n in range(3):
        doc = report(MICROSOFT, report_id=f"page-{n}")
        doc["policies"][0]["policy"]["policy-domain"] = "paged.test"
        assert rig.post(as_json(doc), "application/json").status_code == 200
    key = rig.key("reader", {Grant.TLS_REPORTS_VIEW})
    first = rig.api("GET", "/tls-reports", key, params={"domain": "paged.test", "per_page": 2})
    body = first.json()
    assert [r["report_id"] for r in body["results"]] == ["page-0", "page-1"]
    second = rig.api("GET", body["links"]["next"].removeprefix("/api/v1"), key).json()
    assert [r["report_id"] for r in second["results"]] == ["page-2"] and second["links"] == {}
    assert rig.reports(domain="paged.test", **{"from": "2026-12-01T00:00:00Z"}) == []
    assert len(rig.reports(domain="paged.test", **{"from": "2026-11-30", "to": "2026-12-01"})) == 3
    bad = rig.api("GET", "/tls-reports", key, params={"from": "soon"})
    assert bad.status_code == 422 and "from" in bad.json()["errors"][0]["description"]
    assert rig.api("GET", "/tls-reports/nope", key).status_code == 404
