"""SparkPost's bounce rule (``delivery.bounce_rule``): hard bounce classes 10, 30 and 90 in a
``bounce`` or ``out_of_band`` event suppress the recipient for both types; soft bounces,
other events and bounces of our own bounces (null sender) add nothing."""

from __future__ import annotations

import pytest

from sealpost.delivery.bounce_rule import suppressions_from
from sealpost.model.events import EventRecord
from sealpost.model.suppression import SuppressionSource, SuppressionType


def event(kind: str, bounce_class: str, rcpt: str = "Gone@Example.NET", sender: str = "a@b.test"):
    fields = {
        "bounce_class": bounce_class,
        "rcpt_to": rcpt.lower(),
        "msg_from": sender,
        "error_code": "550",
        "raw_reason": "550 5.1.1 no such user",
    }
    return EventRecord(kind, "m1", 10.0, fields, rcpt.lower())


@pytest.mark.parametrize("kind", ["bounce", "out_of_band"])
@pytest.mark.parametrize("bounce_class", ["10", "30", "90"])
def test_a_hard_bounce_suppresses_both_types(kind, bounce_class):
    entries = suppressions_from([event(kind, bounce_class)], 99.0)
    assert {(e.recipient, e.type) for e in entries} == {
        ("gone@example.net", SuppressionType.TRANSACTIONAL),
        ("gone@example.net", SuppressionType.NON_TRANSACTIONAL),
    }
    assert all(e.source is SuppressionSource.BOUNCE_RULE for e in entries)
    assert all(
        e.description == "550: 550 5.1.1 no such user" and e.created == 99.0 for e in entries
    )


@pytest.mark.parametrize(
    "record",
    [
        event("bounce", "20"),  # soft
        event("bounce", "25"),  # admin failure, our own policy
        event("bounce", "50"),  # mail block
        event("delay", "10"),
        event("policy_rejection", "10"),
        event("bounce", "10", sender=""),  # a bounce of our bounce
    ],
)
def test_anything_else_adds_nothing(record):
    assert suppressions_from([record], 1.0) == []
