"""API authentication: ``Authorization: <key>`` or ``Basic base64(<key>:)`` (SparkPost).

Keys are checked through ``keys.verify_key`` (salted hash, constant-time compare); an
unknown, malformed or revoked key is 401 with SparkPost's body, and the key never appears in
a log line (checklist H5).
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from sealpost.api.errors import UNAUTHORIZED
from sealpost.keys import verify_key
from sealpost.store.base import ApiKeyRecord


def presented_key(header: str | None) -> str | None:
    if not header:
        return None
    header = header.strip()
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "basic" and rest:
        try:
            decoded = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    if scheme.lower() == "bearer" and rest:
        return rest.strip()
    return header


async def require_key(request: Request) -> ApiKeyRecord:
    """FastAPI dependency: the authenticated key's record, or 401."""
    key = presented_key(request.headers.get("authorization"))
    if key is None:
        raise UNAUTHORIZED
    record = await verify_key(request.app.state.ctx.store, key)
    if record is None:
        raise UNAUTHORIZED
    return record
