"""Webhook definitions, payload shape, retry timing and stored state (reference 5.1-5.4;
checklist I1/I2 for header injection through custom headers and credentials)."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpost.model.events import EventRecord
from sealpost.model.webhook_delivery import BatchStatus, DeliveryState, FailureCode, PendingBatch
from sealpost.webhooks import payload
from sealpost.webhooks.backoff import RetryPolicy
from sealpost.webhooks.credentials import static_headers
from sealpost.webhooks.definition import (
    MASK,
    AuthType,
    BasicCredentials,
    DefinitionError,
    OAuthRequest,
    Webhook,
    check,
    redact_target,
)
from sealpost.webhooks.state import status_view

LINE_BREAKS = ["\r", "\n", "\r\n", "\x00", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85",
               "\u2028", "\u2029"]  # fmt: skip


def hook(**changes: object) -> Webhook:
    base = {"id": "w1", "name": "orders", "target": "https://hooks.example.net/sp"}
    return Webhook(**{**base, **changes})  # type: ignore[arg-type]


def checked(h: Webhook, allow_http: bool = False) -> None:
    check(h, allow_http=allow_http, known_events=payload.EVENT_TYPES)


def test_a_plain_https_webhook_is_accepted():
    checked(hook(events=("delivery", "bounce"), custom_headers={"X-Env": "prod"}))


@pytest.mark.parametrize(
    "target",
    ["http://hooks.example.net/", "ftp://x/", "hooks.example.net", "https:///path", "https://"],
)
def test_targets_must_be_https_urls(target: str):
    with pytest.raises(DefinitionError) as err:
        checked(hook(target=target))
    assert err.value.field == "target"


def test_http_only_in_development_and_never_credentials_in_the_url():
    checked(hook(target="http://127.0.0.1:8080/hook"), allow_http=True)
    with pytest.raises(DefinitionError, match="credentials"):
        checked(hook(target="https://user:pw@hooks.example.net/"))
    with pytest.raises(DefinitionError):
        checked(hook(target="https://hooks.example.net:99999/"))


@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_line_breaks_are_refused_in_headers_credentials_and_target(brk: str):
    cases = [
        hook(custom_headers={"X-A": f"v{brk}Bcc: x"}),
        hook(custom_headers={f"X-A{brk}B": "v"}),
        hook(target=f"https://hooks.example.net/{brk}x"),
        hook(auth_type=AuthType.BASIC, basic=BasicCredentials("u", f"p{brk}X-Evil: 1")),
        hook(auth_token=f"t{brk}X-Evil: 1"),
        hook(name=f"n{brk}x"),
        hook(
            auth_type=AuthType.OAUTH2,
            oauth=OAuthRequest(
                "https://auth.example.net/t",
                {"client_id": "c", "client_secret": f"s{brk}", "grant_type": "x"},
            ),
        ),
    ]
    for case in cases:
        with pytest.raises(DefinitionError):
            checked(case)


@pytest.mark.parametrize(
    "name", ["Host", "content-length", "X-MessageSystems-Batch-ID", "Transfer-Encoding"]
)
def test_headers_the_sender_owns_cannot_be_overridden(name: str):
    with pytest.raises(DefinitionError, match="set by the server"):
        checked(hook(custom_headers={name: "x"}))


def test_authorization_header_only_without_auth_type():
    checked(hook(custom_headers={"Authorization": "Token abc"}))
    with pytest.raises(DefinitionError):
        checked(
            hook(
                custom_headers={"Authorization": "Token abc"},
                auth_type=AuthType.BASIC,
                basic=BasicCredentials("u", "p"),
            )
        )


def test_auth_settings_are_complete():
    with pytest.raises(DefinitionError, match="auth_credentials"):
        checked(hook(auth_type=AuthType.BASIC))
    with pytest.raises(DefinitionError, match="username"):
        checked(hook(auth_type=AuthType.BASIC, basic=BasicCredentials("a:b", "p")))
    with pytest.raises(DefinitionError, match="client_secret"):
        checked(
            hook(
                auth_type=AuthType.OAUTH2,
                oauth=OAuthRequest("https://a.example/t", {"client_id": "c"}),
            )
        )
    with pytest.raises(DefinitionError, match="events"):
        checked(hook(events=("delivery", "exploded")))


@given(st.text(max_size=60), st.text(max_size=60), st.text(max_size=80))
def test_check_only_ever_raises_definition_errors(name: str, value: str, target: str):
    with contextlib.suppress(DefinitionError):
        checked(hook(name=name or "n", target=target, custom_headers={name or "X": value}))


def test_secrets_are_masked_and_a_mask_sent_back_keeps_them():
    stored = hook(
        auth_type=AuthType.OAUTH2,
        oauth=OAuthRequest(
            "https://a.example/t",
            {"client_id": "cid", "client_secret": "s3cret", "grant_type": "client_credentials"},
        ),
        auth_token="tok3n",
    )
    view = stored.public_view()
    assert "s3cret" not in repr(view) and "tok3n" not in repr(view)
    assert view["auth_request_details"]["body"] == {
        "client_id": "cid",
        "client_secret": MASK,
        "grant_type": "client_credentials",
    }
    echoed = hook(
        auth_type=AuthType.OAUTH2,
        oauth=OAuthRequest("https://a.example/t", dict(view["auth_request_details"]["body"])),
        auth_token=MASK,
    ).keep_secrets_of(stored)
    assert echoed.oauth is not None and echoed.oauth.body["client_secret"] == "s3cret"
    assert echoed.auth_token == "tok3n"
    basic = hook(auth_type=AuthType.BASIC, basic=BasicCredentials("u", "pw"))
    assert basic.public_view()["auth_credentials"] == {"username": "u", "password": MASK}
    assert Webhook.from_payload(basic.to_payload()) == basic


def test_static_headers_basic_and_deprecated_token():
    h = hook(
        auth_type=AuthType.BASIC,
        basic=BasicCredentials("user", "pässword"),
        auth_token="t",
        custom_headers={"X-Env": "prod"},
    )
    headers = static_headers(h)
    assert (
        headers["Authorization"] == "Basic " + base64.b64encode("user:pässword".encode()).decode()
    )
    assert headers["X-MessageSystems-Webhook-Token"] == "t"
    assert headers["X-Env"] == "prod"


def test_redacted_target_drops_query_and_credentials():
    assert redact_target("https://u:p@h.example:8443/a?token=x") == "https://h.example:8443/a"


def test_payload_shape_and_unix_timestamp():
    event = EventRecord(
        "delivery",
        "m1",
        1767225603.75,
        {"rcpt_to": "a@b.example", "outbound_tls": "1", "tls": {"version": "TLSv1.3"}},
        "a@b.example",
        event_id=42,
    )
    body = payload.batch([event, EventRecord("open", "m1", 1.0, {}, event_id=43)])
    inner = body[0]["msys"]["message_event"]
    assert inner["timestamp"] == "1767225603" and inner["event_id"] == "42"
    assert inner["type"] == "delivery" and inner["outbound_tls"] == "1"
    assert inner["tls"] == {"version": "TLSv1.3"}
    assert list(body[1]["msys"]) == ["track_event"]
    assert payload.encode(payload.PING) == b'[{"msys":{}}]'
    assert payload.class_key("generation_failure") == "gen_event"


def test_retry_schedule_doubles_caps_and_gives_up_after_eight_hours():
    policy = RetryPolicy()
    assert [policy.delay(n) for n in range(1, 10)] == [
        10, 20, 40, 80, 160, 320, 640, 1200, 1200,
    ]  # fmt: skip
    assert policy.next_attempt(1, 0.0, 100.0) == 110.0
    assert policy.next_attempt(30, 0.0, 8 * 3600 - 600) is None
    # attempts over 8 hours: about a dozen retries as SparkPost documents, plus the cap
    now, failures = 0.0, 0
    while (due := policy.next_attempt(failures + 1, 0.0, now)) is not None:
        now, failures = due, failures + 1
    assert 20 <= failures <= 40 and now <= 8 * 3600


def test_batch_status_view_and_retention():
    # Its round trip through the store: tests/conformance/test_webhook_state.py.
    state = DeliveryState(
        "w1",
        since=1.0,
        cursor=7,
        pending=PendingBatch("b1", 9, 2, 1, 3.0, 13.0),
        last_failure=3.0,
        history=(BatchStatus("b1", 3.0, 1, 503, FailureCode.HTTP_STATUS, 12),),
    )
    view = status_view(state.history[0])
    assert view["response_code"] == "503" and view["failure_code"] == "http_status"
    old = state.recorded(
        BatchStatus("b2", 100000.0, 1, 200, None, 5), now=100000.0, retention=86400, limit=10
    )
    assert [s.batch_id for s in old.history] == ["b2"], "entries older than a day are dropped"
