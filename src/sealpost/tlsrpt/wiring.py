"""Building the TLS reporter from the config, for the server (``app.py``) and the CLI.

The reporter's settings come from ``[tlsrpt]`` with the defaults its docs name (organization
and submitter: ``[server] hostname``; sender ``tlsrpt-noreply@<hostname>``; contact: the
sender). Mail goes through a ``Submission`` door: the server's own, or for the CLI one over
the same store with the same DKIM keys (the config's and the verified sending domains'), so
a report queued by ``sealpost tlsrpt send`` is signed as the server would sign it. POSTs go
through the egress rule with ``[tlsrpt] allowed_private_targets``.
"""

from __future__ import annotations

from sealpost.config.model import Config
from sealpost.dkim.keys import load_key
from sealpost.dkim.sealing import load_secret
from sealpost.dns.resolver import Resolver
from sealpost.domains.signers import SigningKeys
from sealpost.model.envelope import InboundMessage
from sealpost.net.egress import EgressGuard
from sealpost.store.contracts import Store
from sealpost.submission.door import Accepted, Submission
from sealpost.tlsrpt.post import ReportPoster
from sealpost.tlsrpt.send import MailQueue, ReporterSettings, TlsReporter


def settings(config: Config) -> ReporterSettings:
    t = config.tlsrpt
    hostname = config.server.hostname
    sender = t.sender or f"tlsrpt-noreply@{hostname}"
    return ReporterSettings(
        organization_name=t.organization_name or hostname,
        contact_info=t.contact_info or sender,
        sender=sender,
        submitter=hostname,
        max_report_bytes=t.max_report_bytes,
    )


async def door(config: Config, store: Store) -> tuple[Submission, SigningKeys]:
    """A submission door like the server's, for a CLI run (no dispatcher to wake), and its
    DKIM keys (the config's and the verified sending domains')."""
    static = [load_key(k.domain, k.selector, k.key_file) for k in config.dkim.keys]
    path = config.dkim_secret_file  # the CLI reads the server's key, never makes one
    keys = SigningKeys(store, static, load_secret(path) if path.exists() else None)
    await keys.refresh()
    return Submission(store, signer=keys, hostname=config.server.hostname), keys


def unsigned_warning(config: Config, keys: SigningKeys) -> str | None:
    """Why mailed reports would go out unsigned (RFC 8460 section 3: receivers MUST ignore
    them), or None when a key covers the sender's domain."""
    domain = settings(config).sender.rpartition("@")[2].lower()
    verified = keys.verified_domains()
    labels = domain.split(".")
    if any(".".join(labels[i:]) in verified for i in range(len(labels))):
        return None
    return (
        f"no DKIM key for {domain} (the [tlsrpt] sender's domain): mailed TLS reports go "
        "out unsigned, and RFC 8460 receivers ignore unsigned reports"
    )


def mail_queue(submission: Submission) -> MailQueue:
    async def queue(message: InboundMessage) -> str:
        accepted = await submission.submit(message)
        if not isinstance(accepted, Accepted):  # sender_domains is None: never refused
            raise RuntimeError(f"report refused: {accepted}")
        return accepted.message_id

    return queue


def poster(config: Config, resolver: Resolver) -> ReportPoster:
    guard = EgressGuard(resolver, config.tlsrpt.allowed_private_targets)
    return ReportPoster(guard, ca_file=config.delivery.ca_file, timeout=config.tlsrpt.http_timeout)


def reporter(
    config: Config, store: Store, resolver: Resolver, submission: Submission
) -> tuple[TlsReporter, ReportPoster]:
    """The reporter and its poster (``close`` the poster when done)."""
    post = poster(config, resolver)
    made = TlsReporter(store, resolver, mail_queue(submission), post, settings(config))
    return made, post
