"""MTA-STS policy fetching over real loopback sockets (RFC 8461 section 3.3, checklist C3):
a real HTTPS server with a trustme CA, names resolved by a real DNS server through the
dnspython Resolver. Every fault is a value with its RFC 8460 result type; no redirect is
ever followed; the certificate is checked for ``mta-sts.<domain>``."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from sealpost.dns.dnspython_resolver import DnspythonResolver
from sealpost.model.tlsrpt import TlsFailure
from sealpost.policy.mta_sts import MAX_POLICY_BYTES, StsError, StsMode, StsPolicy
from sealpost.policy.sts_fetch import StsFetcher
from tests.fixtures.dns_server import DnsServer, dns_server_fixture  # noqa: F401
from tests.fixtures.https_server import CertKind, HttpsServer, https_server_fixture  # noqa: F401

POLICY = "version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: 86400\n"
PARSED = StsPolicy(StsMode.ENFORCE, 86400, ("mail.loc",))
FETCH_ERROR = TlsFailure.STS_POLICY_FETCH_ERROR
INVALID = TlsFailure.STS_POLICY_INVALID
WEBPKI = TlsFailure.STS_WEBPKI_INVALID

Fetch = Callable[..., "StsPolicy | StsError"]


@pytest.fixture
def fetch(https_server: HttpsServer, dns_server: DnsServer) -> Fetch:
    """Serve ``site`` settings for ``domain``, resolve it to 127.0.0.1, fetch once."""

    def run(
        domain: str = "example.test", *, timeout: float = 5.0, trust: bool = True, **site: object
    ) -> StsPolicy | StsError:
        site.setdefault("body", POLICY)
        https_server.site(f"mta-sts.{domain}", **site)
        dns_server.set(f"mta-sts.{domain}", "A", ["127.0.0.1"])
        fetcher = StsFetcher(
            DnspythonResolver([dns_server.nameserver], timeout=2, lifetime=4),
            https_port=https_server.port,
            ca_file=https_server.ca_file if trust else None,
            timeout=timeout,
        )
        return asyncio.run(fetcher.fetch(domain))

    return run


def assert_failure(result: StsPolicy | StsError, failure: TlsFailure, text: str = "") -> None:
    assert isinstance(result, StsError), result
    assert result.failure is failure, result
    assert text in result.detail


# -- what is a policy ------------------------------------------------------------------------


def test_valid_policy(fetch: Fetch, https_server: HttpsServer) -> None:
    assert fetch() == PARSED
    (request,) = https_server.requests
    assert request.method == "GET" and request.path == "/.well-known/mta-sts.txt"
    assert request.host == "mta-sts.example.test" and request.sni == "mta-sts.example.test"
    assert ("accept-encoding", "identity") in request.headers


@pytest.mark.parametrize(
    "site",
    [
        {"body": POLICY.replace("\n", "\r\n")},
        {"chunked": True},
        {"chunked": True, "body": POLICY + "x-pad: " + "p" * 5000 + "\n"},
        {"content_length": False},  # the body ends when the connection closes
        {"content_type": "text/plain; charset=utf-8"},
        {"content_type": "Text/Plain ;charset=us-ascii"},
    ],
)
def test_valid_policy_variants(fetch: Fetch, site: dict) -> None:
    assert fetch(**site) == PARSED


def test_policy_of_exactly_64_kib_is_read(fetch: Fetch) -> None:
    body = POLICY + "x-pad: "
    body += "p" * (MAX_POLICY_BYTES - len(body) - 1) + "\n"
    assert len(body.encode()) == MAX_POLICY_BYTES
    assert fetch(body=body, chunked=True) == PARSED


def test_domain_name_is_normalised(fetch: Fetch, https_server: HttpsServer) -> None:
    https_server.site("mta-sts.upper.test", body=POLICY)
    assert fetch("upper.test") == PARSED


# -- C3: fetch faults ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_never_followed(
    fetch: Fetch,
    https_server: HttpsServer,
    status: int,
) -> None:
    https_server.site("mta-sts.target.test", body=POLICY)
    location = "https://mta-sts.target.test/.well-known/mta-sts.txt"
    result = fetch(status=status, headers=[("Location", location)])
    assert_failure(result, FETCH_ERROR, f"redirect {status}")
    assert [r.host for r in https_server.requests] == ["mta-sts.example.test"]


@pytest.mark.parametrize("status", [404, 500, 204, 201, 403])
def test_status_other_than_200(fetch: Fetch, status: int) -> None:
    assert_failure(fetch(status=status), FETCH_ERROR, f"HTTP status {status}")


def test_host_without_a_site_is_404(https_server: HttpsServer, dns_server: DnsServer) -> None:
    dns_server.set("mta-sts.example.test", "A", ["127.0.0.1"])
    fetcher = StsFetcher(
        DnspythonResolver([dns_server.nameserver]),
        https_port=https_server.port,
        ca_file=https_server.ca_file,
    )
    assert_failure(asyncio.run(fetcher.fetch("example.test")), FETCH_ERROR, "HTTP status 404")


@pytest.mark.parametrize(
    "content_type", ["text/html", "application/octet-stream", "text/plain2", "text", None]
)
def test_media_type_must_be_text_plain(fetch: Fetch, content_type: str | None) -> None:
    assert_failure(fetch(content_type=content_type), FETCH_ERROR, "not text/plain")


def test_two_content_types_are_refused(fetch: Fetch) -> None:
    result = fetch(headers=[("Content-Type", "text/html")])
    assert_failure(result, FETCH_ERROR, "not text/plain")


def test_unrequested_content_encoding_is_refused(fetch: Fetch) -> None:
    assert_failure(fetch(headers=[("Content-Encoding", "gzip")]), FETCH_ERROR, "gzip")


@pytest.mark.parametrize(
    "site",
    [
        {},  # announced by Content-Length: not even read
        {"content_length": False},  # read up to the cap, then given up
        {"chunked": True},
    ],
)
def test_body_over_64_kib(fetch: Fetch, site: dict) -> None:
    body = POLICY + "x-pad: " + "p" * MAX_POLICY_BYTES + "\n"
    assert_failure(fetch(body=body, **site), FETCH_ERROR, "64 KiB")


def test_body_of_64_kib_plus_one_byte(fetch: Fetch) -> None:
    body = POLICY + "x-pad: "
    body += "p" * (MAX_POLICY_BYTES - len(body)) + "\n"
    assert len(body.encode()) == MAX_POLICY_BYTES + 1
    assert_failure(fetch(body=body, content_length=False), FETCH_ERROR, "64 KiB")


@pytest.mark.parametrize(
    "raw",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",  # cut in the head
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 500\r\n\r\nversion",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"",
    ],
)
def test_garbage_responses(fetch: Fetch, raw: bytes) -> None:
    assert_failure(fetch(raw=raw), FETCH_ERROR)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("garbage", "not a 'key: value'"),  # Snawoot bad-policy1
        ("version: STSv1\nmode: enforce\nmax_age: 86400", "without an mx"),  # bad-policy2
        ("version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: xxx", "max_age"),  # 5
        ("version: STSv1\nmode: enforce\nmx: mail.loc\nmax_age: 31557601", "max_age"),  # 6
        ("version: STSv1\nmx: mail.loc\nmax_age: 86400", "no mode"),  # bad-policy7
        ("version: STSv1\nmode: doubt\nmx: mail.loc\nmax_age: 86400", "unknown mode"),  # 8
        (b"version: STSv1\nmode: none\nmax_age: 1\nx: \xff\xfe\n", "not UTF-8"),
    ],
)
def test_bad_policies(fetch: Fetch, body: str | bytes, why: str) -> None:
    assert_failure(fetch(body=body), INVALID, why)


def test_text_html_policy_snawoot_bad_policy3(fetch: Fetch) -> None:
    assert_failure(fetch(content_type="text/html"), FETCH_ERROR)


def test_404_with_a_policy_body_snawoot_bad_policy4(fetch: Fetch) -> None:
    assert_failure(fetch(status=404), FETCH_ERROR, "404")


@pytest.mark.parametrize(
    ("cert", "why"),
    [
        (CertKind.WRONG_NAME, "not valid for 'mta-sts.example.test'"),  # Snawoot bad-cert1
        (CertKind.UNTRUSTED, "local issuer"),  # bad-cert2
        (CertKind.EXPIRED, "expired"),
    ],
)
def test_bad_certificates(
    fetch: Fetch, https_server: HttpsServer, cert: CertKind, why: str
) -> None:
    assert_failure(fetch(cert=cert), WEBPKI, why)
    assert https_server.requests == []  # nothing was sent over the untrusted session


def test_test_ca_is_not_trusted_unless_configured(fetch: Fetch) -> None:
    assert_failure(fetch(trust=False), WEBPKI, "local issuer")


def test_stalled_server_is_bounded_in_time(fetch: Fetch) -> None:
    assert_failure(fetch(stall=True, timeout=0.5), FETCH_ERROR, "no policy within")


def test_dripping_server_is_bounded_in_total_time(fetch: Fetch) -> None:
    # One byte every 0.1 s resets any per-read timeout; the whole fetch is still bounded.
    assert_failure(fetch(drip=0.1, timeout=0.8), FETCH_ERROR, "no policy within")


# -- DNS and connection faults ---------------------------------------------------------------


def test_no_address_for_the_policy_host(https_server: HttpsServer, dns_server: DnsServer) -> None:
    fetcher = StsFetcher(
        DnspythonResolver([dns_server.nameserver]),
        https_port=https_server.port,
        ca_file=https_server.ca_file,
    )
    assert_failure(asyncio.run(fetcher.fetch("nowhere.test")), FETCH_ERROR, "nxdomain")
    dns_server.servfail.add("mta-sts.broken.test")
    assert_failure(asyncio.run(fetcher.fetch("broken.test")), FETCH_ERROR, "servfail")


def test_connection_refused(https_server: HttpsServer, dns_server: DnsServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    dns_server.set("mta-sts.example.test", "A", ["127.0.0.1"])
    fetcher = StsFetcher(
        DnspythonResolver([dns_server.nameserver]),
        https_port=closed_port,
        ca_file=https_server.ca_file,
    )
    assert_failure(asyncio.run(fetcher.fetch("example.test")), FETCH_ERROR, "127.0.0.1")


@pytest.mark.parametrize("domain", ["", "bad domain", "a/b", "x" * 300, "é.test", "a..b"])
def test_names_that_are_not_domains(
    https_server: HttpsServer,
    dns_server: DnsServer,
    domain: str,
) -> None:
    fetcher = StsFetcher(DnspythonResolver([dns_server.nameserver]), https_port=https_server.port)
    assert_failure(asyncio.run(fetcher.fetch(domain)), FETCH_ERROR, "not a domain name")
    assert dns_server.queries == []
