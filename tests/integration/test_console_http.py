"""The web console over plain HTTPS (no browser): its security headers, the session
cookie's attributes, log-in with a console user's password, the log-in form's own CSRF
token, the per-IP log-in budget, log-out, hostile message data shown as text, a console
that is off unless enabled (and on in the development config),
and the API next to it unchanged."""

from __future__ import annotations

import re

import httpx

from sealpost.console.security import CSP
from sealpost.console.users import create_user
from sealpost.model.grants import Grant
from tests.support import Pki, ServerThread

PASSWORD = "correct horse battery"


def browser_like(server: ServerThread, pki: Pki) -> httpx.Client:
    base = f"https://127.0.0.1:{server.ports['api']}"
    return httpx.Client(base_url=base, verify=pki.client_context(), headers={"Origin": base})


def login_form(client: httpx.Client) -> str:
    page = client.get("/console/login")
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def test_console_users_log_in_with_strict_cookies_headers_and_budget(start_server, pki):
    server = start_server(tables={"console": {"enabled": True, "login_per_minute": 4}})
    store = server.app.store
    grants = {Grant.CONSOLE_ACCESS, Grant.QUEUE_VIEW}
    server.call(lambda: create_user(store, "ann", PASSWORD, 0.0, grants))
    server.call(lambda: create_user(store, "bob", PASSWORD, 0.0, {Grant.QUEUE_VIEW}))
    with browser_like(server, pki) as client:
        page = client.get("/console/login")
        assert page.headers["content-security-policy"] == CSP
        assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"
        assert "<script>" not in page.text and " on" not in page.text.replace(" one", "")
        token = login_form(client)
        # 1: without the form's token
        refused = client.post("/console/login", data={"user": "ann", "secret": PASSWORD})
        assert refused.status_code == 403 and "__Host-sealpost-console" not in refused.headers.get(
            "set-cookie", ""
        )
        # 2: a user without console/access
        bob = client.post("/console/login", data={"csrf": token, "user": "bob", "secret": PASSWORD})
        assert bob.status_code == 401 and "Log-in failed" in bob.text
        # 3: the right password
        ok = client.post("/console/login", data={"csrf": token, "user": "ANN", "secret": PASSWORD})
        assert ok.status_code == 303 and ok.headers["location"] == "/console/"
        cookie = next(
            c for c in ok.headers.get_list("set-cookie") if c.startswith("__Host-sealpost-console=")
        )
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=strict", "path=/"} <= attributes
        assert not any(a.startswith(("expires", "max-age", "domain")) for a in attributes)
        listing = client.get("/console/messages?state=queued")
        assert listing.status_code == 200 and "ann" in listing.text
        # 4: a wrong password; 5: over the budget of 4 per minute, even with the right one
        token = login_form(client)  # a log-in clears the form's cookie: a new form
        wrong = client.post("/console/login", data={"csrf": token, "user": "ann", "secret": "x"})
        assert wrong.status_code == 401
        over = client.post(
            "/console/login", data={"csrf": token, "user": "ann", "secret": PASSWORD}
        )
        assert over.status_code == 429 and int(over.headers["retry-after"]) >= 1
        # the API beside the console is untouched: JSON only, keys only
        assert client.get("/api/v1/queue").status_code == 401
        # log out ends the session on the server, whatever the client keeps
        kept = dict(client.cookies)
        html = client.get("/console/messages?state=queued").text
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
        assert client.post("/console/logout", data={"csrf": csrf}).status_code == 303
        client.cookies.update(kept)
        assert client.get("/console/messages").status_code == 303


def test_the_console_is_off_unless_enabled_and_on_in_the_dev_config(start_server, pki):
    from sealpost.config.template import render_default_config

    off = start_server()
    with browser_like(off, pki) as client:
        assert client.get("/console/login").status_code == 404
    dev = render_default_config("localhost", dev_ports=True)
    production = render_default_config("mx.example.com", dev_ports=False)
    assert re.search(r"\[console\]\n(#.*\n)*enabled = true", dev)
    assert not re.search(r"\[console\]\n(#.*\n)*enabled = true", production)


def test_hostile_message_data_is_shown_as_text(start_server, pki):
    from sealpost.api_keys import create_key
    from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo

    server = start_server(tables={"console": {"enabled": True}})
    store = server.app.store
    key, _ = server.call(lambda: create_key(store, "c", 0.0))
    hostile = '<img src=x onerror="alert(1)">'
    data = (
        f"From: a@sealpost.test\r\nSubject: {hostile}\r\n"
        "X-Note: </pre><script>x()</script>\r\n\r\nhi\r\n"
    )
    message = InboundMessage(
        Envelope("a@sealpost.test", ("bob@example.test",)),
        SessionInfo("submission", "127.0.0.1", 40000, helo="client.test"),
        data.encode(),
    )
    submitted = server.call(lambda: server.app.submission.submit(message))
    with browser_like(server, pki) as client:
        token = login_form(client)
        assert client.post("/console/login", data={"csrf": token, "secret": key}).status_code == 303
        listing = client.get("/console/messages?recipient=bob@example.test")
        page = client.get(f"/console/messages/{submitted.message_id}")
    for html in (listing.text, page.text):
        assert "&lt;img src=x onerror=" in html and hostile not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in page.text and "<script>x()" not in page.text
