"""The RFC 8460 section 4.4 report format as a JSON Schema (draft 2020-12), for tests.

Written from the RFC's field list: the top-level fields, ``date-range`` in RFC 3339
date-times, each ``policies`` entry with its ``policy`` (type ``tlsa``, ``sts`` or
``no-policy-found``; ``policy-string`` a list of strings; ``mx-host`` a pattern or a list of
them, as senders publish it both ways), ``summary`` counts and ``failure-details`` whose
``result-type`` is one of section 4.3's. Unknown fields are refused here: the schema checks
what WE send, so a misspelt field is a failure rather than an ignored extension.
"""

from __future__ import annotations

from typing import Any

import jsonschema

RESULT_TYPES = [
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "certificate-not-trusted",
    "validation-failure",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
]
_COUNT = {"type": "integer", "minimum": 0}
_DATETIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["organization-name", "date-range", "contact-info", "report-id", "policies"],
    "properties": {
        "organization-name": {"type": "string", "minLength": 1},
        "date-range": {
            "type": "object",
            "additionalProperties": False,
            "required": ["start-datetime", "end-datetime"],
            "properties": {"start-datetime": _DATETIME, "end-datetime": _DATETIME},
        },
        "contact-info": {"type": "string", "minLength": 1},
        "report-id": {"type": "string", "minLength": 1},
        "policies": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["policy", "summary"],
                "properties": {
                    "policy": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["policy-type", "policy-domain"],
                        "properties": {
                            "policy-type": {"enum": ["tlsa", "sts", "no-policy-found"]},
                            "policy-string": {"type": "array", "items": {"type": "string"}},
                            "policy-domain": {"type": "string", "minLength": 1},
                            "mx-host": {
                                "oneOf": [
                                    {"type": "string"},
                                    {"type": "array", "items": {"type": "string"}},
                                ]
                            },
                        },
                    },
                    "summary": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": [
                            "total-successful-session-count",
                            "total-failure-session-count",
                        ],
                        "properties": {
                            "total-successful-session-count": _COUNT,
                            "total-failure-session-count": _COUNT,
                        },
                    },
                    "failure-details": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["result-type", "failed-session-count"],
                            "properties": {
                                "result-type": {"enum": RESULT_TYPES},
                                "sending-mta-ip": {"type": "string"},
                                "receiving-mx-hostname": {"type": "string"},
                                "receiving-mx-helo": {"type": "string"},
                                "receiving-ip": {"type": "string"},
                                "failed-session-count": _COUNT,
                                "additional-information": {"type": "string"},
                                "failure-reason-code": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
}


def validate(report: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``report`` is an RFC 8460 report."""
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
