"""``sealpost init``: a working directory with a commented config, a dev certificate and data,
with the key that seals the sending domains' DKIM keys (``dkim.sealing``; 0600).

The certificate is self-signed (for development; ``serve`` warns about it) and covers the
hostname, localhost, 127.0.0.1 and ::1 so local clients can verify it when told to trust it.
"""

from __future__ import annotations

from pathlib import Path

from sealpost.config.template import render_default_config
from sealpost.dkim.sealing import create_secret
from sealpost.net.devcert import make_self_signed
from sealpost.store.file_modes import make_private_dirs

DEFAULT_CONFIG = "sealpost.toml"


def init_directory(
    directory: Path, *, hostname: str, dev_ports: bool = True, force: bool = False
) -> list[Path]:
    """Create what is missing; returns the paths written. Raises FileExistsError for an
    existing config unless ``force``."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / DEFAULT_CONFIG
    if config.exists() and not force:
        raise FileExistsError(str(config))
    written: list[Path] = []
    config.write_text(render_default_config(hostname=hostname, dev_ports=dev_ports))
    written.append(config)
    cert, key = directory / "certs" / "server.pem", directory / "certs" / "server.key"
    if force or not (cert.exists() and key.exists()):
        make_self_signed(hostname, cert, key)
        written += [cert, key]
    data = directory / "var"
    if not data.exists():
        make_private_dirs(data)  # it will hold queued mail: 0700
        written.append(data)
    secret = data / "dkim-secret.key"  # the default [dkim] key_encryption_key_file
    if create_secret(secret):
        written.append(secret)
    return written
