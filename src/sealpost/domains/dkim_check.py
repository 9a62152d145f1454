"""The DKIM DNS check of a sending domain: is its public key published where it signs?

SparkPost's rule (reference section 6): the TXT record at ``<selector>._domainkey.<domain>``
must carry ``p=<public key>``; ``k=``, when present, must be ``rsa``; ``h=``, when present,
must allow ``sha256``. The record is an RFC 6376 section 3.6.1 tag list (section 3.2 syntax:
``tag=value`` separated by ``;``, a tag at most once, whitespace around values ignored and
inside ``p=`` removed); ``v=``, when present, must be ``DKIM1``; an empty ``p=`` is a revoked
key (section 3.6.1). A TXT record split in several character-strings is one value: the
Resolver joins the strings (RFC 6376 section 3.6.2.2).

A missing name or record is a conclusive failure; a DNS failure (SERVFAIL, timeout) is not:
the caller keeps the status it had and reports the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sealpost.dns.resolver import DnsError, Resolver
from sealpost.domains.records import DkimStatus

MAX_SHOWN = 4096  # a record longer than this is cut in the report


@dataclass(frozen=True, slots=True)
class DkimCheck:
    """The outcome: ``status`` valid/invalid when ``conclusive``, the record read, the error."""

    status: DkimStatus
    record: str | None
    error: str | None
    conclusive: bool = True


def record_name(selector: str, signing_domain: str) -> str:
    return f"{selector}._domainkey.{signing_domain}"


def parse_tags(record: str) -> dict[str, str] | None:
    """The tags of an RFC 6376 tag list, or None when it is not one."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq or not name or name in tags:
            return None
        tags[name] = value.strip()
    return tags


def record_problem(record: str, public: str) -> str | None:
    """Why ``record`` does not publish ``public`` for SparkPost's rules; None when it does."""
    tags = parse_tags(record)
    if tags is None:
        return "DNS DKIM query error: the record is not a DKIM tag list (tag=value; ...)"
    if "v" in tags and tags["v"] != "DKIM1":
        return "DNS DKIM query error: v= must be DKIM1"
    if "p" not in tags:
        return "DNS DKIM query error: the record is missing a p= tag"
    published = "".join(tags["p"].split())
    if not published:
        return "DNS DKIM query error: p= is empty (the key is revoked)"
    if "k" in tags and tags["k"].lower() != "rsa":
        return "DNS DKIM query error: k= must be rsa"
    if "h" in tags and "sha256" not in [h.strip().lower() for h in tags["h"].split(":")]:
        return "DNS DKIM query error: h= must allow sha256"
    if published != public:
        return "DNS DKIM query error: the public key in p= is not this domain's key"
    return None


def _looks_like_dkim(record: str) -> bool:
    text = record.replace(" ", "")
    return "p=" in text or text.startswith("v=DKIM1")


def _shown(record: str) -> str:
    return record if len(record) <= MAX_SHOWN else record[:MAX_SHOWN] + "..."


def evaluate(name: str, records: Sequence[str], public: str) -> DkimCheck:
    """Check the TXT records found at ``name``: valid when one of them publishes ``public``."""
    if not records:
        return DkimCheck(DkimStatus.INVALID, None, f"no TXT record at {name}")
    for record in records:
        if record_problem(record, public) is None:
            return DkimCheck(DkimStatus.VALID, _shown(record), None)
    shown = next((r for r in records if _looks_like_dkim(r)), records[0])
    return DkimCheck(DkimStatus.INVALID, _shown(shown), record_problem(shown, public))


async def check_dkim(
    resolver: Resolver | None, selector: str, signing_domain: str, public: str
) -> DkimCheck:
    """Look the key record up through ``resolver`` and evaluate it."""
    name = record_name(selector, signing_domain)
    if resolver is None:
        return DkimCheck(DkimStatus.PENDING, None, "no DNS resolver configured", False)
    try:
        answer = await resolver.txt(name)
    except DnsError as exc:
        if exc.kind.transient:
            error = f"DNS lookup of {name} failed ({exc.kind.value}); try again later"
            return DkimCheck(DkimStatus.PENDING, None, error, False)
        return DkimCheck(DkimStatus.INVALID, None, f"no DKIM TXT record at {name}")
    except Exception as exc:  # a resolver fault must not look like a verdict
        error = f"DNS lookup of {name} failed ({type(exc).__name__}); try again later"
        return DkimCheck(DkimStatus.PENDING, None, error, False)
    return evaluate(name, answer.records, public)
