"""End-to-end tests of the ``sealpost`` command line, run as real subprocesses.

Each test runs ``python -m sealpost ...`` the way a user would: ``init`` writes a working
directory, ``serve --dev`` bootstraps an empty one and listens on the documented dev ports,
config errors exit 2 with an actionable message, ``keys`` never prints or stores a key after
creating it, and ``queue list/show`` report what a running server process accepted over
STARTTLS. Every wait is bounded; no test depends on timing beyond those bounds.
"""

from __future__ import annotations

import base64
import json
import os
import re
import smtplib
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sealpost.config.loader import load_config
from tests.serve_process import ServerProcess
from tests.support import Pki, make_pki, write_config

CLI_TIMEOUT = 30.0
DEV_PORTS = {"mx": 2525, "submission": 5587, "submissions": 4465}
DEV_API_PORT = 8443
DEV_METRICS_PORT = 9425


# --- helpers -------------------------------------------------------------------------------


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``sealpost ARGS`` to completion (bounded) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "sealpost", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def flat(text: str) -> str:
    """Output with runs of whitespace collapsed (rich wraps long lines at the pipe width)."""
    return " ".join(text.split())


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def config(tmp_path: Path, pki: Pki) -> Path:
    return write_config(tmp_path, pki, listeners=[{"name": "mx", "tls": "starttls"}])


@pytest.fixture
def running(spawn: Callable[..., ServerProcess], config: Path) -> ServerProcess:
    return spawn(config)


# --- init ----------------------------------------------------------------------------------


def test_init_writes_a_loadable_directory_and_refuses_to_overwrite(tmp_path: Path):
    target = tmp_path / "site"
    first = run_cli("init", "--dir", str(target))
    assert first.returncode == 0, first.stderr
    config = target / "sealpost.toml"
    cert, key = target / "certs" / "server.pem", target / "certs" / "server.key"
    assert config.is_file() and cert.is_file() and key.is_file()
    assert (target / "var").is_dir()
    assert key.stat().st_mode & 0o777 == 0o600
    assert "sealpost serve -c" in flat(first.stdout)

    loaded = load_config(config)
    assert loaded.tls.cert_file == cert.resolve()
    secret = loaded.dkim_secret_file  # the default [dkim] key_encryption_key_file
    assert secret == (target / "var" / "dkim-secret.key").resolve()
    assert secret.stat().st_mode & 0o777 == 0o600
    assert len(base64.b64decode(secret.read_text().strip(), validate=True)) == 32
    assert [listener.address for listener in loaded.smtp.listeners] == [
        f"127.0.0.1:{port}" for port in DEV_PORTS.values()
    ]

    before = config.read_bytes(), cert.read_bytes(), key.read_bytes()
    second = run_cli("init", "--dir", str(target))
    assert second.returncode != 0
    assert "--force" in flat(second.stderr)
    assert (config.read_bytes(), cert.read_bytes(), key.read_bytes()) == before
    kept = secret.read_bytes()

    forced = run_cli("init", "--dir", str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    assert cert.read_bytes() != before[1]
    assert secret.read_bytes() == kept, "never replaced: it opens the keys already sealed"
    assert key.stat().st_mode & 0o777 == 0o600


# --- serve ---------------------------------------------------------------------------------


def _banner(port: int, ctx: ssl.SSLContext | None = None) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        if ctx is None:
            return raw.recv(512)
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.recv(512)


def test_serve_dev_bootstraps_an_empty_directory_and_stops_on_sigterm(tmp_path: Path):
    ports = (*DEV_PORTS.values(), DEV_API_PORT, DEV_METRICS_PORT)
    busy = [port for port in ports if port_in_use(port)]
    if busy:
        pytest.skip(f"dev port(s) {busy} already bound on 127.0.0.1")
    site = tmp_path / "site"
    site.mkdir()
    server = ServerProcess(None, args=("serve", "--dev"), cwd=site, log_dir=tmp_path).launch()
    try:
        ready = server.wait_ready()
        for name, port in DEV_PORTS.items():
            assert f"{name}=127.0.0.1:{port}/" in ready
        assert f"metrics=127.0.0.1:{DEV_METRICS_PORT}/http" in ready
        for path in ("sealpost.toml", "certs/server.pem", "certs/server.key"):
            assert (site / path).is_file(), path
        assert (site / "var").is_dir()

        assert _banner(DEV_PORTS["mx"]).startswith(b"220 ")
        assert _banner(DEV_PORTS["submission"]).startswith(b"220 ")
        # The dev certificate names localhost, so a client that trusts the file verifies it.
        trusting = ssl.create_default_context(cafile=str(site / "certs" / "server.pem"))
        assert _banner(DEV_PORTS["submissions"], trusting).startswith(b"220 ")

        # The README's API example: a key from the CLI, the dev certificate trusted.
        made = run_cli("keys", "create", "--json", "-c", str(site / "sealpost.toml"))
        key = json.loads(made.stdout)["key"]
        body = {
            "recipients": [{"address": "you@localhost"}],
            "content": {"from": "app@localhost", "subject": "Hello", "text": "Hi"},
        }
        answer = httpx.post(
            f"https://127.0.0.1:{DEV_API_PORT}/api/v1/transmissions",
            json=body,
            headers={"Authorization": key},
            verify=trusting,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"]["total_accepted_recipients"] == 1

        assert server.stop() == 0
    finally:
        server.kill()

    log = server.stderr()
    assert "first start" in log
    summary = re.search(r"effective config: (\{.*\})", log)
    assert summary, log
    effective = json.loads(summary.group(1))
    assert effective["server"]["hostname"] == "localhost"
    assert [entry["address"] for entry in effective["smtp"]["listeners"]] == [
        f"127.0.0.1:{port}" for port in DEV_PORTS.values()
    ]
    for name, port in DEV_PORTS.items():
        assert f"listening: {name} on 127.0.0.1:{port}" in log
    assert "self-signed" in log


def test_serve_with_a_missing_config_exits_2_and_points_to_init(tmp_path: Path):
    result = run_cli("serve", "-c", "nope.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert "sealpost init" in flat(result.stderr)
    assert "Traceback" not in result.stderr


def test_serve_with_a_bad_value_exits_2_and_names_the_key_path(tmp_path: Path, pki: Pki):
    config = write_config(tmp_path, pki, listeners=[{"name": "mx", "tls": "startls"}])
    result = run_cli("serve", "-c", str(config))
    assert result.returncode == 2
    message = flat(result.stderr)
    assert "smtp.listeners[0].tls" in message
    assert "startls" in message
    assert "Traceback" not in result.stderr


def test_serve_with_an_unreadable_dkim_key_says_which_entry_in_one_line(tmp_path: Path, pki: Pki):
    bad = tmp_path / "broken.key"
    bad.write_text("not a key")
    entry = {"domain": "example.test", "selector": "s1", "key_file": str(bad)}
    config = write_config(tmp_path, pki, tables={"[[dkim.keys]]": [entry]})
    # Wide: rich breaks a path longer than the line inside a word (pytest-xdist's longer
    # temporary paths did), which ``flat`` cannot undo.
    result = run_cli("serve", "-c", str(config), env={"COLUMNS": "400"})
    assert result.returncode == 1
    message = flat(result.stderr)
    assert str(bad) in message and "[[dkim.keys]]" in message
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_with_a_non_validating_dnssec_resolver_refuses_in_one_message(
    tmp_path: Path, pki: Pki, dns_server, workers: int
):
    """Issue 14: ``[dns] dnssec = true`` with a resolver that sets no AD bit (the dnslib
    server) refuses to start with one error naming the probe and what to do, before any
    worker starts (``startup.prepare``) or in the only process."""
    dns_server.add("signed.probe.test", "A", "127.0.0.1")
    dns_server.servfail.add("bogus.probe.test")
    dns = {
        "nameservers": [dns_server.nameserver],
        "timeout": 1,
        "dnssec": True,
        "dnssec_probe_secure": "signed.probe.test A",
        "dnssec_probe_bogus": "bogus.probe.test A",
    }
    config = write_config(
        tmp_path, pki, server={"workers": workers}, tables={"dns": dns, "delivery": {}}
    )
    result = run_cli("serve", "-c", str(config))
    assert result.returncode == 1
    message = flat(result.stderr)
    assert "error: [dns] dnssec = true, but" in message
    assert "signed.probe.test A without the AD bit" in message and "unbound" in message
    assert "Traceback" not in result.stderr


def test_a_toml_syntax_error_names_the_file_once(tmp_path: Path):
    config = tmp_path / "sealpost.toml"
    config.write_text("[server\n")
    result = run_cli("serve", "-c", str(config), env={"COLUMNS": "400"})  # the path unbroken
    assert result.returncode == 2
    assert flat(result.stderr).count(str(config)) == 1, result.stderr


def test_serve_on_a_busy_port_exits_non_zero_and_says_what_to_change(tmp_path: Path, pki: Pki):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        listener = {"name": "mx", "tls": "starttls", "address": f"127.0.0.1:{port}"}
        config = write_config(tmp_path, pki, listeners=[listener])
        result = run_cli("serve", "-c", str(config))
    assert result.returncode not in (0, None)
    message = flat(result.stderr)
    assert "cannot listen" in message
    assert "[[smtp.listeners]]" in message  # literal text, not swallowed as rich markup
    assert "Traceback" not in result.stderr


# --- keys ----------------------------------------------------------------------------------


def _every_file_bytes(directory: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in directory.rglob("*") if path.is_file()}


def test_keys_create_list_revoke_and_the_key_is_never_stored(tmp_path: Path, config: Path):
    created = run_cli(
        "keys",
        "create",
        "--label",
        "laptop",
        "--domain",
        "Example.TEST",
        "--json",
        "-c",
        str(config),
    )
    assert created.returncode == 0, created.stderr
    made = json.loads(created.stdout)
    key, key_id = made["key"], made["id"]
    assert made["label"] == "laptop"
    assert made["sender_domains"] == ["example.test"]
    assert re.fullmatch(r"[0-9a-f]{40}", key) and key.startswith(key_id)

    listed = run_cli("keys", "list", "--json", "-c", str(config))
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["label"], r["revoked_at"]) for r in rows] == [(key_id, "laptop", None)]
    assert rows[0]["sender_domains"] == ["example.test"]
    assert key not in listed.stdout
    human = run_cli("keys", "list", "-c", str(config))
    assert human.returncode == 0, human.stderr
    assert key_id in human.stdout and key not in human.stdout

    revoked = run_cli("keys", "revoke", key_id, "-c", str(config))
    assert revoked.returncode == 0, revoked.stderr
    rows = json.loads(run_cli("keys", "list", "--json", "-c", str(config)).stdout)
    assert len(rows) == 1 and rows[0]["id"] == key_id and rows[0]["revoked_at"] is not None

    unknown = run_cli("keys", "revoke", "00000000", "-c", str(config))
    assert unknown.returncode != 0
    assert "keys list" in flat(unknown.stderr)
    again = run_cli("keys", "revoke", key_id, "-c", str(config))
    assert again.returncode != 0

    files = _every_file_bytes(tmp_path / "var")
    assert files, "the store should have written its files under var/"
    secret_forms = [key.encode(), key.upper().encode(), bytes.fromhex(key)]
    secret_forms.append(base64.b64encode(f"\0SMTP_Injection\0{key}".encode()))
    for path, data in files.items():
        for form in secret_forms:
            assert form not in data, f"{path} holds the API key"


GRANT_NAMES = [
    "smtp/inject",
    "transmissions/modify",
    "transmissions/view",
    "templates/modify",
    "templates/view",
    "message_events/view",
    "webhooks/modify",
    "webhooks/view",
    "sending_domains/modify",
    "sending_domains/view",
    "suppression_lists/manage",
    "suppression_lists/view",
    "metrics/view",
    "tls_check/view",
    "queue/manage",
    "tls_reports/modify",
    "tls_reports/view",
    "queue/view",
    "console/access",
    "api_keys/manage",
]


def test_keys_create_sets_grants_and_list_shows_them(config: Path):
    """Issue 10 item 2: ``--grant`` (repeatable) sets a key's grants; without it the key gets
    every grant and the output says so; an unknown name fails listing the valid ones."""
    everything = run_cli("keys", "create", "--label", "all", "-c", str(config))
    assert everything.returncode == 0, everything.stderr
    said = flat(everything.stdout)
    assert "No --grant given, so the key has every grant:" in said
    assert all(name in said for name in GRANT_NAMES)

    as_json = run_cli("keys", "create", "--label", "all2", "--json", "-c", str(config))
    assert json.loads(as_json.stdout)["grants"] == GRANT_NAMES

    some = run_cli(
        "keys", "create", "--label", "ro", "--grant", "webhooks/view",
        "--grant", "templates/view", "--json", "-c", str(config),
    )  # fmt: skip
    assert some.returncode == 0, some.stderr
    made = json.loads(some.stdout)
    assert made["grants"] == ["templates/view", "webhooks/view"]
    human = run_cli("keys", "create", "--grant", "tls_check/view", "-c", str(config))
    assert "Grants: tls_check/view" in flat(human.stdout)
    assert "every grant" not in human.stdout and "SMTP_Injection" not in human.stdout

    wrong = run_cli("keys", "create", "--grant", "admin/everything", "-c", str(config))
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    message = flat(wrong.stderr)
    assert "unknown grant 'admin/everything'" in message
    assert all(name in message for name in GRANT_NAMES)

    rows = json.loads(run_cli("keys", "list", "--json", "-c", str(config)).stdout)
    assert [(r["label"], r["grants"]) for r in rows] == [
        ("all", GRANT_NAMES),
        ("all2", GRANT_NAMES),
        ("ro", ["templates/view", "webhooks/view"]),
        ("default", ["tls_check/view"]),
    ]
    table = run_cli("keys", "list", "-c", str(config), env={"COLUMNS": "120"})
    line = next(row for row in table.stdout.splitlines() if made["id"] in row)
    assert "templates/view" in line and "grants" in table.stdout
    assert any(made["id"] not in row and " all " in row for row in table.stdout.splitlines())


def test_keys_create_help_names_the_grant_option_without_type_placeholders():
    shown = run_cli("keys", "create", "--help", env={"COLUMNS": "120"})
    assert shown.returncode == 0, shown.stderr
    line = next(row for row in shown.stdout.splitlines() if "--grant" in row)
    assert "GRANT" in line and "<" not in line and "list[" not in shown.stdout
    assert "keys grants" in flat(shown.stdout)
    listed = run_cli("keys", "grants", "--json")
    assert [g["name"] for g in json.loads(listed.stdout)] == GRANT_NAMES


def test_keys_create_while_the_server_runs_leaves_no_key_in_the_wal(
    tmp_path: Path, running: ServerProcess, config: Path
):
    created = run_cli("keys", "create", "--json", "-c", str(config))
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    files = _every_file_bytes(tmp_path / "var")
    assert any(path.name.endswith("-wal") for path in files), "the server holds the DB open"
    for path, data in files.items():
        assert key.encode() not in data and bytes.fromhex(key) not in data, path


# --- queue ---------------------------------------------------------------------------------


BODY = b"Subject: cli test\r\nFrom: a@sender.test\r\n\r\nhello from the cli test\r\n"


def _send_over_starttls(port: int, pki: Pki) -> str:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("client.sender.test")
        client.starttls(context=pki.client_context())
        client.ehlo("client.sender.test")
        client.mail("a@sender.test")
        client.rcpt("u1@example.test")
        client.rcpt("u2@example.test")
        code, text = client.data(BODY)
    assert code == 250, text
    return text.decode().rsplit(" ", 1)[-1]


@dataclass(frozen=True)
class Queued:
    config: Path
    message_id: str


@pytest.fixture(scope="module")
def queued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Queued]:
    """A server process that accepted one message over STARTTLS (shared by the queue tests)."""
    directory = tmp_path_factory.mktemp("queue")
    pki = make_pki(directory / "pki")
    config = write_config(directory, pki, listeners=[{"name": "mx", "tls": "starttls"}])
    server = ServerProcess(config).start()
    try:
        yield Queued(config, _send_over_starttls(server.ports["mx"], pki))
    finally:
        server.kill()


def test_queue_list_and_show_json_report_a_message_sent_to_the_server_process(queued: Queued):
    config, message_id = str(queued.config), queued.message_id
    listed = run_cli("queue", "list", "--json", "-c", config)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["id"] for r in rows] == [message_id]
    assert rows[0]["mail_from"] == "a@sender.test"
    assert rows[0]["recipient_count"] == 2
    assert rows[0]["tls_version"] == "TLSv1.3"

    shown = run_cli("queue", "show", message_id, "--json", "-c", config)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["id"] == message_id
    assert data["envelope"]["mail_from"] == "a@sender.test"
    assert data["envelope"]["recipients"] == ["u1@example.test", "u2@example.test"]
    assert [(r["address"], r["status"]) for r in data["recipients"]] == [
        ("u1@example.test", "queued"),
        ("u2@example.test", "queued"),
    ]
    session = data["session"]
    assert session["listener"] == "mx"
    assert session["client_ip"] == "127.0.0.1"
    assert session["helo"] == "client.sender.test"
    assert session["tls"]["version"] == "TLSv1.3"
    assert session["tls"]["cipher"]
    headers = data["headers"]
    assert headers.startswith("Received: from client.sender.test ([127.0.0.1])")
    assert "using TLSv1.3" in headers
    assert f"with ESMTPS id {message_id}" in headers
    assert "Subject: cli test" in headers


def test_queue_show_of_an_unknown_id_fails_and_points_to_queue_list(queued: Queued):
    for extra in (["--json"], []):
        missing = run_cli("queue", "show", "no-such-id", *extra, "-c", str(queued.config))
        assert missing.returncode != 0
        assert "queue list" in flat(missing.stderr)


def test_queue_human_output_shows_the_id_on_a_wide_terminal(queued: Queued):
    wide = {"COLUMNS": "200"}
    human_list = run_cli("queue", "list", "-c", str(queued.config), env=wide)
    assert human_list.returncode == 0, human_list.stderr
    assert queued.message_id in human_list.stdout
    assert "TLSv1.3" in human_list.stdout
    human_show = run_cli("queue", "show", queued.message_id, "-c", str(queued.config), env=wide)
    assert human_show.returncode == 0, human_show.stderr
    assert queued.message_id in human_show.stdout
    assert "TLSv1.3" in human_show.stdout
    assert "Received: from client.sender.test" in human_show.stdout


def test_queue_list_shows_whole_ids_on_an_80_column_terminal(queued: Queued):
    human_list = run_cli("queue", "list", "-c", str(queued.config), env={"COLUMNS": "80"})
    assert human_list.returncode == 0, human_list.stderr
    assert queued.message_id in human_list.stdout


def test_queue_human_output_prints_sender_text_literally(running: ServerProcess, config: Path):
    with smtplib.SMTP("127.0.0.1", running.ports["mx"], timeout=10) as client:
        client.ehlo("client.sender.test")
        client.mail('"[/]"@sender.test')
        client.rcpt("u@example.test")
        code, text = client.data(b"Subject: [/] [link=https://evil.test]x[/link]\r\n\r\nhi\r\n")
    assert code == 250, text
    message_id = text.decode().rsplit(" ", 1)[-1]
    wide = {"COLUMNS": "200"}
    human_list = run_cli("queue", "list", "-c", str(config), env=wide)
    human_show = run_cli("queue", "show", message_id, "-c", str(config), env=wide)
    assert human_list.returncode == 0, human_list.stderr[-300:]
    assert '"[/]"@sender.test' in human_list.stdout
    assert human_show.returncode == 0, human_show.stderr[-300:]
    assert "Subject: [/] [link=https://evil.test]x[/link]" in human_show.stdout


def test_users_create_list_and_delete_console_users(config: Path):
    def users(*args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "sealpost", "users", *args, "-c", str(config)]
        return subprocess.run(
            command, input=password, capture_output=True, text=True, timeout=CLI_TIMEOUT
        )

    made = users(
        "create", "Ann", "--grant", "console/access", "--grant", "queue/view",
        "--password-stdin", password="correct horse battery\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "created console user ann: queue/view console/access" in flat(made.stdout)
    again = users("create", "ann", "--password-stdin", password="correct horse battery\n")
    assert again.returncode == 1 and "exists already" in again.stderr
    short = users("create", "bob", "--password-stdin", password="too short\n")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    listed = json.loads(users("list", "--json").stdout)
    assert [(u["name"], u["grants"]) for u in listed] == [("ann", ["queue/view", "console/access"])]
    assert "password" not in users("list", "--json").stdout
    assert users("delete", "ann").returncode == 0
    gone = users("delete", "ann")
    assert gone.returncode == 1 and "no console user ann" in gone.stderr
