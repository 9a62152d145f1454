#!/usr/bin/env python3
"""Fuzz target: the TOML config loader (``sealpost.config.loader.parse_config``).

The input is the bytes of a ``sealpost.toml``, read as if it were a file in a directory that
does not exist (so relative certificate paths name no file; nothing is ever written).
``parse_config`` documents one error, ``ConfigError`` (``TomlSyntaxError`` is one), which
``sealpost serve`` prints before it exits non-zero. Invariants:

1. No exception but ``ConfigError`` escapes: not ``RecursionError`` from deep nesting, not a
   ``ValueError`` from a validator, not a ``TypeError`` from a value of an unexpected type.
2. A ``ConfigError`` names at least one issue, each a key path (possibly empty) and a
   non-empty reason, both one printable line (no line break ``str.splitlines`` knows, no
   control character but tab), as ``ConfigError`` promises: one ``path: reason`` line per
   issue, which a value from the file can neither split nor fill with terminal escapes.
3. An accepted configuration gives its effective summary (what ``serve`` logs) as JSON.

Run: ``python fuzz/config_loader.py fuzz/corpus/config_loader -dict=fuzz/config_loader.dict``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["sealpost", "tomllib"]):
    from sealpost.config.loader import ConfigError, parse_config

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
PATH = Path("/nonexistent/sealpost-fuzz/sealpost.toml")  # parse_config never opens it


def test_one_input(data: bytes) -> None:
    try:
        config = parse_config(data, PATH)
    except ConfigError as exc:
        assert exc.issues, exc
        for issue in exc.issues:
            assert isinstance(issue.path, str), issue
            assert issue.reason.strip(), issue
            for text in (issue.path, issue.reason):
                assert len(text.splitlines()) <= 1 and not _CONTROL.search(text), issue
        assert len(str(exc).splitlines()) == len(exc.issues), str(exc)
        return
    json.dumps(config.effective_summary())


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
