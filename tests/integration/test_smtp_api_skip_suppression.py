"""``X-MSYS-API`` ``options.skip_suppression`` over a real SMTP AUTH submission (implicit
TLS): a key with ``smtp/inject`` alone has it ignored (the suppressed recipient is dropped,
250, a ``policy_rejection``), a key that also holds ``suppression_lists/manage`` sends to
the suppressed recipient, as the API's transmissions do; the header is gone either way."""

from __future__ import annotations

import smtplib

from sealpost.api_keys import create_key
from sealpost.model.grants import Grant
from sealpost.model.suppression import Suppression, SuppressionSource, SuppressionType

RCPT = "far@remote.test"
MESSAGE = (
    b"From: a@sender.test\r\nTo: far@remote.test\r\nSubject: s\r\n"
    b'X-MSYS-API: {"options": {"skip_suppression": true}}\r\n\r\nbody\r\n'
)


def inject(server, pki, key: str) -> tuple[int, bytes]:
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.ports["submissions"], timeout=10, context=pki.client_context()
    ) as client:
        client.ehlo("client.test")
        client.user, client.password = "SMTP_Injection", key
        assert client.auth("LOGIN", client.auth_login, initial_response_ok=False)[0] == 235
        client.mail("a@sender.test")
        assert client.rcpt(RCPT)[0] == 250
        return client.data(MESSAGE)


def test_skip_suppression_over_smtp_needs_the_manage_grant(server, pki):
    store = server.app.store
    entry = Suppression(
        RCPT, SuppressionType.NON_TRANSACTIONAL, SuppressionSource.MANUALLY_ADDED, "", 0.0, 0.0
    )
    server.call(lambda: store.put_suppressions([entry]))

    def key(*grants: Grant) -> str:
        made, _ = server.call(lambda: create_key(store, "k", 0.0, grants=set(grants)))
        return made

    code, text = inject(server, pki, key(Grant.SMTP_INJECT))
    assert code == 250 and b"suppressed" in text, "ignored without the grant"
    assert server.call(lambda: store.list(limit=10)) == []
    assert len(server.call(lambda: store.list_events(types=["policy_rejection"]))) == 1

    code, text = inject(server, pki, key(Grant.SMTP_INJECT, Grant.SUPPRESSION_LISTS_MANAGE))
    assert code == 250 and b"suppressed" not in text
    [queued] = server.call(lambda: store.list(limit=10))
    stored = server.call(lambda: store.get(queued.id))
    assert [r.address for r in stored.recipients] == [RCPT]
    assert b"X-MSYS-API" not in stored.message.data
    assert len(server.call(lambda: store.list_events(types=["policy_rejection"]))) == 1
