"""Structured logging for the server: text for people, JSON lines for collectors.

Secrets never reach a log line: AUTH exchanges and API keys are not logged by the code, and
this formatter also masks anything shaped like a 40-hex-character API key as a safety net.
Each line names the process that wrote it (``[server] workers``: several processes share
the log), as syslog does.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

_KEY_SHAPE = re.compile(r"\b[0-9a-f]{40}\b")


def redact(text: str) -> str:
    return _KEY_SHAPE.sub(lambda m: m.group(0)[:4] + "…(redacted)", text)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "msg": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            _TextFormatter("%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
