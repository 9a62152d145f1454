"""The console's overview, destinations, suppression list and API keys in a real browser
(issue 16): the overview draws its charts after real traffic (its screenshot goes to
docs/images/ for docs/console.md); "check now" runs tls-check against the rig's sink (real
STARTTLS, the real DNS test server) and shows the verdict in words; a suppression is added
and removed through the forms; an API key is created and shown once; axe-core finds no
serious or critical violation on these pages."""

from __future__ import annotations

import time

from sealpost.model.events import EventRecord
from tests.browser.conftest import IMAGES, ConsoleRig, axe_violations, log_in

# The check probes the sink on 127.0.0.1 at its own port: the API's egress rule must let
# the tls-check reach that address (as [api] allowed_private_targets does in a lab).
RIG_TABLES = {
    "api": {
        "address": "127.0.0.1:0",
        "allow_unverified_domains": True,
        "allowed_private_targets": ["127.0.0.0/8"],
    }
}


# A month of earlier attempts, so the charts (and the screenshot) have a shape: per hour,
# (domain, MX host, TLS version, verified, policy source, event type, TLS-RPT failure, reason).
KINDS = (
    ("mail.example.org", "mx.mail.example.org", "TLSv1.3", True, "mta-sts", "delivery", None, None),
    ("corp.example", "mx.corp.example", "TLSv1.2", False, "default", "delivery", None, None),
    ("old.example.net", "mx.old.example.net", None, None, "default", "delivery", None, None),
    ("bank.example", "mx.bank.example", None, None, "dane", "delay", "tlsa-invalid",
     "451 4.7.5 TLS dane required with mx.bank.example: tlsa-invalid"),
    ("busy.example", "mx.busy.example", "TLSv1.3", True, "default", "delay", None,
     "421 4.7.0 Try again later"),
)  # fmt: skip


def seed_history(rig: ConsoleRig, now: float) -> dict[str, int]:
    events, counts = [], {}
    for hour in range(1, 30 * 24):
        at = now - hour * 3600
        for n, (domain, mx, version, verified, source, kind, failure, reason) in enumerate(KINDS):
            repeat = (3 + hour % 5, 2, 1 if hour % 3 == 0 else 0, hour % 2, 1)[n]
            for i in range(repeat):
                tls = {"version": version, "verified": verified, "policy_source": source}
                fields = {"recipient_domain": domain, "tls": {**tls, "peer_name": mx}}
                if failure:
                    fields["tlsrpt_failures"] = [failure]
                if reason:
                    fields["reason"] = reason
                events.append(EventRecord("injection", "seed", at - 5, {}, f"r@{domain}"))
                events.append(EventRecord(kind, "seed", at + i, fields, f"r@{domain}"))
                counts[kind] = counts.get(kind, 0) + 1
    store = rig.server.app.store
    rig.server.call(lambda: store.add_events(events))
    return counts


def test_overview_draws_charts_after_traffic(page, rig: ConsoleRig):
    seed_history(rig, time.time())
    message_id = rig.submit("bob@example.net", "overview-traffic")
    rig.wait_state(message_id, "done")
    log_in(page, rig.keys["admin"], "/console/")
    assert page.get_by_role("heading", name="Overview", exact=True).is_visible()
    charts = page.locator('svg[role="img"]')
    assert charts.count() == 4
    tls_daily = page.get_by_role("img", name="TLS coverage per day, last 30 days")
    label = tls_daily.get_attribute("aria-label")
    assert "refused by policy 0," not in label and "plaintext 0," not in label, label
    sources = page.locator("#by-source").inner_text()
    assert "MTA-STS" in sources and "DANE" in sources and "opportunistic" in sources
    reasons = page.locator("#deferrals").inner_text()
    assert "421 4.7.0 Try again later" in reasons and "tlsa-invalid" in reasons
    assert page.locator("svg.chart rect title").count() >= 2, "bars with their counts"
    assert axe_violations(page) == []
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "console-overview.png"), full_page=True)
    page.get_by_role("link", name="Destinations").click()
    page.wait_for_url("**/console/destinations")
    row = page.locator("#destinations tbody tr", has_text="bob").or_(
        page.locator("#destinations tbody tr", has_text="mx.example.test")
    )
    assert "example.net" in row.inner_text()
    bank = page.locator("#destinations tbody tr", has_text="bank.example").inner_text()
    assert "mx.bank.example" in bank and "in use" in bank, bank
    assert axe_violations(page) == []
    # On a phone: nothing wider than the screen, on the destinations and the overview.
    page.set_viewport_size({"width": 360, "height": 780})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.goto("/console/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_check_now_shows_the_verdict_in_words(page, rig: ConsoleRig):
    log_in(page, rig.keys["admin"], "/console/destinations")
    page.get_by_label("Check a domain's mail TLS now").fill("example.net")
    page.get_by_role("button", name="Check now", exact=True).click()
    result = page.locator("#check-result .check-result")
    result.wait_for()
    text = result.inner_text()
    assert "Mail goes through, but an attacker" in text, text  # verified, but no policy
    assert "mx.example.test" in text and "certificate verified" in text, text
    assert "No MTA-STS policy is published." in text
    assert axe_violations(page) == []


def test_add_and_remove_a_suppression(page, rig: ConsoleRig):
    log_in(page, rig.keys["admin"], "/console/suppressions")
    page.get_by_label("Recipient", exact=True).fill("Frank@Example.NET")
    page.get_by_label("Type").select_option("transactional")
    page.get_by_label("Description").fill("asked by phone")
    page.get_by_role("button", name="Add").click()
    page.get_by_role("status").wait_for()
    assert "Suppression added." in page.get_by_role("status").inner_text()
    store = rig.server.app.store
    found = rig.server.call(lambda: store.suppressions_of("frank@example.net"))
    assert [(e.type.value, e.description) for e in found] == [("transactional", "asked by phone")]
    assert page.locator("#suppressions").inner_text().count("frank@example.net") == 1
    assert axe_violations(page) == []
    page.get_by_role("button", name="Remove frank@example.net (transactional)").click()
    page.wait_for_url("**done=removed**")
    assert rig.server.call(lambda: store.suppressions_of("frank@example.net")) == []
    assert page.locator("#suppressions").count() == 0


def test_create_an_api_key_shown_once(page, rig: ConsoleRig):
    log_in(page, rig.keys["admin"], "/console/api-keys")
    page.locator("summary", has_text="Create a key").click()
    page.get_by_label("Label").fill("reports")
    page.get_by_role("checkbox", name="metrics/view").check()
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text()
    assert len(key) == 40
    assert axe_violations(page) == []
    page.goto("/console/api-keys")
    assert key not in page.content() and key[:8] in page.content()
