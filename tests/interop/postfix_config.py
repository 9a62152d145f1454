"""main.cf and master.cf for one private Postfix test instance, by role.

Owns the *configuration* of a test peer (``postfix_peer`` owns its lifecycle): the two roles
(``SenderRole``: a relay that forwards everything to one smarthost; ``ReceiverRole``: an MX
that accepts mail for some domains and delivers it into a maildir or discards it) and the
exact parameters that keep an instance private (own queue/data directories, loopback only,
no chroot, no DNS, no local delivery, no pickup, no port 25) and fast (short queue timers).
The receiver is deliberately strict: RFC 5321 section 2.3.8 says CR and LF MUST only occur
together as CRLF, so ``smtpd_forbid_bare_newline = reject`` with no exclusions.
"""

from __future__ import annotations

import pwd
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class TlsLevel(StrEnum):
    """Postfix TLS security levels (``smtp_tls_security_level``/``smtpd_tls_security_level``)."""

    NONE = "none"
    MAY = "may"
    ENCRYPT = "encrypt"
    VERIFY = "verify"
    SECURE = "secure"


class Delivery(StrEnum):
    """What a receiver does with accepted mail (both fsync the queue file before ``250``)."""

    MAILDIR = "maildir"
    DISCARD = "discard"


@dataclass(frozen=True)
class SaslCredentials:
    """SMTP AUTH client credentials; SparkPost-style injection uses ``SMTP_Injection``."""

    password: str
    username: str = "SMTP_Injection"


@dataclass(frozen=True)
class SenderRole:
    """A Postfix that relays everything it accepts to ``[relay_host]:relay_port``."""

    relay_port: int
    relay_host: str = "127.0.0.1"
    tls_level: TlsLevel = TlsLevel.MAY
    ca_file: Path | None = None
    tls_servername: str | None = None  # SNI; None sends none
    tls_match: str | None = None  # names accepted at verify/secure; None: Postfix default
    sasl: SaslCredentials | None = None


@dataclass(frozen=True)
class ReceiverRole:
    """A Postfix MX for ``domains``; STARTTLS offered when a certificate is given."""

    domains: tuple[str, ...]
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_level: TlsLevel = TlsLevel.MAY
    delivery: Delivery = Delivery.MAILDIR
    bare_newline: str = "reject"  # smtpd_forbid_bare_newline: no | normalize | reject


Role = SenderRole | ReceiverRole


@dataclass(frozen=True)
class InstanceLayout:
    """Where one instance keeps everything; all under ``root``."""

    root: Path
    config_dir: Path = field(init=False)
    queue_dir: Path = field(init=False)
    data_dir: Path = field(init=False)
    mail_dir: Path = field(init=False)
    tls_dir: Path = field(init=False)
    log_file: Path = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "config_dir", self.root / "etc")
        set_(self, "queue_dir", self.root / "queue")
        set_(self, "data_dir", self.root / "data")
        set_(self, "mail_dir", self.root / "mail")
        set_(self, "tls_dir", self.root / "etc" / "tls")
        set_(self, "log_file", self.root / "maillog")


# Services every instance needs. Columns: service type private unpriv chroot wakeup maxproc
# command. chroot is "n" everywhere: a chroot would need copies of /etc files and libraries
# under each queue directory. pickup only reads this instance's own maildrop (empty: nothing
# runs sendmail against it) but must exist: "postqueue -f" fails without it ("mail system is
# down"). No local, no proxymap (no proxy: tables), no verify, no port 25.
_COMMON_SERVICES = (
    "pickup    unix  n - n 60    1 pickup",
    "cleanup   unix  n - n -     0 cleanup",
    "qmgr      unix  n - n 300   1 qmgr",
    "tlsmgr    unix  - - n 1000? 1 tlsmgr",
    "rewrite   unix  - - n -     - trivial-rewrite",
    "bounce    unix  - - n -     0 bounce",
    "defer     unix  - - n -     0 bounce",
    "trace     unix  - - n -     0 bounce",
    "flush     unix  n - n 1000? 0 flush",
    "showq     unix  n - n -     - showq",
    "error     unix  - - n -     - error",
    "retry     unix  - - n -     - error",
    "discard   unix  - - n -     - discard",
    "anvil     unix  - - n -     1 anvil",
    "scache    unix  - - n -     1 scache",
    "postlog   unix-dgram n - n - 1 postlogd",
)
_SENDER_SERVICES = (
    "smtp      unix  - - n -     - smtp",
    "relay     unix  - - n -     - smtp",
    # TLS connection reuse (smtp_tls_connection_reuse = yes) goes through tlsproxy(8).
    "tlsproxy  unix  - - n -     0 tlsproxy",
)
_RECEIVER_SERVICES = ("virtual   unix  - n n -     - virtual",)


def render_master_cf(smtpd_port: int, role: Role) -> str:
    """The whole master.cf: one smtpd on 127.0.0.1 plus only the services the role uses."""
    lines = [f"127.0.0.1:{smtpd_port} inet n - n - - smtpd", *_COMMON_SERVICES]
    lines += _SENDER_SERVICES if isinstance(role, SenderRole) else _RECEIVER_SERVICES
    return "\n".join(lines) + "\n"


def queue_timers(seconds: int) -> dict[str, str]:
    """Postfix's queue scan and retry timers: short ones keep a test peer fast."""
    timer = max(1, seconds)
    return {
        "queue_run_delay": f"{timer}s",
        "minimal_backoff_time": f"{timer}s",
        "maximal_backoff_time": f"{2 * timer}s",
    }


def _common_main_cf(
    layout: InstanceLayout, name: str, myhostname: str, queue_timer_seconds: int
) -> dict[str, str]:
    return {
        "compatibility_level": "3.6",
        "queue_directory": str(layout.queue_dir),
        # master.lock lives here: a shared data_directory stops a second instance starting.
        "data_directory": str(layout.data_dir),
        "mail_owner": "postfix",
        "setgid_group": "postdrop",
        "syslog_name": f"postfix-{name}",
        # No syslog daemon: log through the postlog service into a file of our own. The
        # file must sit under one of maillog_file_prefixes (default only /var, /dev/stdout).
        "maillog_file": str(layout.log_file),
        "maillog_file_prefixes": str(layout.root),
        "myhostname": myhostname,
        "myorigin": "$myhostname",
        "mydestination": "",
        "relay_domains": "",
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "smtp_bind_address": "127.0.0.1",
        # Nothing is ever delivered to a real user of this machine.
        "local_transport": "error:local delivery is disabled in this test peer",
        "local_recipient_maps": "",  # default proxy:unix:passwd.byname needs proxymap
        "alias_maps": "",
        "alias_database": "",
        "biff": "no",
        "append_dot_mydomain": "no",
        # Pass messages through untouched: by default Postfix adds Date/Message-ID/From and
        # rewrites headers for clients on inet_interfaces, and 127.0.0.1 is one.
        "local_header_rewrite_clients": "",
        "smtputf8_enable": "yes",
        "smtpd_peername_lookup": "no",
        "smtp_dns_support_level": "disabled",  # relayhost is an IP literal: no DNS at all
        **queue_timers(queue_timer_seconds),
        "smtp_connect_timeout": "5s",
        "delay_warning_time": "0h",
        "readme_directory": "no",
    }


def _sender_main_cf(role: SenderRole, tls_files: Mapping[str, Path]) -> dict[str, str]:
    cf = {
        "mynetworks": "127.0.0.0/8",
        "relayhost": f"[{role.relay_host}]:{role.relay_port}",
        "smtp_tls_security_level": str(role.tls_level),
        "smtp_tls_loglevel": "1",
    }
    if "ca_file" in tls_files:
        cf["smtp_tls_CAfile"] = str(tls_files["ca_file"])
    if role.tls_servername:
        cf["smtp_tls_servername"] = role.tls_servername
    if role.tls_match:
        cf["smtp_tls_verify_cert_match"] = role.tls_match
        cf["smtp_tls_secure_cert_match"] = role.tls_match
    if role.sasl is not None:
        secret = f"{role.sasl.username}:{role.sasl.password}"
        if any(c in secret for c in "{}\n"):
            raise ValueError("SASL credentials must not contain braces or newlines")
        cf |= {
            "smtp_sasl_auth_enable": "yes",
            "smtp_sasl_password_maps": "static:{" + secret + "}",
            # Defaults forbid PLAIN/LOGIN without TLS ("noplaintext"); allow them.
            "smtp_sasl_security_options": "noanonymous",
            "smtp_sasl_tls_security_options": "noanonymous",
        }
    return cf


def _receiver_main_cf(
    role: ReceiverRole, layout: InstanceLayout, tls_files: Mapping[str, Path]
) -> dict[str, str]:
    mail_uid = pwd.getpwnam("postfix")
    cf = {
        # Loopback stays in mynetworks so anvil rate limits never throttle benchmarks, but
        # nothing relays and the bare-newline check excludes nobody (its default is
        # $mynetworks, which would exempt every client of this peer).
        "mynetworks": "127.0.0.0/8",
        "smtpd_relay_restrictions": "reject_unauth_destination",
        "default_transport": "error:this test peer does not relay",
        "relay_transport": "error:this test peer does not relay",
        "smtpd_forbid_bare_newline": role.bare_newline,
        "smtpd_forbid_bare_newline_exclusions": "",
        "smtpd_forbid_unauth_pipelining": "yes",
        "strict_rfc821_envelopes": "yes",
        "virtual_mailbox_domains": " ".join(role.domains),
        "virtual_mailbox_base": str(layout.mail_dir),
        "virtual_mailbox_maps": "static:inbox/",  # one maildir (trailing "/") for everyone
        "virtual_uid_maps": f"static:{mail_uid.pw_uid}",
        "virtual_gid_maps": f"static:{mail_uid.pw_gid}",
        "virtual_minimum_uid": str(mail_uid.pw_uid),
        "virtual_transport": "virtual" if role.delivery is Delivery.MAILDIR else "discard",
    }
    if "cert_file" in tls_files:
        cf |= {
            "smtpd_tls_cert_file": str(tls_files["cert_file"]),
            "smtpd_tls_key_file": str(tls_files["key_file"]),
            "smtpd_tls_security_level": str(role.tls_level),
            "smtpd_tls_received_header": "yes",
            "smtpd_tls_loglevel": "1",
        }
    else:
        cf["smtpd_tls_security_level"] = "none"
    return cf


def render_main_cf(
    layout: InstanceLayout,
    *,
    name: str,
    myhostname: str,
    role: Role,
    tls_files: Mapping[str, Path],
    queue_timer_seconds: int,
    extra: Mapping[str, str],
) -> str:
    """The whole main.cf; ``extra`` overrides anything (benchmarks tune process limits)."""
    cf = _common_main_cf(layout, name, myhostname, queue_timer_seconds)
    if isinstance(role, SenderRole):
        cf |= _sender_main_cf(role, tls_files)
    else:
        cf |= _receiver_main_cf(role, layout, tls_files)
    cf |= dict(extra)
    return "".join(f"{key} = {value}\n" for key, value in cf.items())
