"""The destinations page's data: domains busiest first with their MX hosts, DANE use, cached
MTA-STS mode and TLS outcomes; paging; and a tls-check report in plain words."""

from __future__ import annotations

import asyncio

from sealpost.console.destinations_data import check_view, destinations, host_words
from sealpost.model.events import EventRecord
from sealpost.store import open_store
from sealpost.tlscheck.report import CheckReport, Grade, HostReport, Verdict, Verification
from sealpost.tlscheck.smtp_probe import Negotiated, ProbeResult

NOW = 1_760_000_000.0


def _attempt(domain, peer, version, verified, source="default"):
    tls = {"version": version, "verified": verified, "policy_source": source, "peer_name": peer}
    return EventRecord("delivery", "m", NOW - 60, {"recipient_domain": domain, "tls": tls})


def test_domains_busiest_first_with_hosts_dane_and_sts_mode_paged():
    events = [
        _attempt("a.test", "mx1.a.test", "TLSv1.3", True, "dane"),
        _attempt("a.test", "mx2.a.test", "TLSv1.3", True, "dane"),
        _attempt("a.test", "mx1.a.test", None, None),
        _attempt("b.test", "mx.b.test", "TLSv1.2", False, "mta-sts"),
        _attempt("c.test", "mx.c.test", "TLSv1.2", False),
        EventRecord("delivery", "m", NOW - 30 * 86400, {"recipient_domain": "old.test"}),
    ]
    sts = {"policy": {"mode": "enforce"}, "expires_at": NOW + 10}

    async def main():
        store = open_store("memory://")
        await store.add_events(events)
        await store.put_policy("mta-sts:b.test", sts)
        await store.put_policy("mta-sts:c.test", {**sts, "expires_at": NOW - 1})
        return (
            await destinations(store, NOW, page=1, size=2),
            await destinations(store, NOW, page=2, size=2),
        )

    first, second = asyncio.run(main())
    assert [d.domain for d in first.rows] == ["a.test", "b.test"] and first.more
    a, b = first.rows
    assert a.mx_hosts == ["mx1.a.test", "mx2.a.test"]
    assert a.outcomes["verified"] == 2 and a.outcomes["plaintext"] == 1
    assert a.dane == "in use" and b.dane == "not seen"
    assert a.mta_sts == "none cached" and b.mta_sts == "enforce"
    assert [d.domain for d in second.rows] == ["c.test"] and not second.more
    assert second.rows[0].mta_sts == "enforce (expired)"


def _host(**kw):
    return HostReport("mx.a.test", 25, **kw)


def test_host_words():
    assert "plaintext" in host_words(
        _host(probe=ProbeResult("192.0.2.1", 25, banner="220 hi", starttls_offered=False))
    )
    ok = _host(
        probe=ProbeResult(
            "192.0.2.1",
            25,
            banner="220 hi",
            starttls_offered=True,
            negotiated=Negotiated("TLSv1.3", "TLS_AES_128_GCM_SHA256", 128, "x25519"),
        ),
        verification=Verification(True),
    )
    words = "TLSv1.3 with TLS_AES_128_GCM_SHA256; certificate verified; DANE: none."
    assert host_words(ok) == words
    assert host_words(_host()) == "Could not be reached (no answer)."


def test_check_view_puts_the_grade_in_words():
    report = CheckReport("a.test", "domain", 25, False, 5.0, "now")
    report.verdict = Verdict(Grade.DOWNGRADEABLE, "TLS is not verified", ("r1",), ("f1",))
    view = check_view(report)
    assert view.grade == "downgradeable"
    assert view.headline.startswith("Mail goes through, but an attacker")
    assert view.summary == "TLS is not verified" and view.reasons == ("r1",)
    assert view.mta_sts == "No MTA-STS policy is published."
