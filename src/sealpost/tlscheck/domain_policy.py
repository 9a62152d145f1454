"""The domain's published TLS policy: MTA-STS, TLS-RPT and DANE TLSA, looked up as values.

- MTA-STS (RFC 8461 section 3.1): the ``_mta-sts.<domain>`` TXT record, parsed with
  ``policy.mta_sts.parse_txt``; when there is one, the policy is fetched over HTTPS with
  ``StsFetcher`` (section 3.3: WebPKI-valid certificate for ``mta-sts.<domain>``).
- TLS-RPT (RFC 8460 section 3): of the ``_smtp._tls.<domain>`` TXT records, those beginning
  with ``v=TLSRPTv1``; exactly one must exist, and ``rua`` lists where reports go.
- DANE (RFC 7672 section 2.2): TLSA records at ``_<port>._tcp.<mx host>``; only an answer
  with the resolver's ``secure`` flag (the AD bit) may be used, an insecure one is ignored.

Nothing here raises on DNS failures: every lookup error is kept in the value it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sealpost.dns.resolver import DnsError, DnsErrorKind, Resolver, TlsaRecord
from sealpost.policy.mta_sts import StsError, StsPolicy, StsRecord, parse_txt
from sealpost.policy.sts_fetch import StsFetcher

_ABSENT = (DnsErrorKind.NXDOMAIN, DnsErrorKind.NODATA)


@dataclass(frozen=True, slots=True)
class StsFindings:
    txt: tuple[str, ...] = ()  # every TXT record at _mta-sts.<domain>
    record: StsRecord | None = None
    policy: StsPolicy | None = None
    error: str | None = None  # why no policy applies although a record exists
    failure: str | None = None  # its RFC 8460 result type

    @property
    def published(self) -> bool:
        return self.record is not None or self.error is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "txt": list(self.txt),
            "id": self.record.id if self.record else None,
            "policy": self.policy.to_dict() if self.policy else None,
            "mode": self.policy.mode.value if self.policy else None,
            "error": self.error,
            "failure": self.failure,
        }


@dataclass(frozen=True, slots=True)
class TlsRptFindings:
    record: str | None = None
    rua: tuple[str, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"record": self.record, "rua": list(self.rua), "error": self.error}


@dataclass(frozen=True, slots=True)
class TlsaFindings:
    name: str
    records: tuple[TlsaRecord, ...] = ()
    secure: bool = False
    error: str | None = None


async def mta_sts(domain: str, resolver: Resolver, fetcher: StsFetcher) -> StsFindings:
    name = f"_mta-sts.{domain}"
    try:
        answer = await resolver.txt(name)
    except DnsError as exc:
        if exc.kind in _ABSENT:
            return StsFindings()
        return StsFindings(error=f"DNS: {exc}", failure="sts-policy-fetch-error")
    txt = tuple(answer.records)
    parsed = parse_txt(txt)
    if isinstance(parsed, StsError):
        if parsed.absent:
            return StsFindings(txt=txt)
        return StsFindings(txt=txt, error=parsed.detail, failure=parsed.failure.value)
    policy = await fetcher.fetch(domain)
    if isinstance(policy, StsError):
        return StsFindings(txt, parsed, None, policy.detail, policy.failure.value)
    return StsFindings(txt, parsed, policy)


async def tls_rpt(domain: str, resolver: Resolver) -> TlsRptFindings:
    try:
        answer = await resolver.txt(f"_smtp._tls.{domain}")
    except DnsError as exc:
        if exc.kind in _ABSENT:
            return TlsRptFindings()
        return TlsRptFindings(error=f"DNS: {exc}")
    found = [r for r in answer.records if r.lower().startswith("v=tlsrptv1")]
    if not found:
        return TlsRptFindings()
    if len(found) > 1:
        return TlsRptFindings(found[0], error=f"{len(found)} v=TLSRPTv1 records: none applies")
    record = found[0]
    rua: tuple[str, ...] = ()
    for part in record.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "rua":
            rua = tuple(u.strip() for u in value.split(",") if u.strip())
    if not rua:
        return TlsRptFindings(record, error="no rua= destination")
    return TlsRptFindings(record, rua)


async def tlsa(host: str, port: int, resolver: Resolver) -> TlsaFindings:
    name = f"_{port}._tcp.{host}"
    try:
        answer = await resolver.tlsa(name)
    except DnsError as exc:
        if exc.kind in _ABSENT:
            return TlsaFindings(name)
        return TlsaFindings(name, error=f"DNS: {exc}")
    return TlsaFindings(name, tuple(answer.records), answer.secure)
