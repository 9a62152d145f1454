"""The console's messages pages in a real browser (issue 16): log in with an API key, search
a message delivered over TLS to a real sink and read its attempt's TLS record; hold and
release a queued message; keys without ``console/access`` or without ``queue/manage`` get
no page and no action; a cross-site POST, and a POST without the CSRF token, change nothing;
axe-core finds no serious or critical violation. The message page's screenshot goes to
docs/images/ for docs/console.md."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from tests.browser.conftest import IMAGES, PARKED, ConsoleRig, axe_violations, log_in

PHONE_SHOT = Path(tempfile.gettempdir()) / "sealpost-console-phone.png"  # for a look


def test_log_in_search_a_delivered_message_and_read_its_tls_record(page, rig: ConsoleRig):
    message_id = rig.submit("bob@example.net", "browser-delivered")
    rig.wait_state(message_id, "done")
    page.goto("/console/messages")
    assert page.url.endswith("/console/login?next=/console/messages"), "log in first"
    assert axe_violations(page) == []
    log_in(page, rig.keys["admin"], "/console/messages")
    assert page.url.endswith("/console/messages"), page.content()
    page.get_by_label("Recipient").fill("BOB@example.net")
    page.get_by_role("button", name="Search").click()
    link = page.get_by_role("link", name=message_id)
    link.wait_for()
    # htmx pushes the search to the URL after the swap settles, a moment after the link shows
    page.wait_for_url(re.compile(r"recipient=BOB%40example\.net"))
    assert page.get_by_role("cell", name="browser-delivered").is_visible()
    assert axe_violations(page) == []
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "console-messages.png"))
    link.click()
    page.wait_for_url(re.compile(rf"/console/messages/{message_id}$"))
    assert page.get_by_text("Delivered", exact=True).is_visible()
    verdict = page.locator(".verdict").first.inner_text()
    assert verdict.startswith("Verified TLS (TLSv1."), verdict
    record = page.locator("details.tls dl").first.inner_text()
    assert "TLS_" in record and "mx.example.test" in record, record
    assert re.search(r"Certificate issuer\s+OU=Testing CA", record), record
    assert "opportunistic" in record or "verified certificate" in record, record
    assert "Subject: browser-delivered" in page.locator("pre.headers").inner_text()
    assert page.get_by_role("button", name="Hold").count() == 0, "done mail: no buttons"
    assert axe_violations(page) == []
    page.screenshot(path=str(IMAGES / "console-message.png"), full_page=True)
    # On a phone: nothing wider than the screen, on this page and on the search results.
    page.set_viewport_size({"width": 360, "height": 780})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.goto("/console/messages?recipient=bob%40example.net")
    page.get_by_role("link", name=message_id).wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=str(PHONE_SHOT), full_page=True)


def test_hold_and_release_a_queued_message(page, rig: ConsoleRig):
    message_id = rig.submit(f"carol@{PARKED}", "browser-hold")
    log_in(page, rig.keys["admin"], f"/console/messages/{message_id}")
    assert rig.state(message_id) == "queued"
    page.get_by_role("button", name="Hold").click()
    page.get_by_role("status").wait_for()
    assert "hold: 1 message(s) changed" in page.get_by_role("status").inner_text()
    assert rig.state(message_id) == "held"
    assert page.get_by_role("button", name="Hold").count() == 0
    page.get_by_role("button", name="Release").click()
    page.wait_for_url(re.compile(r"done=release"))
    assert "release: 1 message(s) changed" in page.get_by_role("status").inner_text()
    assert rig.state(message_id) == "queued"
    assert axe_violations(page) == []
    # htmx requests carry the token as X-CSRF-Token (static/console.js, from the meta tag)
    page.evaluate(
        "path => htmx.ajax('POST', path, {target: '#main', select: '#main', swap: 'outerHTML'})",
        f"/console/messages/{message_id}/hold",
    )
    rig.wait_state(message_id, "held")
    page.get_by_role("button", name="Release").click()
    page.wait_for_url(re.compile(r"done=release"))
    page.get_by_role("button", name="Log out").click()
    page.goto(f"/console/messages/{message_id}")
    assert "/console/login" in page.url, "logged out: the page asks to log in again"


def test_a_key_without_console_access_gets_no_session(page, rig: ConsoleRig):
    log_in(page, rig.keys["no-console"], "/console/messages")
    assert page.get_by_role("alert").inner_text().startswith("Log-in failed")
    assert not [c for c in page.context.cookies() if c["name"] == "__Host-sealpost-console"]
    page.goto("/console/messages")
    assert "/console/login" in page.url


def test_a_key_without_the_grant_gets_no_page_and_no_action(page, rig: ConsoleRig):
    message_id = rig.submit(f"dave@{PARKED}", "browser-grants")
    log_in(page, rig.keys["console-only"], "/console/messages")
    answer = page.goto(f"/console/messages/{message_id}")
    assert answer.status == 403
    assert "needs the grant" in page.get_by_role("alert").inner_text()
    assert "browser-grants" not in page.content() and message_id not in page.content()
    page.context.clear_cookies()
    log_in(page, rig.keys["viewer"], f"/console/messages/{message_id}")
    assert page.get_by_text("browser-grants").first.is_visible(), "the viewer sees it"
    assert page.get_by_role("button", name="Hold").count() == 0, "but gets no buttons"
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    refused = page.request.post(
        f"/console/messages/{message_id}/hold",
        form={"csrf": token},
        headers={"Origin": page.url.split("/console")[0]},
        max_redirects=0,
    )
    assert refused.status == 403 and "queue/manage" in refused.text()
    assert rig.state(message_id) == "queued"


def test_a_cross_site_post_or_one_without_the_token_changes_nothing(page, rig: ConsoleRig):
    message_id = rig.submit(f"erin@{PARKED}", "browser-csrf")
    target = f"{rig.base}/console/messages/{message_id}/cancel"
    log_in(page, rig.keys["admin"], f"/console/messages/{message_id}")
    # Another site's page posts a form to the console in the logged-in browser.
    attacker = "https://attacker.test/"
    page.route(
        attacker,
        lambda route: route.fulfill(
            content_type="text/html",
            body=f'<form id="f" method="post" action="{target}"></form>'
            '<script>document.getElementById("f").submit()</script>',
        ),
    )
    with page.expect_response(target) as posted:
        page.goto(attacker)
    assert posted.value.status == 403
    assert rig.state(message_id) == "queued"
    # The console's own cookie, but no token: refused too.
    without = page.request.post(target, form={"nothing": "x"}, max_redirects=0)
    assert without.status == 403 and "security token" in without.text()
    wrong = page.request.post(target, form={"csrf": "forged"}, max_redirects=0)
    assert wrong.status == 403
    assert rig.state(message_id) == "queued"
