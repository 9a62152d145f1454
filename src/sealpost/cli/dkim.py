"""``sealpost dkim generate|show-dns``: DKIM signing keys and the DNS records that publish them.

Keys live under ``<data_dir>/dkim/<domain>/<selector>.key``, mode 0600 in a 0700 directory;
an existing key is never overwritten without ``--force`` (the published record would stop
matching). Records and TOML snippets are printed literally and unwrapped, ready to paste.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sealpost.cli.common import DEFAULT_CONFIG_PATH, ConfigOpt, JsonOpt, fail, literal, load, out
from sealpost.cli.dkim_kek import dkim_kek_status, dkim_reseal
from sealpost.config.model import Config
from sealpost.dkim.keys import (
    DkimAlgorithm,
    DkimKeyError,
    algorithm_of,
    check_domain,
    check_selector,
    dns_name,
    dns_record,
    dns_txt_value,
    generate_key,
    key_path,
)

dkim_app = typer.Typer(
    help="DKIM signing keys: generate them, print the DNS records to publish, rotate the "
    "key-encryption key that seals the stored ones.",
    no_args_is_help=True,
)


class KeyType(StrEnum):
    RSA = "rsa"
    ED25519 = "ed25519"


DomainOpt = Annotated[str, typer.Option("--domain", help="Signing domain (d=), e.g. example.com.")]
SelectorOpt = Annotated[str, typer.Option("--selector", help="Selector (s=), e.g. mail2026.")]


def _names(domain: str, selector: str) -> tuple[str, str]:
    try:
        return check_domain(domain), check_selector(selector)
    except DkimKeyError as exc:
        raise fail(str(exc), 2) from None


def _shown_path(cfg: Config, path: Path) -> str:
    """The key path as the config should name it: relative to the config file when inside."""
    base = cfg.base_dir
    if base is not None:
        try:
            return path.resolve().relative_to(Path(base).resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def toml_snippet(domain: str, selector: str, key_file: str) -> str:
    """The ``[[dkim.keys]]`` table to add to sealpost.toml (values as TOML basic strings)."""
    return (
        "[[dkim.keys]]\n"
        f"domain = {json.dumps(domain)}\n"
        f"selector = {json.dumps(selector)}\n"
        f"key_file = {json.dumps(key_file)}\n"
    )


def _write_private(path: Path, pem: bytes, *, force: bool) -> None:
    """Write ``pem`` with mode 0600: exclusively, or replacing atomically under ``force``."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = path.with_name(path.name + ".tmp") if force else path
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    if force and target.exists():
        target.unlink()
    fd = os.open(target, flags, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    if force:
        os.replace(target, path)


def _report(
    cfg: Config, domain: str, selector: str, path: Path, pem: bytes, *, json_out: bool, wrote: bool
) -> None:
    txt = dns_txt_value(pem)
    shown = _shown_path(cfg, path)
    record = dns_record(domain, selector, txt)
    snippet = toml_snippet(domain, selector, shown)
    if json_out:
        print(
            json.dumps(
                {
                    "domain": domain,
                    "selector": selector,
                    "algorithm": algorithm_of(pem).value,
                    "key_file": shown,
                    "dns_name": dns_name(domain, selector),
                    "dns_txt": txt,
                    "dns_record": record,
                    "toml": snippet,
                }
            )
        )
        return
    if wrote:
        out.print(literal(f"wrote {path} (mode 0600)"), soft_wrap=True)
    out.print("\nPublish this DNS TXT record:\n", style="bold")
    out.print(literal(record), soft_wrap=True)
    out.print("\nAdd this to sealpost.toml:\n", style="bold")
    out.print(literal(snippet), soft_wrap=True)


@dkim_app.command("generate")
def dkim_generate(
    domain: DomainOpt,
    selector: SelectorOpt,
    algorithm: Annotated[
        KeyType,
        typer.Option("--algorithm", metavar="rsa|ed25519", help="rsa (2048 bits) or ed25519."),
    ] = KeyType.RSA,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key file.")] = False,
    config: ConfigOpt = DEFAULT_CONFIG_PATH,
    json_out: JsonOpt = False,
) -> None:
    """Make a signing key, then print the DNS TXT record and the config to add."""
    cfg = load(config)
    domain, selector = _names(domain, selector)
    path = key_path(cfg.server.data_dir, domain, selector)
    if path.exists() and not force:
        raise fail(
            f"{path} already exists; publish it with `sealpost dkim show-dns --domain {domain} "
            f"--selector {selector}`, choose another selector, or pass --force to replace it."
        )
    pem, _ = generate_key(DkimAlgorithm.parse(algorithm.value))
    try:
        _write_private(path, pem, force=force)
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror or exc}") from None
    _report(cfg, domain, selector, path, pem, json_out=json_out, wrote=True)


@dkim_app.command("show-dns")
def dkim_show_dns(
    domain: DomainOpt,
    selector: SelectorOpt,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file", metavar="FILE", help="Key to read (default: the one `generate` wrote)."
        ),
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG_PATH,
    json_out: JsonOpt = False,
) -> None:
    """Print the DNS TXT record (and config snippet) for an existing key again."""
    cfg = load(config)
    domain, selector = _names(domain, selector)
    path = key_file if key_file is not None else key_path(cfg.server.data_dir, domain, selector)
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise fail(
            f"no key at {path}; make one with `sealpost dkim generate --domain {domain} "
            f"--selector {selector}`."
        ) from None
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        algorithm_of(pem)
    except DkimKeyError as exc:
        raise fail(f"{path}: {exc}") from None
    _report(cfg, domain, selector, path, pem, json_out=json_out, wrote=False)


# The key-encryption key's commands (cli/dkim_kek.py), listed after the keys' own.
dkim_app.command("reseal")(dkim_reseal)
dkim_app.command("kek-status")(dkim_kek_status)
