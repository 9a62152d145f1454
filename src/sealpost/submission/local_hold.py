"""Which new mail stays here: the door stores it ``held`` in the transaction that queues it.

A recipient whose domain is in ``[server] local_domains`` and has no ``[delivery.routes]``
entry is final here: ``delivery.route`` answers it "local domain, keep it" before it would
ever consider the smarthost or MX (only a static route overrides a local domain), and the
dispatcher would only record it as still queued, to look again a day later. When EVERY
recipient of a message is such a recipient, the door stores the message ``held``
(``model.queue``, Postfix's hold queue): the dispatcher never claims it, and one commit is
all it costs. ``sealpost queue retry`` releases it, e.g. after a route was added.

Null-sender mail (RFC 5321 section 4.5.5: bounces) keeps the dispatcher path: a delivery
report answering one of our messages is read there (``delivery.outcomes``) and becomes an
``out_of_band`` event. A message with any other recipient is queued as always.

Domains compare as ``delivery.route`` compares them (``dns.names.normalize_domain``): lower
case, no surrounding blanks, no trailing dot. The composition root builds the one instance
from the config; this module only knows sets of names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sealpost.model.envelope import InboundMessage


def _normal(domain: str) -> str:
    return domain.strip().lower().rstrip(".")


@dataclass(frozen=True, slots=True)
class LocalHold:
    """The domains whose mail is final here: local ones without a static route."""

    final_domains: frozenset[str] = frozenset()

    @classmethod
    def of(cls, local_domains: Iterable[str], routed_domains: Iterable[str]) -> LocalHold:
        routed = {_normal(d) for d in routed_domains}
        return cls(frozenset(_normal(d) for d in local_domains) - routed)

    def final_here(self, address: str) -> bool:
        """True when mail to ``address`` would stay here (its domain is local, unrouted)."""
        return _normal(address.rpartition("@")[2]) in self.final_domains

    def holds(self, message: InboundMessage) -> bool:
        """Store ``message`` held: a sender, and every recipient final here."""
        envelope = message.envelope
        if envelope.mail_from == "" or not envelope.recipients:
            return False
        return all(self.final_here(rcpt) for rcpt in envelope.recipients)
