"""The suppression list's part in ``POST /transmissions``: which recipients are not sent to.

A recipient with an entry of the transmission's type (``options.transactional``: the
``transactional`` list, else ``non_transactional``) is rejected: counted in
``total_rejected_recipients`` with SparkPost's error (1902, "Message generation rejected")
in ``rcpt_to_errors``, and recorded as a ``policy_rejection`` event (``events.records``). A
transmission whose every recipient is suppressed gets 400 / 1902, as SparkPost answered a
single suppressed recipient. ``options.skip_suppression`` is honoured only for a key that
holds ``suppression_lists/manage`` (a key that may delete the entry may as well send past
it); for any other key it is ignored with a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sealpost.api.context import ApiContext
from sealpost.api.errors import ApiError
from sealpost.api.transmission_models import OptionsIn
from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.grants import Grant
from sealpost.model.suppression import SuppressionType, recipient_key
from sealpost.submission.suppression_gate import suppressed_of

CODE = "1902"
MESSAGE = "Message generation rejected"
REASON = "recipient address suppressed due to customer policy"
SKIP_IGNORED = (
    "options.skip_suppression is ignored: the key lacks the grant suppression_lists/manage"
)


async def suppressed_keys(
    ctx: ApiContext,
    record: ApiKeyRecord,
    opts: OptionsIn,
    addresses: Sequence[str],
    warnings: list[str],
) -> frozenset[str]:
    """The recipient keys among ``addresses`` that this transmission must not send to."""
    if opts.skip_suppression:
        if record.allows(Grant.SUPPRESSION_LISTS_MANAGE):
            return frozenset()
        warnings.append(SKIP_IGNORED)
    kind = (
        SuppressionType.TRANSACTIONAL if opts.transactional else SuppressionType.NON_TRANSACTIONAL
    )
    return frozenset(recipient_key(a) for a in await suppressed_of(ctx.store, addresses, kind))


def rcpt_error(address: str) -> dict[str, str]:
    """The entry of ``rcpt_to_errors`` for a suppressed recipient."""
    return {"message": MESSAGE, "description": f"{address}: {REASON}", "code": CODE}


def all_suppressed(errors: list[dict[str, Any]], rejected: int) -> ApiError:
    """400 / 1902: nothing to send, every valid recipient is suppressed."""
    return ApiError(
        400,
        MESSAGE,
        REASON,
        CODE,
        extra={
            "results": {
                "total_rejected_recipients": len(errors),
                "total_accepted_recipients": 0,
                "rcpt_to_errors": errors,
                "suppressed_recipients": rejected,
            }
        },
    )
