"""``sealpost dkim generate|show-dns`` run as real subprocesses against an ``init``-ed directory.

The full loop a person follows: generate a key, paste the printed TOML into sealpost.toml,
publish the printed TXT record; then mail signed with the configured key verifies against
exactly that record.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import dkim as dkimpy
import pytest

from sealpost.config.loader import load_config
from sealpost.dkim.keys import load_key
from sealpost.dkim.signer import DkimSigner

CLI_TIMEOUT = 60.0


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sealpost", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "80"},
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("dkim-cli")
    done = run_cli("init", "--dir", str(directory), cwd=directory)
    assert done.returncode == 0, done.stderr
    return directory


def txt_from_record(record: str) -> str:
    """What a resolver returns for the printed record: its quoted strings joined."""
    return "".join(re.findall(r'"([^"]*)"', record))


def generate(workdir: Path, *args: str) -> dict[str, str]:
    done = run_cli("dkim", "generate", *args, "--json", cwd=workdir)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_generate_writes_a_private_key_and_prints_what_to_publish(workdir: Path) -> None:
    done = run_cli("dkim", "generate", "--domain", "Shop.test", "--selector", "s2026", cwd=workdir)
    assert done.returncode == 0, done.stderr
    key_file = workdir / "var" / "dkim" / "shop.test" / "s2026.key"
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    lines = done.stdout.splitlines()
    # the record is printed on one unwrapped line, ready to paste into a zone file
    record = next(line for line in lines if line.startswith("s2026._domainkey.shop.test. IN TXT"))
    value = txt_from_record(record)
    assert value.startswith("v=DKIM1; k=rsa; p=")
    assert all(len(part) <= 255 for part in re.findall(r'"([^"]*)"', record))
    snippet = done.stdout[done.stdout.index("[[dkim.keys]]") :]
    assert tomllib.loads(snippet) == {
        "dkim": {
            "keys": [
                {
                    "domain": "shop.test",
                    "selector": "s2026",
                    "key_file": "var/dkim/shop.test/s2026.key",
                }
            ]
        }
    }


def test_the_printed_config_and_record_sign_mail_that_verifies(workdir: Path) -> None:
    result = generate(workdir, "--domain", "mail.test", "--selector", "loop", "--algorithm", "rsa")
    config = workdir / "loop.toml"
    config.write_text((workdir / "sealpost.toml").read_text() + "\n" + result["toml"])
    cfg = load_config(config)
    keys = [load_key(k.domain, k.selector, k.key_file) for k in cfg.dkim.keys]
    signed = DkimSigner(keys).sign(
        b"From: a@mail.test\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nhello\r\n"
    )
    published = {"loop._domainkey.mail.test.": txt_from_record(result["dns_record"])}

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        value = published.get(name.decode())
        return value.encode() if value else None

    assert dkimpy.verify(signed, dnsfunc=dnsfunc)


def test_ed25519_keys(workdir: Path) -> None:
    result = generate(
        workdir, "--domain", "shop.test", "--selector", "ed", "--algorithm", "ed25519"
    )
    assert result["algorithm"] == "ed25519-sha256"
    assert result["dns_txt"].startswith("v=DKIM1; k=ed25519; p=")
    assert result["dns_name"] == "ed._domainkey.shop.test."
    assert result["dns_record"] == f'ed._domainkey.shop.test. IN TXT "{result["dns_txt"]}"'
    assert result["key_file"] == "var/dkim/shop.test/ed.key"


def test_an_existing_key_is_not_overwritten_without_force(workdir: Path) -> None:
    first = generate(workdir, "--domain", "shop.test", "--selector", "keep")
    key_file = workdir / first["key_file"]
    before = key_file.read_bytes()
    again = run_cli("dkim", "generate", "--domain", "shop.test", "--selector", "keep", cwd=workdir)
    assert again.returncode == 1
    flat = " ".join(again.stderr.split())
    assert "already exists" in flat and "--force" in flat and "show-dns" in flat
    assert key_file.read_bytes() == before
    forced = generate(workdir, "--domain", "shop.test", "--selector", "keep", "--force")
    assert key_file.read_bytes() != before
    assert forced["dns_txt"] != first["dns_txt"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not key_file.with_name("keep.key.tmp").exists()


def test_show_dns_prints_the_same_record_again(workdir: Path) -> None:
    made = generate(workdir, "--domain", "shop.test", "--selector", "again")
    done = run_cli(
        "dkim", "show-dns", "--domain", "shop.test", "--selector", "again", "--json", cwd=workdir
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown == made
    text = run_cli("dkim", "show-dns", "--domain", "shop.test", "--selector", "again", cwd=workdir)
    assert made["dns_record"] in text.stdout.splitlines()
    assert "wrote" not in text.stdout


def test_show_dns_for_a_missing_key_says_how_to_make_one(workdir: Path) -> None:
    done = run_cli("dkim", "show-dns", "--domain", "shop.test", "--selector", "nope", cwd=workdir)
    assert done.returncode == 1
    assert "sealpost dkim generate --domain shop.test --selector nope" in " ".join(
        done.stderr.split()
    )


def test_show_dns_reads_an_explicit_key_file(workdir: Path, tmp_path: Path) -> None:
    made = generate(
        workdir, "--domain", "shop.test", "--selector", "moved", "--algorithm", "ed25519"
    )
    moved = tmp_path / "elsewhere.pem"
    moved.write_bytes((workdir / made["key_file"]).read_bytes())
    done = run_cli(
        "dkim",
        "show-dns",
        "--domain",
        "shop.test",
        "--selector",
        "moved",
        "--key-file",
        str(moved),
        "--json",
        cwd=workdir,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["dns_txt"] == made["dns_txt"]
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    bad = run_cli(
        "dkim",
        "show-dns",
        "--domain",
        "shop.test",
        "--selector",
        "moved",
        "--key-file",
        str(garbage),
        cwd=workdir,
    )
    assert bad.returncode == 1
    assert "PEM" in bad.stderr


@pytest.mark.parametrize(
    ("domain", "selector"),
    [("shop.test", "../../etc/passwd"), ("shop.test", "a/b"), ("../x", "s"), ("shop.test", "")],
)
def test_names_that_are_not_dns_names_are_refused(
    workdir: Path, domain: str, selector: str
) -> None:
    done = run_cli("dkim", "generate", "--domain", domain, "--selector", selector, cwd=workdir)
    assert done.returncode == 2
    assert "error:" in done.stderr
    assert not list(workdir.glob("var/dkim/**/*passwd*"))


def test_a_missing_config_is_reported(tmp_path: Path) -> None:
    done = run_cli("dkim", "generate", "--domain", "a.test", "--selector", "s", cwd=tmp_path)
    assert done.returncode == 2
    assert "sealpost init" in " ".join(done.stderr.split())
