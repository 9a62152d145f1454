"""The pure half of the config reload (``config_reload``): which keys changed, which of them
apply live, and the outbound parts taking new TLS policy rules, routes and retry timings."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sealpost.config.loader import config_from_dict
from sealpost.config_reload import changed_keys, is_live
from sealpost.outbound import build_outbound
from sealpost.policy.levels import TlsLevel
from sealpost.store.memory.store import MemoryStore

BASE = {"server": {"hostname": "mx.example.test"}, "mta_sts": {"enabled": False}}


def config(**tables):
    data = {**BASE, **tables}
    return config_from_dict(data, Path("/tmp"))


def test_changed_keys_are_dotted_and_classified():
    old = config(delivery={"routes": {"a.test": "relay.test:25"}})
    new = config(
        delivery={"routes": {"a.test": "other.test:25"}},
        store={"url": "sqlite:////tmp/other.db"},
        server={"hostname": "mx.example.test", "max_connections": 7, "workers": 2},
        retention={"event_days": 1.0},
    )
    changed = changed_keys(old, new)
    assert changed == [
        "delivery.routes.a.test",
        "retention.event_days",
        "server.max_connections",
        "server.workers",
        "store.url",
    ]
    assert [k for k in changed if is_live(k)] == changed[:3]
    assert not is_live("server.max_connections_per_ip_x") and not is_live("smtp.listeners")


def test_outbound_takes_new_tls_rules_routes_and_schedule():
    async def main() -> None:
        async def no_dsn(recipient: str, data: bytes) -> None:
            return None

        store = MemoryStore()
        outbound = build_outbound(config(), store, no_dsn)
        before = await outbound.policy.requirement_for("bank.test")
        assert before.requirement.level is TlsLevel.MAY
        new = config(
            delivery={
                "tls_policy": {"bank.test": "verify"},
                "routes": {"bank.test": "relay.test:2525"},
                "maximal_backoff": 1234.0,
            }
        )
        outbound.apply(new)
        after = await outbound.policy.requirement_for("bank.test")
        assert after.requirement.level is TlsLevel.VERIFY
        assert outbound.delivery._settings.static_routes["bank.test"] == "relay.test:2525"
        assert outbound.dispatcher._schedule.maximal_backoff == 1234.0
        await outbound.pool.close_all()

    asyncio.run(main())
