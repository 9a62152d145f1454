"""The webhook worker driven step by step: a memory store, a fake clock and httpx's
MockTransport instead of sockets (reference 5.4: batching, auth, retries, drop, cursor)."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from sealpost.model.document import Document
from sealpost.model.events import EventRecord
from sealpost.model.webhook_delivery import DeliveryState, FailureCode
from sealpost.store.memory import MemoryStore
from sealpost.webhooks.backoff import RetryPolicy
from sealpost.webhooks.definition import AuthType, BasicCredentials, OAuthRequest, Webhook
from sealpost.webhooks.state import load_state, retry_now
from sealpost.webhooks.worker import WebhookWorker, WorkerSettings

T0 = 1_767_225_600.0


def synchronous(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Receiver:
    """Records requests; ``answer`` decides each response."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or (lambda _r: httpx.Response(200))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def hooks(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path != "/token"]

    def bodies(self) -> list[list[dict[str, Any]]]:
        return [json.loads(r.content) for r in self.hooks()]


def event(n: int, kind: str = "injection", ts: float = T0 + 1) -> EventRecord:
    return EventRecord(kind, f"m{n}", ts, {"rcpt_to": f"u{n}@example.net"}, f"u{n}@example.net")


async def setup(
    receiver: Receiver, *hooks: Webhook, clock: Clock | None = None, **settings: Any
) -> tuple[MemoryStore, WebhookWorker, Clock]:
    store = MemoryStore()
    await store.open()
    for h in hooks:
        await store.put_document(Document("webhook", h.id, h.to_payload()))
    clock = clock or Clock()
    worker = WebhookWorker(
        store,
        settings=WorkerSettings(**settings),
        clock=clock,
        transport=httpx.MockTransport(receiver),
    )
    return store, worker, clock


def webhook(webhook_id: str = "w1", **changes: Any) -> Webhook:
    base: dict[str, Any] = {
        "id": webhook_id,
        "name": webhook_id,
        "target": f"https://{webhook_id}.example.net/hook",
        "created_at": T0,
    }
    return Webhook(**{**base, **changes})


@synchronous
async def test_delivers_new_events_in_sparkposts_shape_with_headers_and_basic_auth():
    receiver = Receiver()
    h = webhook(
        auth_type=AuthType.BASIC,
        basic=BasicCredentials("hookuser", "hookpass"),
        custom_headers={"X-Env": "prod"},
        auth_token="legacy",
    )
    store, worker, _ = await setup(receiver, h)
    await store.add_events([event(0, ts=T0 - 5)])  # before the webhook existed: not sent
    await store.add_events([event(1), event(2, "delivery")])
    assert await worker.step("w1") == 0.0
    (request,) = receiver.hooks()
    assert request.method == "POST" and str(request.url) == "https://w1.example.net/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-env"] == "prod"
    assert request.headers["x-messagesystems-webhook-token"] == "legacy"
    assert (
        request.headers["authorization"]
        == "Basic " + base64.b64encode(b"hookuser:hookpass").decode()
    )
    batch_id = request.headers["x-messagesystems-batch-id"]
    body = json.loads(request.content)
    assert [item["msys"]["message_event"]["rcpt_to"] for item in body] == [
        "u1@example.net",
        "u2@example.net",
    ]
    assert body[1]["msys"]["message_event"]["timestamp"] == str(int(T0 + 1))
    state = await load_state(store, "w1")
    assert state is not None and state.cursor == 3 and state.pending is None
    assert state.last_successful == T0
    (status,) = state.history
    assert (status.batch_id, status.attempts, status.response_code) == (batch_id, 1, 200)
    assert await worker.step("w1") == worker.settings.poll_interval, "nothing new"
    assert len(receiver.hooks()) == 1
    await worker.stop()


@synchronous
async def test_batches_are_bounded_and_filtered_by_event_type():
    receiver = Receiver()
    store, worker, _ = await setup(receiver, webhook(events=("delivery",)), batch_size=100)
    await store.add_events([event(n, "delivery" if n % 2 else "injection") for n in range(500)])
    while await worker.step("w1") == 0.0:
        pass
    sizes = [len(b) for b in receiver.bodies()]
    assert sizes == [100, 100, 50]
    types = {item["msys"]["message_event"]["type"] for b in receiver.bodies() for item in b}
    assert types == {"delivery"}
    ids = [int(item["msys"]["message_event"]["event_id"]) for b in receiver.bodies() for item in b]
    assert ids == sorted(set(ids)), "in order, no duplicates"
    await worker.stop()


@synchronous
async def test_failures_retry_the_same_batch_with_backoff_then_succeed():
    answers = iter([503, 500])
    receiver = Receiver(lambda _r: httpx.Response(next(answers, 200)))
    store, worker, clock = await setup(receiver, webhook())
    await store.add_events([event(1)])
    assert await worker.step("w1") == 10.0
    assert await worker.step("w1") == 10.0, "not due yet: no POST"
    assert len(receiver.hooks()) == 1
    clock.now += 10
    assert await worker.step("w1") == 20.0
    await store.add_events([event(2)])  # arrives meanwhile: not merged into the retried batch
    clock.now += 20
    assert await worker.step("w1") == 0.0
    ids = {r.headers["x-messagesystems-batch-id"] for r in receiver.hooks()}
    assert len(ids) == 1 and len(receiver.hooks()) == 3
    assert all(len(b) == 1 for b in receiver.bodies())
    await worker.step("w1")
    assert receiver.bodies()[-1][0]["msys"]["message_event"]["message_id"] == "m2"
    state = await load_state(store, "w1")
    assert state is not None
    codes = [(s.attempts, s.response_code, s.failure_code) for s in state.history]
    assert codes[:3] == [
        (1, 503, FailureCode.HTTP_STATUS),
        (2, 500, FailureCode.HTTP_STATUS),
        (3, 200, None),
    ]
    assert state.last_failure == T0 + 10 and state.last_successful == T0 + 30
    await worker.stop()


@synchronous
async def test_a_batch_failing_for_eight_hours_is_dropped_and_recorded():
    receiver = Receiver(lambda _r: httpx.Response(500))
    store, worker, clock = await setup(receiver, webhook())
    await store.add_events([event(1)])
    attempts = 0
    delay = await worker.step("w1")
    while delay:
        attempts += 1
        clock.now += delay
        delay = await worker.step("w1")
    state = await load_state(store, "w1")
    assert state is not None and state.pending is None and state.cursor == 1
    assert state.history[-1].failure_code is FailureCode.DROPPED
    assert clock.now - T0 <= 8 * 3600 and attempts >= 12
    receiver.answer = lambda _r: httpx.Response(200)
    await store.add_events([event(2)])
    assert await worker.step("w1") == 0.0
    assert receiver.bodies()[-1][0]["msys"]["message_event"]["message_id"] == "m2"
    await worker.stop()


@synchronous
async def test_one_failing_webhook_does_not_hold_up_another():
    receiver = Receiver(lambda r: httpx.Response(500 if r.url.host == "bad.example.net" else 200))
    store, worker, _ = await setup(receiver, webhook("bad"), webhook("good"))
    await store.add_events([event(1), event(2)])
    assert await worker.step("bad") == 10.0
    assert await worker.step("good") == 0.0
    await store.add_events([event(3)])
    assert await worker.step("good") == 0.0
    good = [r for r in receiver.hooks() if r.url.host == "good.example.net"]
    assert [len(json.loads(r.content)) for r in good] == [2, 1]
    await worker.stop()


def oauth_answer(
    tokens: list[str], valid: set[str], fail_token: bool = False
) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            if fail_token or form.get("client_secret") != "cs":
                return httpx.Response(401, json={"error": "invalid_client"})
            token = f"tok{len(tokens)}"
            tokens.append(token)
            valid.add(token)
            return httpx.Response(200, json={"access_token": token, "expires_in": 3600})
        auth = request.headers.get("authorization", "")
        return httpx.Response(200 if auth.removeprefix("Bearer ") in valid else 401)

    return answer


def oauth_hook() -> Webhook:
    return webhook(
        auth_type=AuthType.OAUTH2,
        oauth=OAuthRequest(
            "https://auth.example.net/token",
            {"client_id": "ci", "client_secret": "cs", "grant_type": "client_credentials"},
        ),
    )


@synchronous
async def test_oauth2_token_is_fetched_cached_and_refetched_on_401_and_expiry():
    tokens: list[str] = []
    valid: set[str] = set()
    receiver = Receiver(oauth_answer(tokens, valid))
    store, worker, clock = await setup(receiver, oauth_hook())
    await store.add_events([event(1)])
    assert await worker.step("w1") == 0.0
    (token_request,) = [r for r in receiver.requests if r.url.path == "/token"]
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(token_request.content.decode())
    assert form == {
        "client_id": ["ci"],
        "client_secret": ["cs"],
        "grant_type": ["client_credentials"],
    }
    await store.add_events([event(2)])
    assert await worker.step("w1") == 0.0
    assert tokens == ["tok0"], "cached"
    valid.clear()  # the receiver forgets the token: 401, fetch again, POST again
    await store.add_events([event(3)])
    assert await worker.step("w1") == 0.0
    assert tokens == ["tok0", "tok1"]
    assert [r.headers["authorization"] for r in receiver.hooks()][-2:] == [
        "Bearer tok0",
        "Bearer tok1",
    ]
    clock.now += 3600  # expired by its own expires_in
    await store.add_events([event(4)])
    assert await worker.step("w1") == 0.0
    assert tokens == ["tok0", "tok1", "tok2"]
    await worker.stop()


@synchronous
async def test_oauth2_token_endpoint_failure_is_an_auth_failure_and_is_retried():
    tokens: list[str] = []
    receiver = Receiver(oauth_answer(tokens, set(), fail_token=True))
    store, worker, _ = await setup(receiver, oauth_hook())
    await store.add_events([event(1)])
    assert await worker.step("w1") == 10.0
    state = await load_state(store, "w1")
    assert state is not None and state.history[-1].failure_code is FailureCode.AUTH
    assert receiver.hooks() == [], "no POST without a token"
    await worker.stop()


@synchronous
async def test_transport_errors_are_classified():
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "slow.example.net":
            raise httpx.ReadTimeout("slow", request=request)
        raise httpx.ConnectError("refused", request=request)

    store, worker, _ = await setup(Receiver(answer), webhook("slow"), webhook("down"))
    await store.add_events([event(1)])
    for name, code in (("slow", FailureCode.TIMEOUT), ("down", FailureCode.CONNECTION)):
        assert await worker.step(name) == 10.0
        state = await load_state(store, name)
        assert state is not None and state.history[-1].failure_code is code
    await worker.stop()


class CrashAfterPost(MemoryStore):
    """A store whose next write after the POST fails, as if the process died there."""

    armed = False

    async def put_webhook_state(self, state: DeliveryState, now: float) -> None:
        if self.armed and state.history:
            raise RuntimeError("power cut")
        await super().put_webhook_state(state, now)


@synchronous
async def test_a_crash_between_post_and_cursor_write_resends_the_same_batch():
    receiver = Receiver()
    store = CrashAfterPost()
    await store.open()
    await store.put_document(Document("webhook", "w1", webhook().to_payload()))
    await store.add_events([event(1), event(2)])
    store.armed = True
    first = WebhookWorker(store, clock=Clock(), transport=httpx.MockTransport(receiver))
    with pytest.raises(RuntimeError):
        await first.step("w1")
    await first.stop()
    store.armed = False
    second = WebhookWorker(store, clock=Clock(), transport=httpx.MockTransport(receiver))
    assert await second.step("w1") == 0.0
    a, b = receiver.hooks()
    assert a.headers["x-messagesystems-batch-id"] == b.headers["x-messagesystems-batch-id"]
    assert a.content == b.content
    assert await second.step("w1") == second.settings.poll_interval
    await second.stop()


@synchronous
async def test_deleted_or_inactive_webhooks_stop_and_lose_their_state():
    receiver = Receiver()
    store, worker, _ = await setup(receiver, webhook(), webhook("off", active=False))
    await store.add_events([event(1)])
    assert await worker.step("off") is None
    assert await worker.step("w1") == 0.0
    await store.delete_document("webhook", "w1")
    assert await worker.step("w1") is None
    assert await load_state(store, "w1") is None
    await worker.stop()


@synchronous
async def test_running_worker_delivers_on_wake_and_stops_cleanly():
    delivered = asyncio.Event()

    def answer(_request: httpx.Request) -> httpx.Response:
        delivered.set()
        return httpx.Response(200)

    receiver = Receiver(answer)

    async def no_sleep_forever(_seconds: float) -> None:
        await asyncio.Event().wait()  # only wake() or stop() end a wait

    store, _, clock = await setup(receiver, webhook())
    worker = WebhookWorker(
        store,
        clock=clock,
        sleep=no_sleep_forever,
        transport=httpx.MockTransport(receiver),
        settings=WorkerSettings(retry=RetryPolicy(first=1.0)),
    )
    worker.start()
    await asyncio.sleep(0)
    await store.add_events([event(1)])
    worker.wake()
    await asyncio.wait_for(delivered.wait(), 5)
    await asyncio.wait_for(worker.stop(), 5)
    assert len(receiver.hooks()) == 1


@synchronous
async def test_a_changed_webhook_retries_its_waiting_batch_at_once():
    answers = iter([500])
    receiver = Receiver(lambda _r: httpx.Response(next(answers, 200)))
    store, worker, _ = await setup(receiver, webhook())
    await store.add_events([event(1)])
    assert await worker.step("w1") == 10.0
    assert await retry_now(store, "w1", T0) is True
    assert await worker.step("w1") == 0.0
    assert len(receiver.hooks()) == 2
    assert await retry_now(store, "w1", T0) is False, "nothing waiting"
    await worker.stop()


def test_secrets_never_reach_the_log(caplog: pytest.LogCaptureFixture):
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "tok-SECRET-4", "expires_in": 60})
        if request.url.host == "down.example.net":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(500, text="no")

    hooks = [
        webhook(
            "basic",
            target="https://basic.example.net/hook?key=SECRET-1",
            auth_type=AuthType.BASIC,
            basic=BasicCredentials("u", "SECRET-2"),
            auth_token="SECRET-3",
        ),
        webhook(
            "down",
            auth_type=AuthType.OAUTH2,
            oauth=OAuthRequest(
                "https://auth.example.net/token?x=SECRET-5",
                {"client_id": "c", "client_secret": "SECRET-6", "grant_type": "x"},
            ),
        ),
    ]

    @synchronous
    async def run() -> None:
        store, worker, clock = await setup(Receiver(answer), *hooks)
        await store.add_events([event(1)])
        for name in ("basic", "down"):
            delay = await worker.step(name)
            while delay:  # until the batch is dropped, logging every failure
                clock.now += delay
                delay = await worker.step(name)
        await worker.stop()

    with caplog.at_level(logging.DEBUG):
        run()
    assert "dropped" in caplog.text
    assert "SECRET" not in caplog.text
