"""Reading ``sealpost.toml``: TOML parsing, validation, path resolution, file checks.

``load_config`` is the only way the CLI turns a file into a ``Config``. Every failure is a
``ConfigError`` naming the key path (or, for TOML syntax, the line and column), so
``sealpost serve`` can exit non-zero with a message a person can act on.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sealpost.config.errors import ConfigError, ConfigIssue, issues_from_validation
from sealpost.config.model import Config

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "TomlSyntaxError",
    "check_files",
    "config_from_dict",
    "load_config",
    "parse_config",
]

_TOML_POSITION = re.compile(r"^(?P<msg>.*?) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_INIT_HINT = "run `sealpost init` to create a development certificate"


class TomlSyntaxError(ConfigError):
    """The file is not valid TOML; ``line`` and ``column`` are 1-based when known."""

    def __init__(self, reason: str, line: int | None, column: int | None, source: Path) -> None:
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__([ConfigIssue("", f"{source}: TOML syntax error: {where}{reason}")], source)
        self.line = line
        self.column = column


def load_config(path: Path) -> Config:
    """Parse, validate and check ``path``; relative paths resolve against its directory."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError.single(
            "", f"{path}: config file not found (run `sealpost init` to write one)", path
        ) from None
    except OSError as exc:
        raise ConfigError.single("", f"{path}: cannot read: {exc.strerror}", path) from None
    return parse_config(raw, path)


def parse_config(raw: bytes | str, path: Path) -> Config:
    """Validate TOML text as if it were the file ``path`` (which need not exist)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise TomlSyntaxError(f"not UTF-8 at byte {exc.start}", None, None, path) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_POSITION.match(str(exc))
        if match:
            raise TomlSyntaxError(
                match["msg"], int(match["line"]), int(match["col"]), path
            ) from None
        raise TomlSyntaxError(str(exc), None, None, path) from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        reason = "arrays or inline tables nested too deeply"
        raise TomlSyntaxError(reason, None, None, path) from None
    return config_from_dict(data, path.resolve().parent, source=path)


def config_from_dict(data: dict[str, Any], base_dir: Path, source: Path | None = None) -> Config:
    """Validate an already parsed table; relative paths resolve against ``base_dir``."""
    try:
        config = Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(issues_from_validation(exc, Config), source) from None
    problems = check_files(config)
    if problems:
        raise ConfigError(problems, source)
    config._source = source
    return config


def check_files(config: Config) -> list[ConfigIssue]:
    """Certificate files that a TLS listener needs but that do not exist (or are not files)."""
    if not config.needs_tls:
        return []
    wanted = [
        ("tls.cert_file", config.tls.cert_file),
        ("tls.key_file", config.tls.key_file),
    ]
    for index, entry in enumerate(config.tls.sni):
        wanted.append((f"tls.sni[{index}].cert_file", entry.cert_file))
        wanted.append((f"tls.sni[{index}].key_file", entry.key_file))
    issues = []
    for key, file in wanted:
        if not file.exists():
            issues.append(ConfigIssue(key, f"file not found: {file} ({_INIT_HINT})"))
        elif not file.is_file():
            issues.append(ConfigIssue(key, f"not a regular file: {file}"))
    return issues
