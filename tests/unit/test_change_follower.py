"""``ChangeFollower`` over the real memory store: a change this process made is refreshed at
once, one no notification told of is found by the fingerprints, a failed refresh is tried
again, and ``CONFIG_KINDS`` names the kinds the packages really write."""

from __future__ import annotations

import asyncio

from sealpost.api.templates_v1 import KIND as TEMPLATE
from sealpost.change_follower import ChangeFollower
from sealpost.domains.records import KIND as SENDING_DOMAIN
from sealpost.model.document import Document
from sealpost.store.contracts.config_changes import CONFIG_KINDS
from sealpost.store.memory import MemoryStore
from sealpost.webhooks.definition import KIND as WEBHOOK


def test_the_config_kinds_are_the_kinds_the_packages_write():
    assert {SENDING_DOMAIN, TEMPLATE, WEBHOOK} == CONFIG_KINDS


class Calls:
    def __init__(self, fail: int = 0) -> None:
        self.count = 0
        self.fail = fail

    async def __call__(self) -> None:
        self.count += 1
        if self.fail:
            self.fail -= 1
            raise RuntimeError("store down")


def test_a_write_is_refreshed_at_once_and_only_for_its_kind():
    async def main() -> None:
        store = MemoryStore()
        domains, hooks = Calls(), Calls()
        follower = ChangeFollower(store, {"sending_domain": domains, "webhook": hooks}, 0.05)
        await follower.prime()
        assert await follower.step() == frozenset()
        await store.put_document(Document("sending_domain", "a.test", {}, 1.0))
        assert await follower.step() == {"sending_domain"}
        assert (domains.count, hooks.count) == (1, 0)
        assert await follower.step() == frozenset()

    asyncio.run(main())


def test_a_change_without_a_notification_is_found_by_its_fingerprint():
    async def main() -> None:
        store = MemoryStore()
        hooks = Calls()
        follower = ChangeFollower(store, {"webhook": hooks}, 0.05)
        await follower.prime()
        await store.put_document(Document("webhook", "w1", {}, 1.0))
        await store.wait_for_config_change(0)  # someone else took the notification: lost
        assert await follower.step() == {"webhook"}
        assert hooks.count == 1

    asyncio.run(main())


def test_a_failed_refresh_is_tried_again():
    async def main() -> None:
        store = MemoryStore()
        domains = Calls(fail=1)
        follower = ChangeFollower(store, {"sending_domain": domains}, 0.05)
        await follower.prime()
        await store.delete_document("sending_domain", "none")  # nothing deleted: no change
        assert await follower.step() == frozenset()
        await store.put_document(Document("sending_domain", "a.test", {}, 1.0))
        assert await follower.step() == {"sending_domain"}  # raised
        assert await follower.step() == {"sending_domain"}  # so again
        assert await follower.step() == frozenset()
        assert domains.count == 2

    asyncio.run(main())
