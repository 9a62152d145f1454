"""Config loading: every error names the key path; valid files load with paths resolved."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpost.config import (
    Config,
    ConfigError,
    TlsMode,
    TomlSyntaxError,
    load_config,
    parse_address,
    parse_config,
    render_default_config,
)
from sealpost.config.schema import sections
from sealpost.config.template import default_local_domains

BASE = '[server]\nhostname = "mx.example.test"\n'


def listener(name: str = "mx", address: str = "127.0.0.1:2525", **extra: object) -> str:
    lines = ["[[smtp.listeners]]", f'name = "{name}"', f'address = "{address}"']
    for key, value in extra.items():
        rendered = f'"{value}"' if isinstance(value, str) else str(value).lower()
        lines.append(f"{key} = {rendered}")
    return "\n".join(lines) + "\n"


def plain(name: str = "mx", address: str = "127.0.0.1:2525", **extra: object) -> str:
    return listener(name, address, tls="none", **extra)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "server.pem").write_text("cert")
    (tmp_path / "certs" / "server.key").write_text("key")
    return tmp_path


def load_text(directory: Path, text: str) -> Config:
    path = directory / "sealpost.toml"
    path.write_text(text)
    return load_config(path)


def error_of(directory: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_text(directory, text)
    return info.value


ERRORS = [
    # (id, toml text, expected path, fragment of the reason)
    ("missing hostname", "[server]\n", "server.hostname", "missing"),
    ("missing server", "[log]\n", "server", "missing"),
    (
        "missing listener address",
        BASE + '[[smtp.listeners]]\nname = "mx"\n',
        "smtp.listeners[0].address",
        "missing",
    ),
    (
        "wrong type int",
        BASE + 'max_recipients = "1000"\n',
        "server.max_recipients",
        'must be an integer (got "1000")',
    ),
    (
        "wrong type bool",
        BASE + plain(require_tls=1).replace("require_tls = 1", "auth = 1"),
        "smtp.listeners[0].auth",
        "must be true or false (got 1)",
    ),
    ("wrong type float", BASE + 'idle_timeout = "5m"\n', "server.idle_timeout", "must be a number"),
    (
        "wrong type list",
        BASE + 'local_domains = "example.test"\n',
        "server.local_domains",
        "must be an array",
    ),
    ("table expected", 'server = "mx"\n', "server", "must be a table"),
    (
        "not positive",
        BASE + "max_connections = 0\n",
        "server.max_connections",
        "must be > 0 (got 0)",
    ),
    (
        "bad enum",
        BASE + plain() + listener("sub", "127.0.0.1:5587", tls="startls"),
        "smtp.listeners[1].tls",
        'must be one of starttls, implicit, none (got "startls")',
    ),
    (
        "bad log level",
        BASE + '[log]\nlevel = "verbose"\n',
        "log.level",
        'must be one of debug, info, warning, error (got "verbose")',
    ),
    (
        "bad address no port",
        BASE + plain(address="127.0.0.1"),
        "smtp.listeners[0].address",
        "host:port",
    ),
    (
        "bad address port range",
        BASE + plain(address="127.0.0.1:70000"),
        "smtp.listeners[0].address",
        "port must be 0-65535",
    ),
    (
        "bad address port text",
        BASE + plain(address="127.0.0.1:smtp"),
        "smtp.listeners[0].address",
        "port must be 0-65535",
    ),
    (
        "bad address v6 brackets",
        BASE + plain(address="::1:25"),
        "smtp.listeners[0].address",
        "needs brackets",
    ),
    (
        "bad address host",
        BASE + plain(address="not a host:25"),
        "smtp.listeners[0].address",
        "not an IP address or host name",
    ),
    (
        "duplicate listener name",
        BASE + plain() + plain(address="127.0.0.1:2526"),
        "smtp.listeners[1].name",
        'duplicate listener name "mx" (also smtp.listeners[0])',
    ),
    (
        "duplicate address",
        BASE + plain() + plain("other"),
        "smtp.listeners[1].address",
        "already used by smtp.listeners[0]",
    ),
    (
        "auth with tls none",
        BASE + plain(auth=True),
        "smtp.listeners[0].auth",
        "AUTH is never offered in plaintext",
    ),
    (
        "require_tls with tls none",
        BASE + plain(require_tls=True),
        "smtp.listeners[0].require_tls",
        'require_tls needs tls = "starttls"',
    ),
    (
        "unknown key",
        BASE + "hostnme = 1\n",
        "server.hostnme",
        'unknown key (did you mean "hostname"?)',
    ),
    ("unknown table", BASE + "[smtpd]\n", "smtpd", "unknown key"),
    (
        "unknown listener key",
        BASE + plain(starttls=True),
        "smtp.listeners[0].starttls",
        "unknown key",
    ),
    (
        "bad hostname",
        '[server]\nhostname = "mx example"\n',
        "server.hostname",
        'must be a domain name (got "mx example")',
    ),
    (
        "bad local domain",
        BASE + 'local_domains = ["ok.test", "-bad"]\n',
        "server.local_domains[1]",
        "must be a domain name",
    ),
    ("bad store url", BASE + '[store]\nurl = "mysql://x"\n', "store.url", "must start with"),
    (
        "duplicate sni",
        BASE + '[[tls.sni]]\nname = "a.test"\ncert_file = "c"\nkey_file = "k"\n'
        '[[tls.sni]]\nname = "A.test"\ncert_file = "c"\nkey_file = "k"\n',
        "tls.sni[1].name",
        'duplicate SNI name "a.test"',
    ),
    ("bad listener name", BASE + plain(name="m x"), "smtp.listeners[0].name", "may only contain"),
    ("bad node id", BASE + '[cluster]\nnode_id = "node 1"\n', "cluster.node_id", "must be 1 to"),
    ("empty node id", BASE + '[cluster]\nnode_id = ""\n', "cluster.node_id", "must be 1 to"),
    ("long node id", BASE + f'[cluster]\nnode_id = "{"n" * 64}"\n', "cluster.node_id", "63"),
]


@pytest.mark.parametrize(
    ("text", "path", "reason"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_error_names_key_path(config_dir: Path, text: str, path: str, reason: str) -> None:
    error = error_of(config_dir, text)
    paths = [issue.path for issue in error.issues]
    assert path in paths, str(error)
    issue = error.issues[paths.index(path)]
    assert reason in issue.reason
    assert f"{path}: " in str(error)


def test_exact_message_for_bad_enum(config_dir: Path) -> None:
    error = error_of(config_dir, BASE + plain() + listener("sub", "127.0.0.1:5587", tls="startls"))
    assert str(error) == (
        'smtp.listeners[1].tls: must be one of starttls, implicit, none (got "startls")'
    )


def test_every_problem_reported_at_once(config_dir: Path) -> None:
    error = error_of(config_dir, '[server]\nmax_recipients = "x"\n[log]\nformat = "xml"\n')
    assert {i.path for i in error.issues} == {
        "server.hostname",
        "server.max_recipients",
        "log.format",
    }
    assert len(str(error).splitlines()) == 3


def test_toml_syntax_error_has_line_and_column(config_dir: Path) -> None:
    with pytest.raises(TomlSyntaxError) as info:
        load_text(config_dir, BASE + "max_recipients = = 3\n")
    assert (info.value.line, info.value.column) == (3, 18)
    assert "line 3, column 18" in str(info.value)
    assert "sealpost.toml" in str(info.value)


def test_duplicate_toml_key_is_a_syntax_error(config_dir: Path) -> None:
    with pytest.raises(TomlSyntaxError):
        load_text(config_dir, BASE + 'hostname = "again.test"\n')


@pytest.mark.parametrize("nested", ["[" * 500 + "]" * 500, "{b=" * 500 + "1" + "}" * 500])
def test_deep_nesting_is_a_syntax_error_not_a_crash(config_dir: Path, nested: str) -> None:
    # found by fuzz/config_loader.py: tomllib raised RecursionError through parse_config
    with pytest.raises(TomlSyntaxError, match="nested too deeply"):
        load_text(config_dir, BASE + f"a = {nested}\n")


def test_values_and_keys_from_the_file_cannot_split_or_colour_the_message(tmp_path: Path) -> None:
    # found by fuzz/config_loader.py: a multi-line string was quoted verbatim, so one issue
    # printed as several lines (and an ESC reached the operator's terminal)
    text = (
        BASE.replace('"mx.example.test"', '"mx\\u001b[31m.test"')
        + '[log]\nlevel = """\ninfo\r\ndebug"""\n"a\\u2028b" = 1\n'
    )
    error = error_of(tmp_path, text)
    assert sorted(str(issue) for issue in error.issues) == [
        "log.a\\u2028b: unknown key",
        'log.level: must be one of debug, info, warning, error (got "info\\ndebug")',
        'server.hostname: must be a domain name (got "mx\\u001b[31m.test")',
    ]
    assert len(str(error).splitlines()) == 3


def test_missing_file_suggests_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sealpost init"):
        load_config(tmp_path / "nope.toml")


def test_tls_listener_needs_existing_certificate_files(tmp_path: Path) -> None:
    error = error_of(tmp_path, BASE + listener())
    assert [i.path for i in error.issues] == ["tls.cert_file", "tls.key_file"]
    assert "sealpost init" in error.issues[0].reason
    assert str(tmp_path / "certs" / "server.pem") in error.issues[0].reason


def test_sni_files_checked_too(config_dir: Path) -> None:
    text = BASE + '[[tls.sni]]\nname = "*.other.test"\ncert_file = "o.pem"\nkey_file = "o.key"\n'
    error = error_of(config_dir, text + listener(tls="implicit"))
    assert [i.path for i in error.issues] == ["tls.sni[0].cert_file", "tls.sni[0].key_file"]


def test_plaintext_only_server_needs_no_certificates(tmp_path: Path) -> None:
    config = load_text(tmp_path, BASE + plain())
    assert not config.needs_tls


def test_valid_config_resolves_paths(config_dir: Path) -> None:
    text = (
        BASE
        + 'data_dir = "state"\nidle_timeout = 0.5\n'
        + '[tls]\ncert_file = "certs/server.pem"\nkey_file = "/abs/server.key"\n'
        + '[[tls.sni]]\nname = "*.Other.test"\ncert_file = "o.pem"\nkey_file = "o.key"\n'
        + listener("mx", "[::1]:25", tls="starttls")
        + listener("subs", "127.0.0.1:465", tls="implicit", auth=True)
        + '[store]\nurl = "sqlite:///var/q.db"\n'
    )
    path = config_dir / "sealpost.toml"
    path.write_text(text)
    for name in ("o.pem", "o.key"):
        (config_dir / name).write_text("x")
    config = parse_config(text.replace("/abs/server.key", "certs/server.key"), path)
    assert config.server.data_dir == config_dir / "state"
    assert config.server.idle_timeout == 0.5
    assert config.tls.cert_file == config_dir / "certs" / "server.pem"
    assert config.tls.sni[0].name == "*.other.test"
    assert config.tls.sni[0].cert_file == config_dir / "o.pem"
    assert config.store.url == f"sqlite:///{config_dir}/var/q.db"
    assert config.store.sqlite_path == config_dir / "var" / "q.db"
    mx, subs = config.smtp.listeners
    assert (mx.host, mx.port, mx.tls) == ("::1", 25, TlsMode.STARTTLS)
    assert (subs.host, subs.port, subs.tls, subs.auth) == ("127.0.0.1", 465, TlsMode.IMPLICIT, True)
    assert config.source == path


def test_defaults_resolve_against_config_dir(tmp_path: Path) -> None:
    config = load_text(tmp_path, BASE)
    assert config.tls.cert_file == tmp_path / "certs" / "server.pem"
    assert config.server.data_dir == tmp_path / "var"
    assert config.store.sqlite_path == tmp_path / "var" / "queue.db"
    assert config.server.max_connections_per_ip == 50
    assert config.server.auth_failure_delay == 1.0


def test_node_id_is_the_host_name_unless_set(tmp_path: Path) -> None:
    """Issue 13: a node's leases carry its node id; unset, the host name (stable across
    restarts, so a restarted node gives back its own old leases)."""
    assert load_text(tmp_path, BASE).cluster.node == socket.gethostname()
    named = load_text(tmp_path, BASE + '[cluster]\nnode_id = "mx-2.eu:a_b"\n')
    assert named.cluster.node == "mx-2.eu:a_b"


def test_api_listens_on_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    """Issue 10 item 6: no [api] section must not mean every interface."""
    assert load_text(tmp_path, BASE).api.address == "127.0.0.1:8443"


@pytest.mark.parametrize("dev_ports", [True, False])
def test_template_api_is_loopback_with_the_public_address_as_a_comment(
    config_dir: Path, dev_ports: bool
) -> None:
    text = render_default_config("mx.example.test", dev_ports=dev_ports)
    assert load_text(config_dir, text).api.address == "127.0.0.1:8443"
    api = text[text.index("[api]") :].split("\n[")[0]
    assert '\n# address = "0.0.0.0:8443"' in api


def test_metrics_listen_on_loopback_unless_told_otherwise(config_dir: Path) -> None:
    """Issue 15: /metrics has no authentication, so no [metrics] section means loopback;
    the template shows another address only as a comment."""
    assert load_text(config_dir, BASE).metrics.address == "127.0.0.1:9425"
    text = render_default_config("mx.example.test", dev_ports=False)
    assert load_text(config_dir, text).metrics.address == "127.0.0.1:9425"
    metrics = text[text.index("[metrics]") :].split("\n[")[0]
    assert '\n# address = "10.0.0.5:9425"' in metrics


def test_effective_summary_is_json_and_hides_passwords(tmp_path: Path) -> None:
    import json

    config = load_text(tmp_path, BASE + '[store]\nurl = "postgresql://app:s3cret@db/sp"\n')
    summary = config.effective_summary()
    text = json.dumps(summary)
    assert "s3cret" not in text
    assert summary["store"]["url"] == "postgresql://app:***@db/sp"
    assert summary["server"]["hostname"] == "mx.example.test"
    assert summary["config_file"] == str(tmp_path / "sealpost.toml")


def test_config_is_immutable(tmp_path: Path) -> None:
    config = load_text(tmp_path, BASE)
    with pytest.raises(ValueError):
        config.server.hostname = "other.test"  # type: ignore[misc]


@pytest.mark.parametrize("dev_ports", [True, False])
def test_template_round_trip(config_dir: Path, dev_ports: bool) -> None:
    text = render_default_config("mx.example.test", dev_ports=dev_ports)
    config = load_text(config_dir, text)
    assert config.server.hostname == "mx.example.test"
    assert config.server.local_domains == ["example.test"]
    host = "127.0.0.1" if dev_ports else "0.0.0.0"
    ports = (2525, 5587, 4465) if dev_ports else (25, 587, 465)
    got = [(x.name, x.host, x.port, x.tls, x.require_tls, x.auth) for x in config.smtp.listeners]
    assert got == [
        ("mx", host, ports[0], TlsMode.STARTTLS, False, False),
        ("submission", host, ports[1], TlsMode.STARTTLS, True, True),
        ("submissions", host, ports[2], TlsMode.IMPLICIT, False, True),
    ]
    # Everything else is the model default: the template and the model agree.
    defaults = Config.model_validate(
        {"server": {"hostname": "mx.example.test"}}, context={"base_dir": config_dir}
    )
    assert config.server.model_dump(exclude={"local_domains"}) == defaults.server.model_dump(
        exclude={"local_domains"}
    )
    assert config.tls == defaults.tls
    assert config.store == defaults.store
    assert config.log == defaults.log


def test_template_documents_every_key() -> None:
    text = render_default_config("mx.example.test", dev_ports=True)
    assert tomllib.loads(text)["server"]["hostname"] == "mx.example.test"
    for table in sections():
        for key in table.keys:
            assert f"\n{key.key} = " in text or f"\n# {key.key} = " in text, key.key
            assert " ".join(key.description.split()[:4]) in " ".join(text.split()), key.key
    assert "# [[tls.sni]]" in text  # commented-out example
    assert all(len(line) <= 100 for line in text.splitlines())


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        ("mx.example.test", ["example.test"]),
        ("example.test", ["example.test"]),
        ("localhost", ["localhost"]),
        ("MX.A.B.Test.", ["a.b.test"]),
    ],
)
def test_default_local_domains(hostname: str, expected: list[str]) -> None:
    assert default_local_domains(hostname) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:25", ("127.0.0.1", 25)),
        ("[::1]:587", ("::1", 587)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),
        ("localhost:2525", ("localhost", 2525)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", ":25", "127.0.0.1", "[::1:25", "[nope]:25", "a:b", "::1:25"])
def test_parse_address_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)


@given(st.ip_addresses(), st.integers(0, 65535))
def test_parse_address_round_trip(ip: object, port: int) -> None:
    host = str(ip)
    text = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    assert parse_address(text) == (host, port)


@given(st.text(max_size=30))
def test_parse_address_never_crashes(text: str) -> None:
    try:
        host, port = parse_address(text)
    except ValueError:
        return
    assert 0 <= port <= 65535 and host


@pytest.mark.parametrize("name", ["api", "dsn", "tlsrpt"])
def test_listener_names_of_our_own_mail_are_reserved(tmp_path: Path, name: str) -> None:
    """Mail under these names is signed as ours (submission/door.py) and TLS reports are
    never counted: an SMTP listener may not take one."""
    error = error_of(tmp_path, BASE + plain(name))
    assert "smtp.listeners[0].name" in str(error)
    assert "Sealpost's own mail" in str(error)


def test_port_zero_listeners_are_not_duplicates(tmp_path: Path) -> None:
    config = load_text(tmp_path, BASE + plain("a", "127.0.0.1:0") + plain("b", "127.0.0.1:0"))
    assert [x.port for x in config.smtp.listeners] == [0, 0]
    assert config.base_dir == tmp_path.resolve()


# --- outbound tables ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "path", "reason"),
    [
        ({"delivery": {"default_tls": "secure"}}, "delivery.default_tls", "must be one of"),
        ({"delivery": {"tls_policy": {"bank.test": "strict"}}}, "delivery.tls_policy", "none"),
        ({"delivery": {"routes": {"example.test": "host:99999"}}}, "delivery.routes", "port"),
        ({"delivery": {"smarthost": "::1:25"}}, "delivery.smarthost", "brackets"),
        (
            {"delivery": {"minimal_backoff": 600, "maximal_backoff": 60}},
            "delivery.maximal_backoff",
            "at least",
        ),
        ({"dns": {"nameservers": ["not a host:53"]}}, "dns.nameservers[0]", "host name"),
        ({"tlsrpt": {"sender": "not an address"}}, "tlsrpt.sender", "tlsrpt@example.com"),
        ({"tlsrpt": {"allowed_private_targets": ["10.0.0.0/33"]}}, "tlsrpt", "10.0.0.0/33"),
        (
            {"dkim": {"keys": [{"domain": "example.test", "selector": "s1"}]}},
            "dkim.keys[0].key_file",
            "missing",
        ),
    ],
)
def test_outbound_errors_name_the_key_path(table, path, reason, tmp_path):
    from sealpost.config.loader import ConfigError, config_from_dict

    with pytest.raises(ConfigError) as caught:
        config_from_dict({"server": {"hostname": "mx.example.test"}, **table}, tmp_path)
    text = str(caught.value)
    assert path in text and reason in text, text


def test_outbound_defaults_and_values(tmp_path):
    from sealpost.config.loader import config_from_dict
    from sealpost.outbound import default_level
    from sealpost.policy.levels import TlsLevel

    cfg = config_from_dict(
        {
            "server": {"hostname": "mx.example.test"},
            "dns": {"nameservers": ["127.0.0.1:5353", "[::1]:53", "127.0.0.1"]},
            "delivery": {
                "routes": {"example.test": "[127.0.0.1]:2526"},
                "ca_file": "ca.pem",
                "tls_policy": {".bank.test": "verify"},
                "smarthost": "relay.test:587",
            },
            "dkim": {
                "keys": [
                    {"domain": "example.test", "selector": "s1", "key_file": "var/dkim/s1.key"}
                ]
            },
        },
        tmp_path,
    )
    assert cfg.delivery.default_tls is None and cfg.mta_sts.enabled
    assert default_level(cfg) is TlsLevel.MAY and not cfg.dns.dnssec
    assert cfg.delivery.ca_file == tmp_path / "ca.pem"
    assert cfg.dkim.keys[0].key_file == tmp_path / "var/dkim/s1.key"
    assert cfg.delivery.max_lifetime == 5 * 86400
