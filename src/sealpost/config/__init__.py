"""Typed configuration: the model, its TOML loader, the ``sealpost init`` template and the
reference documentation, all from one set of field descriptions."""

from __future__ import annotations

from sealpost.config.errors import ConfigError, ConfigIssue
from sealpost.config.loader import TomlSyntaxError, load_config, parse_config
from sealpost.config.model import Config, ListenerConfig
from sealpost.config.template import render_default_config
from sealpost.config.values import LogFormat, LogLevel, TlsMode, parse_address

__all__ = [
    "Config",
    "ConfigError",
    "ConfigIssue",
    "ListenerConfig",
    "LogFormat",
    "LogLevel",
    "TlsMode",
    "TomlSyntaxError",
    "load_config",
    "parse_address",
    "parse_config",
    "render_default_config",
]
