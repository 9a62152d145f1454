"""``TLS-Required: No`` (RFC 8689 section 3): read from the header block only, any case,
folded or not; ignored on a REQUIRETLS message."""

from __future__ import annotations

import pytest

from sealpost.model.tls_required import HEADER, relaxes, says_no


@pytest.mark.parametrize(
    "data",
    [
        HEADER + b"Subject: x\r\n\r\nbody\r\n",
        b"Subject: x\r\ntls-required:   NO  \r\n\r\n",
        b"Subject: x\r\nTLS-Required:\r\n No\r\n\r\n",  # folded
        b"Subject: x\nTLS-Required: no\n\nbody\n",  # LF line endings
    ],
)
def test_the_header_says_no(data: bytes) -> None:
    assert says_no(data)
    assert relaxes(data, requiretls=False)
    assert not relaxes(data, requiretls=True)  # section 3: MUST be ignored with REQUIRETLS


@pytest.mark.parametrize(
    "data",
    [
        b"Subject: x\r\n\r\nTLS-Required: No\r\n",  # in the body
        b"TLS-Required: Yes\r\n\r\n",
        b"TLS-Required: No thanks\r\n\r\n",
        b"X-TLS-Required: No\r\n\r\n",
    ],
)
def test_anything_else_does_not(data: bytes) -> None:
    assert not says_no(data)
