"""Fixtures for interop tests against real third-party peers (Postfix, swaks, openssl).

Owns the rule for missing peers: ``require_binary`` skips with a clear reason on a developer
machine, but fails when the ``CI`` environment variable is set (non-empty), because CI must
install every peer. Interop test modules mark themselves ``pytestmark = pytest.mark.interop``.
Also provides short, world-searchable work directories and started Postfix instances that
are always stopped by the fixture finalizer (and by ``atexit`` if the run dies).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.interop.postfix_peer import PostfixPeer, Role, free_loopback_port

_SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the CI setup must provide it)", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str, package: str | None = None) -> str:
    """Absolute path of ``name``; skip (or fail under CI) when it is not installed.

    ``package`` names the Debian package that provides it (default: ``name``).
    """
    search = os.pathsep.join(filter(None, (os.environ.get("PATH"), _SBIN_PATH)))
    path = shutil.which(name, path=search)
    if path is None:
        _missing(f"{name} is not installed (apt-get install {package or name})")
    assert path is not None
    return path


def require_root(purpose: str) -> None:
    """Skip (or fail under CI) when not running as root."""
    if os.geteuid() != 0:
        _missing(f"{purpose} needs root")


@dataclass(frozen=True)
class PeerPki:
    """A throwaway CA and one server certificate for the peers' STARTTLS."""

    ca: trustme.CA
    ca_file: Path
    cert_file: Path
    key_file: Path


@pytest.fixture
def postfix_workdir() -> Iterator[Path]:
    """A short 0755 directory in /tmp: Postfix's unprivileged daemons must search every
    parent of their queue directory, and its AF_UNIX socket paths must stay short, which
    pytest's 0700 ``/tmp/pytest-of-root/...`` tmp_path does not guarantee."""
    path = Path(tempfile.mkdtemp(prefix="sp-pf-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def peer_pki(postfix_workdir: Path) -> PeerPki:
    """CA + certificate for ``mx.example.test`` (and localhost, 127.0.0.1)."""
    ca = trustme.CA()
    cert = ca.issue_cert("mx.example.test", "localhost", "127.0.0.1")
    directory = postfix_workdir / "pki"
    directory.mkdir(mode=0o755)
    pki = PeerPki(ca, directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca.cert_pem.write_to_path(str(pki.ca_file))
    cert.private_key_pem.write_to_path(str(pki.key_file))
    with open(pki.cert_file, "wb") as chain:
        for blob in cert.cert_chain_pems:
            chain.write(blob.bytes())
    return pki


PostfixFactory = Callable[..., PostfixPeer]


@pytest.fixture
def postfix_peers(postfix_workdir: Path) -> Iterator[PostfixFactory]:
    """Factory: ``make(name, role, myhostname=..., smtpd_port=None, **kw)`` -> started peer.

    Every peer it made is stopped when the test ends, whatever happened.
    """
    require_binary("postfix")
    require_root("running Postfix test peers")
    made: list[PostfixPeer] = []

    def make(
        name: str,
        role: Role,
        *,
        myhostname: str | None = None,
        smtpd_port: int | None = None,
        **kwargs: object,
    ) -> PostfixPeer:
        peer = PostfixPeer(
            postfix_workdir,
            name=name,
            smtpd_port=smtpd_port or free_loopback_port(),
            myhostname=myhostname or f"{name}.example.test",
            role=role,
            **kwargs,  # type: ignore[arg-type]
        )
        made.append(peer)
        return peer.start()

    yield make
    for peer in reversed(made):
        peer.stop()
