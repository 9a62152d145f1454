"""Verdicts in plain words: per MX host and for the domain, with the reason and the fix.

Grades (docs/tls-check.md): ``secure`` when TLS is verified and an authenticated policy
makes it mandatory (MTA-STS ``enforce`` with the host listed, RFC 8461 section 5; or a
DNSSEC-secure TLSA record matching the certificate, RFC 7672 section 2.2); ``downgradeable``
when mail flows but an active attacker could strip STARTTLS or present any certificate
(RFC 7435 opportunistic TLS, or MTA-STS ``testing``); ``fails`` when mail would not be
delivered under the domain's own published policy (RFC 8461 section 4.2: a non-matching MX or
an invalid certificate under ``enforce``; RFC 7672 section 2.2: secure TLSA records that do
not match), or when no MX host answers; ``error`` when the check could not be made. A single
host (``host[:port]`` target) has no domain policy: it is judged as if ``verify`` applied.
"""

from __future__ import annotations

from sealpost.policy.dane import TlsaMatch, chain_match
from sealpost.tlscheck.domain_policy import StsFindings
from sealpost.tlscheck.report import CheckReport, DaneStatus, Grade, HostReport, Verdict
from sealpost.tlscheck.smtp_probe import ProbeStep, VersionResult

OLD_VERSIONS = ("TLSv1", "TLSv1.1")
EXPIRY_WARNING_DAYS = 14
_DANE_REQUIRED = (DaneStatus.MATCH, DaneStatus.NO_MATCH, DaneStatus.UNCHECKED)


def _certificate_problem(host: HostReport) -> str:
    cert = host.certificate
    failure = host.verification.failure
    if cert is not None and cert.expired:
        return f"certificate expired {-cert.days_left} days ago"
    if failure == "certificate-host-mismatch" or host.name_match is False:
        return f"certificate is not valid for {host.host}"
    if failure == "certificate-not-trusted":
        if cert is not None and cert.self_issued:
            return "certificate is self-signed"
        return "certificate is not issued by a trusted CA"
    return f"certificate not verified ({host.verification.error or 'unknown error'})"


def _warnings(host: HostReport) -> tuple[list[str], list[str]]:
    reasons: list[str] = []
    fixes: list[str] = []
    old = [v for v in OLD_VERSIONS if host.versions.get(v) is VersionResult.ACCEPTED]
    if old:
        reasons.append(f"accepts deprecated {' and '.join(old)} (RFC 8996)")
        fixes.append(f"disable {' and '.join(old)} on {host.host}")
    cert = host.certificate
    if cert is not None and 0 <= cert.days_left < EXPIRY_WARNING_DAYS:
        reasons.append(f"certificate expires in {cert.days_left} days")
        fixes.append(f"renew the certificate of {host.host}")
    if cert is not None and cert.key_type == "RSA" and (cert.key_size or 0) < 2048:
        reasons.append(f"RSA key of {cert.key_size} bits is too small")
        fixes.append("use an RSA key of at least 2048 bits or an EC key")
    return reasons, fixes


def host_verdict(host: HostReport, sts: StsFindings | None, *, domain: bool) -> Verdict:
    """The verdict for one MX (``domain``) or one host target (not ``domain``)."""
    probe = host.probe
    enforce = bool(sts and sts.policy and sts.policy.mode.value == "enforce")
    testing = bool(sts and sts.policy and sts.policy.mode.value == "testing")
    if host.dane in _DANE_REQUIRED:
        policy = "DANE"
    elif enforce:
        policy = "MTA-STS enforce"
    else:
        policy = None
    if host.refused:
        return Verdict(Grade.ERROR, f"not checked: {host.refused}", (host.refused,))
    if host.dane is DaneStatus.ERROR and host.tlsa is not None:  # delivery takes it out
        why = f"TLSA lookup failed ({host.tlsa.error})"
        fix = f"fix the DNSSEC signatures of {host.tlsa.name}"
        return Verdict(Grade.FAILS, f"{why}: DANE senders defer mail", (why,), (fix,))
    if probe is None or host.dns_error:
        why = host.dns_error or ("no answer in time" if host.timed_out else "not probed")
        return Verdict(Grade.FAILS, f"not reachable: {why}", (why,), ("publish an address",))
    warn_reasons, warn_fixes = _warnings(host)
    if probe.banner is None or probe.failed_at in (ProbeStep.CONNECT, ProbeStep.BANNER):
        why = probe.error or "no greeting"
        fix = f"make {host.host} answer SMTP on port {host.port}"
        return Verdict(Grade.FAILS, f"not reachable: {why}", (why,), (fix,))
    if not probe.tls_up and probe.starttls_offered is False:
        summary = "STARTTLS not offered: mail goes in plaintext"
        fixes = [f"enable STARTTLS on {host.host}"]
        if policy:
            return Verdict(Grade.FAILS, f"{summary}; {policy} would defer mail", (), tuple(fixes))
        return Verdict(Grade.DOWNGRADEABLE, summary, (), tuple(fixes))
    if not probe.tls_up:
        what = "TLS handshake failed" if probe.failed_at is ProbeStep.HANDSHAKE else "TLS refused"
        if probe.timed_out:
            what = "TLS handshake timed out"
        summary = f"STARTTLS offered but {what} ({probe.error})"
        fixes = [f"fix TLS on {host.host}: support TLS 1.2 or 1.3", *warn_fixes]
        if policy:
            summary += f": {policy} would defer mail"
            return Verdict(Grade.FAILS, summary, tuple(warn_reasons), tuple(fixes))
        summary += ": senders fall back to plaintext"
        return Verdict(Grade.DOWNGRADEABLE, summary, tuple(warn_reasons), tuple(fixes))
    negotiated = probe.negotiated
    version = negotiated.version if negotiated else "TLS"
    verified = bool(host.verification.verified)
    cert_text = f"certificate valid for {host.host}" if verified else _certificate_problem(host)
    reasons = list(warn_reasons)
    fixes = list(warn_fixes)
    if not verified:
        fixes.insert(0, f"install a certificate for {host.host} from a trusted CA")
    head = f"{version}, {cert_text}"
    if host.dane is DaneStatus.MATCH:
        return Verdict(
            Grade.SECURE, f"{head}, DANE TLSA matches: mail cannot be downgraded", tuple(reasons)
        )
    if host.dane is DaneStatus.NO_MATCH:
        fixes.insert(0, f"publish TLSA records matching the certificate of {host.host}")
        summary = f"{head}, but no DNSSEC-signed TLSA record matches: DANE senders defer mail"
        return Verdict(Grade.FAILS, summary, tuple(reasons), tuple(fixes))
    if host.dane is DaneStatus.UNCHECKED:
        reasons.append("DANE-TA (usage 2) records need the chain, which could not be read")
    if not domain:
        if verified:
            return Verdict(Grade.SECURE, head, tuple(reasons), tuple(fixes))
        return Verdict(
            Grade.DOWNGRADEABLE, f"{head}: opportunistic TLS only", tuple(reasons), tuple(fixes)
        )
    if enforce:
        if not host.sts_match:
            fixes.insert(0, f"add {host.host} to the MTA-STS policy's mx lines")
            summary = f"{head}, but not listed in the MTA-STS policy: MTA-STS enforce defers mail"
            return Verdict(Grade.FAILS, summary, tuple(reasons), tuple(fixes))
        if not verified:
            summary = f"STARTTLS offered but {cert_text}: MTA-STS enforce defers mail"
            return Verdict(Grade.FAILS, summary, tuple(reasons), tuple(fixes))
        summary = f"{head}, MTA-STS enforce: mail cannot be downgraded"
        return Verdict(Grade.SECURE, summary, tuple(reasons), tuple(fixes))
    if testing:
        fixes.append("switch the MTA-STS policy to mode: enforce once reports are clean")
        if verified and host.sts_match:
            summary = f"{head}, MTA-STS testing only: mail can still be downgraded"
        else:
            problem = cert_text if not verified else "host not listed in the MTA-STS policy"
            summary = (
                f"{version}, {problem}: opportunistic TLS only, MTA-STS enforce would defer mail"
            )
        return Verdict(Grade.DOWNGRADEABLE, summary, tuple(reasons), tuple(fixes))
    fixes.append("publish an MTA-STS policy in mode enforce (or DNSSEC-signed TLSA records)")
    if verified:
        summary = f"{head}, but no MTA-STS or DANE policy: an attacker can strip STARTTLS"
    else:
        summary = f"STARTTLS offered but {cert_text}: opportunistic TLS only"
        if sts is not None and sts.published and sts.policy is None:
            summary += ", MTA-STS enforce would defer mail"
    return Verdict(Grade.DOWNGRADEABLE, summary, tuple(reasons), tuple(fixes))


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def domain_verdict(report: CheckReport) -> Verdict:
    """The verdict for the whole target: the worst host that answered decides."""
    if report.mx_error:
        return Verdict(Grade.ERROR, f"lookup failed: {report.mx_error}", (report.mx_error,))
    if not report.hosts:
        return Verdict(Grade.ERROR, "no host to check")
    judged = [h for h in report.hosts if h.verdict is not None]
    answered = [h for h in judged if h.probe is not None and h.probe.banner is not None]
    reasons = [f"{h.host}: {h.verdict.summary}" for h in judged if h.verdict]
    if len(judged) == 1:
        reasons = []
    fixes: list[str] = [fix for h in judged if h.verdict for fix in h.verdict.fixes]
    if report.kind == "domain":
        sts = report.mta_sts
        if sts is not None and sts.error:
            reasons.append(f"MTA-STS: no valid policy ({sts.error})")
            fixes.append("fix the _mta-sts TXT record or the policy file it points to")
        rpt = report.tls_rpt
        if rpt is not None and rpt.record is None and rpt.error is None:
            fixes.append(f'publish "_smtp._tls.{report.target}" TXT "v=TLSRPTv1; rua=mailto:..."')
        elif rpt is not None and rpt.error:
            reasons.append(f"TLS-RPT: {rpt.error}")
    if not answered:
        return Verdict(
            Grade.FAILS,
            "no host answered: mail cannot be delivered",
            _unique(reasons),
            _unique(fixes),
        )
    worst = max(answered, key=lambda h: h.verdict.grade.rank if h.verdict else 0)
    assert worst.verdict is not None
    grade = worst.verdict.grade
    if len(report.hosts) == 1:
        summary = worst.verdict.summary
    elif grade is Grade.SECURE:
        summary = f"every MX host is secure: mail to {report.target} cannot be downgraded"
    else:
        summary = f"{worst.host}: {worst.verdict.summary}"
    for host in judged:
        if host.verdict:
            reasons.extend(f"{host.host}: {r}" for r in host.verdict.reasons)
    return Verdict(grade, summary, _unique(reasons), _unique(fixes))


def judge_dane(host: HostReport) -> None:
    """The host's DANE status from its TLSA findings and the certificate it presented."""
    tlsa = host.tlsa
    if tlsa is None:
        return
    chain = host.probe.chain if host.probe else ()
    if not chain and host.probe and host.probe.der:
        chain = (host.probe.der,)
    host.tlsa_matches = tuple(
        chain_match(r, chain, host.reference_names or (host.host,)) for r in tlsa.records
    )
    if tlsa.error:
        host.dane = DaneStatus.ERROR
    elif not tlsa.records:
        host.dane = DaneStatus.NONE
    elif not tlsa.secure or host.dane_skipped:
        host.dane = DaneStatus.INSECURE
    elif TlsaMatch.MATCH in host.tlsa_matches:
        host.dane = DaneStatus.MATCH
    elif TlsaMatch.UNCHECKED in host.tlsa_matches:
        host.dane = DaneStatus.UNCHECKED
    elif TlsaMatch.NO_MATCH in host.tlsa_matches:
        host.dane = DaneStatus.NO_MATCH
    else:
        host.dane = DaneStatus.UNUSABLE
