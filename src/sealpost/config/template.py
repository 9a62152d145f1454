"""The commented ``sealpost.toml`` that ``sealpost init`` writes.

Rendered from the model's field descriptions and defaults (``schema.sections()``), so the
template and ``docs/configuration.md`` never drift from the code. The output always loads with
``load_config`` once the certificate files exist (a test checks it).
"""

from __future__ import annotations

import textwrap
from typing import Any

from sealpost.config.schema import KeyDoc, TableDoc, sections, toml_value

WIDTH = 96

# Listeners written by `sealpost init`: (comment, values); the address host/port are filled in.
_LISTENERS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "Inbound mail from the Internet (MX). STARTTLS offered, never required: senders that "
        "cannot do TLS fall back to plaintext (RFC 3207, RFC 7435).",
        {"name": "mx", "port": 25, "dev_port": 2525, "tls": "starttls"},
    ),
    (
        "Message submission for your own clients (RFC 6409): STARTTLS required before AUTH.",
        {
            "name": "submission",
            "port": 587,
            "dev_port": 5587,
            "tls": "starttls",
            "require_tls": True,
            "auth": True,
        },
    ),
    (
        "Message submission over implicit TLS (RFC 8314), the preferred submission port.",
        {"name": "submissions", "port": 465, "dev_port": 4465, "tls": "implicit", "auth": True},
    ),
)

# Array tables with no default entries are shown as commented-out examples.
_EXAMPLES: dict[str, dict[str, Any]] = {
    "tls.sni": {
        "name": "smtp.other.example",
        "cert_file": "certs/other.pem",
        "key_file": "certs/other.key",
    },
    "dkim.keys": {
        "domain": "example.com",
        "selector": "s2026",
        "key_file": "var/dkim/example.com/s2026.key",
    },
}


# Keys whose usual alternative is shown as a commented line right after them.
_ALTERNATIVES: dict[str, str] = {
    "api.address": '# address = "0.0.0.0:8443"   # serve the API on every interface',
    "metrics.address": '# address = "10.0.0.5:9425"   # only your monitoring network reaches it',
}


def default_local_domains(hostname: str) -> list[str]:
    """``mx.example.com`` -> ``["example.com"]``; a one- or two-label name stays as it is."""
    labels = hostname.rstrip(".").lower().split(".")
    return [".".join(labels[1:])] if len(labels) > 2 else [".".join(labels)]


def render_default_config(hostname: str, dev_ports: bool) -> str:
    """A fully commented ``sealpost.toml``.

    ``dev_ports=True`` (what ``sealpost init`` uses, as a fresh user is not root) listens on
    127.0.0.1 ports 2525/5587/4465; ``False`` listens on 0.0.0.0 ports 25/587/465.
    """
    overrides: dict[str, dict[str, Any]] = {
        "server": {"hostname": hostname, "local_domains": default_local_domains(hostname)},
    }
    if dev_ports:  # a development box: unverified sending domains allowed, the console on
        overrides["api"] = {"allow_unverified_domains": True}
        overrides["console"] = {"enabled": True}
    else:  # a production server reports its TLS sessions (RFC 8460; docs/outbound.md)
        overrides["tlsrpt"] = {"enabled": True}
    host = "127.0.0.1" if dev_ports else "0.0.0.0"
    lines = [
        "# sealpost.toml: the configuration of one Sealpost server.",
        "# Written by `sealpost init`; the reference is docs/configuration.md.",
        "# Relative paths are relative to this file. Unknown keys are errors.",
        "# Keys left out take the default shown here.",
    ]
    if dev_ports:
        lines.append(
            "# Development ports (no root needed); for production listen on 25, 587 and 465."
        )
    for table in sections():
        if table.path == "smtp.listeners":
            for index, (comment, spec) in enumerate(_LISTENERS):
                port = spec["dev_port"] if dev_ports else spec["port"]
                values = {k: v for k, v in spec.items() if k not in ("port", "dev_port")}
                values["address"] = f"{host}:{port}"
                lines.append("")
                if index == 0:
                    lines += _comment(table.description)
                lines += _comment(comment)
                lines += _table(table, values, describe=index == 0)
        elif table.path in _EXAMPLES:
            lines.append("")
            lines += _comment(table.description)
            block = _table(table, _EXAMPLES[table.path], describe=True)
            lines += [line if line.startswith("#") or not line else "# " + line for line in block]
        else:
            lines.append("")
            lines += _comment(table.description)
            lines += _table(table, overrides.get(table.path, {}), describe=True)
    return "\n".join(lines) + "\n"


def _table(table: TableDoc, values: dict[str, Any], describe: bool) -> list[str]:
    lines = [table.header]
    for key in table.keys:
        if key.key in values:
            value = values[key.key]
        elif key.required:
            raise ValueError(f"no value for required key {table.path}.{key.key}")
        else:
            value = key.default
        if describe:
            if len(lines) > 1:
                lines.append("")
            lines += _comment(_key_comment(key))
        if value is None:
            lines.append(f"# {key.key} =   (unset)")
        else:
            lines.append(f"{key.key} = {toml_value(value)}")
        if f"{table.path}.{key.key}" in _ALTERNATIVES:
            lines.append(_ALTERNATIVES[f"{table.path}.{key.key}"])
    return lines


def _key_comment(key: KeyDoc) -> str:
    return f"{key.description} ({key.type_name}{', required' if key.required else ''})"


def _comment(text: str) -> list[str]:
    return ["# " + line for line in textwrap.wrap(text, WIDTH - 2)]
