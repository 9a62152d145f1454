"""What the egress rule (DESIGN.md section 9) answers about one target, as values.

Every outbound connection an API caller can aim (webhook targets, OAuth2 token URLs,
tls-check targets and the MX hosts tls-check resolves) is first *cleared*: the host name is
resolved once and each address judged. The answer is one of:

- ``Cleared``: the addresses to connect to, already checked, in order. The caller connects to
  exactly these (never resolving the name again: DNS rebinding cannot swap the address);
- ``Refused``: the rule said no, with the rule's name and the reason in words;
- ``Unresolved``: the name has no usable address (a DNS failure, as a value).

The rule itself lives in ``sealpost.net.egress``; ``TargetGuard`` is its contract, so the API
can hold one without importing ``net``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Rule(StrEnum):
    """The rule a refusal names (shown to API callers)."""

    PRIVATE_TARGET = "private-target"  # loopback, private, link-local, own address, ...
    TARGET_PORT = "target-port"  # tls-check through the API: only SMTP ports


@dataclass(frozen=True, slots=True)
class Cleared:
    host: str
    addresses: tuple[str, ...]  # checked; connect to these and nothing else
    private: bool = False  # admitted only because [api] allowed_private_targets lists it
    secure: bool = False  # the DNS answer was DNSSEC-validated (the resolver's AD bit)

    @property
    def address(self) -> str:
        return self.addresses[0]


@dataclass(frozen=True, slots=True)
class Refused:
    host: str
    rule: Rule
    reason: str  # e.g. "a loopback address (RFC 1122)"
    address: str | None = None

    @property
    def message(self) -> str:
        """E.g. ``hook.example resolves to 127.0.0.1, a loopback address (RFC 1122)
        (rule: private-target)``."""
        if self.address is None:
            return f"{self.host}: {self.reason} (rule: {self.rule.value})"
        if self.address == self.host:
            return f"{self.address} is {self.reason} (rule: {self.rule.value})"
        return f"{self.host} resolves to {self.address}, {self.reason} (rule: {self.rule.value})"


@dataclass(frozen=True, slots=True)
class Unresolved:
    host: str
    reason: str  # e.g. "nxdomain"

    @property
    def message(self) -> str:
        return f"{self.host} has no usable address ({self.reason})"


Clearance = Cleared | Refused | Unresolved

SMTP_PORTS = frozenset({25, 465, 587})


class TargetGuard(Protocol):
    async def clear(
        self, host: str, *, port: int | None = None, ports: frozenset[int] | None = None
    ) -> Clearance:
        """Resolve ``host`` once and judge every address. With ``ports``, ``port`` must be
        one of them unless every address is in the operator's allowed ranges."""
        ...
