"""``compose.budget``: a composed message is capped while it is built (issue 10 item 5):
substitution stops as soon as the output would pass the cap, attachments are counted
before they are encoded, and the finished message is measured exactly."""

from __future__ import annotations

import tracemalloc

import pytest

from sealpost.compose import inline
from sealpost.compose.addresses import Mailbox
from sealpost.compose.budget import Budget, TooLarge, base64_size, check_size, for_message
from sealpost.compose.mime import base64_body
from sealpost.compose.substitution import render

NOW = 1_760_000_000.0
RCPT = inline.Addressee("ann@example.net", field="recipients[0]")


def content(**fields: object) -> inline.InlineContent:
    values: dict = {"sender": Mailbox("o@shop.test"), "subject": "Hi", "text": "t"}
    values.update(fields)
    return inline.InlineContent(**values)


def build(c: inline.InlineContent, data: dict, budget: Budget) -> bytes:
    return inline.build(c, RCPT, data, hostname="mx.test", now=NOW, budget=budget).data


def test_substitution_stops_at_the_cap_instead_of_building_everything():
    """The issue's shape, scaled up: 10 KB named 100,000 times would be 1 GB of text."""
    value = "&" * 10_000  # escaped in html: every piece is a new 50 KB string
    budget = Budget(1_000_000, "the cap")
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge) as refused:
            render("{{a}}" * 100_000, {"a": value}, escape_html=True, budget=budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused.value.field == "content" and "the cap" in refused.value.reason
    assert budget.used <= 1_000_000 + 50_000, "stopped at the first piece past the cap"
    assert peak < 4_000_000, f"peak {peak} octets for a 1 MB cap"


def test_render_counts_every_piece_as_it_will_be_written():
    budget = Budget(10**6, "cap")
    out = render("a{{x}}b{{{y}}}é", {"x": "<", "y": "€"}, escape_html=True, budget=budget)
    assert out == "a&lt;b€é"
    assert budget.used == 1 + 4 + 1 + 9 + 6  # QP writes each non-ASCII octet as =XX
    assert render("{{x}}", {"x": "y"}) == "y"  # without a budget nothing changes


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"text": "{{a}}" * 50}, "content.text"),
        ({"html": "<p>{{a}}</p>" * 50}, "content.html"),
        ({"text": "t", "amp_html": "{{a}}" * 50}, "content.amp_html"),
        ({"subject": "{{a}}" * 50}, "content.subject"),
        ({"headers": (("X-Big", "{{a}}" * 50),)}, "content.headers.X-Big"),
        ({"reply_to": "{{a}}" * 50 + "@x.test"}, "content.reply_to"),
    ],
)
def test_each_part_names_its_field(fields: dict, field: str):
    with pytest.raises(TooLarge) as refused:
        build(content(**fields), {"a": "x" * 1000}, Budget(20_000, "cap"))
    assert refused.value.field == field


def test_attachments_are_counted_before_they_are_encoded():
    big = inline.Attachment("a.bin", "application/octet-stream", b"\0" * 30_000)
    assert base64_size(30_000) == len(base64_body(b"\0" * 30_000))
    budget = Budget(base64_size(30_000) - 1, "cap")
    with pytest.raises(TooLarge) as refused:
        build(content(attachments=(big,)), {}, budget)
    assert refused.value.field == "content.attachments"
    image = inline.Attachment("logo", "image/png", b"\0" * 30_000)
    with pytest.raises(TooLarge) as refused:
        build(content(html="<img>", inline_images=(image,)), {}, Budget(30_000, "cap"))
    assert refused.value.field == "content.inline_images"


def test_the_finished_message_is_measured_exactly():
    message = build(content(text="x" * 5000), {}, Budget(10**6, "cap"))
    assert check_size("content", message, Budget(len(message), "cap")) is message
    with pytest.raises(TooLarge) as refused:
        build(content(text="x" * 5000), {}, Budget(len(message) - 1, "cap"))
    assert refused.value.field == "content"
    assert f"is {len(message)} octets" in refused.value.reason


def test_without_substitution_the_text_is_still_counted():
    c = content(text="{{a}}" * 3000)
    with pytest.raises(TooLarge):
        inline.build(
            c, RCPT, {}, hostname="h", now=NOW, substitute=False, budget=Budget(10_000, "cap")
        )


def test_the_smaller_cap_names_itself():
    message = for_message(
        "recipients[3]", max_message=1000, transmission_left=5000, max_transmission=9000
    )
    assert message.limit == 1000 and "max_message_size (1000" in message.what
    total = for_message(
        "recipients[3]", max_message=1000, transmission_left=400, max_transmission=9000
    )
    assert total.limit == 400 and "max_transmission_bytes (9000" in total.what
    assert "recipients[3]" in total.rcpt
