"""TLS-RPT tallies and sent reports as rows of the SQL backends, and back (shared by
SQLite and PostgreSQL, whose tables ``tlsrpt_tallies``, ``tlsrpt_reports`` and
``tlsrpt_report_targets`` have the same columns).

Tally rows come sorted by their key, so two PostgreSQL transactions adding to the same rows
lock them in the same order and cannot deadlock each other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sealpost.model.tlsrpt import TlsFailure
from sealpost.model.tlsrpt_report import (
    ReportedPolicy,
    ReportTarget,
    SentReport,
    TargetState,
    TlsTally,
)

Row = tuple[Any, ...]


def tally_rows(tallies: Sequence[TlsTally]) -> tuple[Row, ...]:
    """(day, policy_domain, policy_type, policy_hash, policy, receiving_mx, receiving_ip,
    result_type, sessions), one per distinct key (sessions summed), sorted by key."""
    summed: dict[Row, list[Any]] = {}
    for t in tallies:
        key = (
            t.day,
            t.policy_domain,
            t.policy.type.value,
            t.policy.key,
            t.receiving_mx,
            t.receiving_ip,
            t.result_text,
        )
        entry = summed.setdefault(key, [json.dumps(t.policy.to_dict()), 0])
        entry[1] += t.sessions
    return tuple(
        (*key[:4], policy, *key[4:], sessions) for key, (policy, sessions) in sorted(summed.items())
    )


def tally(row: Row) -> TlsTally:
    day, domain, _type, _hash, policy, mx, ip, result, sessions = row
    return TlsTally(
        day=day,
        policy_domain=domain,
        policy=ReportedPolicy.from_dict(json.loads(policy)),
        receiving_mx=mx,
        receiving_ip=ip,
        result=TlsFailure(result) if result else None,
        sessions=int(sessions),
    )


def report_row(report: SentReport) -> Row:
    return (
        report.report_id,
        report.day,
        report.policy_domain,
        report.created_at,
        json.dumps(report.report, separators=(",", ":")),
    )


def target_rows(report: SentReport) -> list[Row]:
    return [
        (report.report_id, t.uri, t.state.value, t.detail, t.updated_at) for t in report.targets
    ]


def sent_report(row: Row, targets: Sequence[Row]) -> SentReport:
    report_id, day, domain, created_at, body = row
    return SentReport(
        report_id=report_id,
        day=day,
        policy_domain=domain,
        created_at=float(created_at),
        report=json.loads(body),
        targets=tuple(
            ReportTarget(uri, TargetState(state), detail, float(updated))
            for _rid, uri, state, detail, updated in targets
        ),
    )
