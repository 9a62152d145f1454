"""Configuration errors that name the key path and the reason.

Every problem becomes a ``ConfigIssue("smtp.listeners[1].tls", 'must be one of starttls,
implicit, none (got "startls")')``; ``ConfigError`` carries all of them (pydantic reports every
bad key at once) and prints one ``path: reason`` line per issue. Array indexes count from 0.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

_TYPE_NAMES = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "an array",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dict_type": "a table",
    "path_type": "a path string",
}

# What would break the one-line-per-issue message: C0/C1 controls and the other characters
# str.splitlines() breaks at (VT, FF, FS, GS, RS, NEL, LS, PS).
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem: the dotted key path (empty for the whole file) and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


class ConfigError(Exception):
    """The configuration cannot be used; ``str()`` is one ``path: reason`` line per issue."""

    def __init__(self, issues: Sequence[ConfigIssue], source: Path | None = None) -> None:
        self.issues = tuple(issues)
        self.source = source
        super().__init__("\n".join(str(i) for i in self.issues))

    @classmethod
    def single(cls, path: str, reason: str, source: Path | None = None) -> ConfigError:
        return cls([ConfigIssue(path, reason)], source)


def format_loc(loc: Sequence[int | str]) -> str:
    """``("smtp", "listeners", 1, "tls")`` -> ``smtp.listeners[1].tls``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{_escape(part)}" if out else _escape(str(part))
    return out


def _escape(text: str) -> str:
    """``text`` on one printable line, with TOML's escapes for what would break it."""
    return _UNPRINTABLE.sub(lambda m: _ESCAPES.get(m[0], f"\\u{ord(m[0]):04x}"), text)


def show_value(value: Any) -> str:
    """A TOML-ish rendering of a bad value for messages."""
    if isinstance(value, str):
        return '"' + _escape(value.replace("\\", "\\\\").replace('"', '\\"')) + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


def issues_from_validation(
    exc: ValidationError, model: type[BaseModel] | None = None
) -> list[ConfigIssue]:
    """Turn pydantic's errors into key-path issues (``model`` enables did-you-mean hints)."""
    issues = []
    for error in exc.errors(include_url=False):
        loc = [p for p in error["loc"] if isinstance(p, int | str)]
        path = format_loc(loc)
        ctx = error.get("ctx") or {}
        subpath = ctx.get("subpath")
        if subpath:
            path = f"{path}.{subpath}" if path and not subpath.startswith("[") else path + subpath
        issues.append(ConfigIssue(path, _reason(error, model, loc)))
    return issues


def _reason(error: ErrorDetails, model: type[BaseModel] | None, loc: list[int | str]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "sealpost":
        return str(ctx["reason"])
    if kind == "missing":
        return "missing"
    if kind == "extra_forbidden":
        hint = _suggest(model, loc)
        return "unknown key" + (f' (did you mean "{hint}"?)' if hint else "")
    if kind in _TYPE_NAMES:
        return f"must be {_TYPE_NAMES[kind]} (got {show_value(value)})"
    if kind in _BOUNDS:
        key, op = _BOUNDS[kind]
        bound = ctx.get(key)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {op} {bound} (got {show_value(value)})"
    if kind == "string_pattern_mismatch":
        return f"may only contain letters, digits, '.', '_' and '-' (got {show_value(value)})"
    if kind == "string_too_short":
        return "must not be empty"
    return f"{error['msg']} (got {show_value(value)})"


def _suggest(model: type[BaseModel] | None, loc: list[int | str]) -> str | None:
    """The closest known key to an unknown one, by walking ``model`` along ``loc``."""
    if model is None or not loc or not isinstance(loc[-1], str):
        return None
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if field is None:
            return None
        current = _model_of(field.annotation)
        if current is None:
            return None
    known = list(current.model_fields)
    matches = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
