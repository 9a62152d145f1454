"""API authentication and authorisation: who the caller is, and whether its key may do this.

Authentication: ``Authorization: <key>`` or ``Basic base64(<key>:)`` (SparkPost). Keys are
checked through ``keys.verify_key`` (salted hash, constant-time compare); an unknown,
malformed or revoked key is 401 with SparkPost's body, and the key never appears in a log line
(checklist H5).

Authorisation: every ``/api/v1`` endpoint declares the one grant it needs with
``needs(Grant.X)`` (``model/grants.py``). A known key without that grant gets 403 with
SparkPost's body (``Forbidden.``, code ``1100`` "permission denied") naming the grant, before
the request body is validated. ``tests/unit/test_api_grants.py`` fails for any route that
declares no grant.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import Depends, Request

from sealpost.api.errors import UNAUTHORIZED, ApiError
from sealpost.api_keys import verify_key
from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.grants import Grant


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


def lacks_grant(grant: Grant) -> ApiError:
    """SparkPost's 403 for a key without ``grant``, saying which grant and how to get one."""
    return ApiError(
        403,
        "Forbidden.",
        f"This API key lacks the grant '{grant}' that this endpoint needs; create a key "
        f"that has it with `sealpost keys create --grant {grant}`.",
        "1100",
    )


class GrantRequired:
    """FastAPI dependency: the authenticated key's record when it holds ``grant``; else 401
    (no valid key) or 403 (a valid key without the grant)."""

    def __init__(self, grant: Grant) -> None:
        self.grant = grant

    def __repr__(self) -> str:
        return f"GrantRequired({self.grant.value!r})"

    async def __call__(self, record: Annotated[ApiKeyRecord, Depends(require_key)]) -> ApiKeyRecord:
        if not record.allows(self.grant):
            raise lacks_grant(self.grant)
        return record


_REQUIREMENTS = {grant: GrantRequired(grant) for grant in Grant}


def needs(grant: Grant) -> Any:
    """``Depends`` on the key holding ``grant``: for a route's ``dependencies=[...]`` or as
    ``Annotated[ApiKeyRecord, needs(grant)]`` where the handler uses the key's record."""
    return Depends(_REQUIREMENTS[grant])
