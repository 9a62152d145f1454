"""SparkPost's substitution: ``{{var}}``, ``{{ a.b }}`` and ``{{{var}}}``.

Recipient ``substitution_data`` wins over the transmission's (a shallow merge, as SparkPost
documents). A missing value renders as the empty string; other values are stringified
(JSON for objects and lists, ``true``/``false`` for booleans). In HTML parts ``{{var}}`` is
HTML-escaped and ``{{{var}}}`` is inserted as is. Expressions this module does not know
(``{{if ...}}``, ``{{each ...}}``) are left untouched. Callers re-check substituted header
values for line breaks: substitution data is caller input too. With a ``Budget`` the output
is counted piece by piece and rendering stops (``TooLarge``) as soon as it would pass the
message's cap, before the whole text exists (DESIGN section 9).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

from sealpost.compose.budget import Budget

_PATH = r"[A-Za-z_$][\w$-]*(?:\.[\w$-]+)*"
_EXPR = re.compile(r"\{\{\{\s*(" + _PATH + r")\s*\}\}\}|\{\{\s*(" + _PATH + r")\s*\}\}")
_MISSING = object()
_RESERVED = frozenset({"if", "else", "elseif", "end", "each", "loop_var", "render_dynamic_content"})


def merged(transmission: Mapping[str, Any], recipient: Mapping[str, Any]) -> dict[str, Any]:
    """The data one recipient's message is rendered with."""
    return {**transmission, **recipient}


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (list items by number), or ``_MISSING``."""
    value: Any = data
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def stringify(value: Any) -> str:
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _expand(match: re.Match[str], data: Mapping[str, Any], escape_html: bool) -> str:
    raw, path = match.group(1), match.group(2)
    if raw is not None:
        return stringify(lookup(data, raw))
    if path.split(".")[0] in _RESERVED:
        return match.group(0)
    text = stringify(lookup(data, path))
    return html.escape(text, quote=True) if escape_html else text


def render(
    template: str,
    data: Mapping[str, Any],
    *,
    escape_html: bool = False,
    budget: Budget | None = None,
    field: str = "content",
) -> str:
    """``template`` with every known expression replaced; with ``budget``, every piece of
    output is spent against it (``field`` is named when the cap is passed)."""
    if budget is None:
        if "{{" not in template:
            return template
        return _EXPR.sub(lambda m: _expand(m, data, escape_html), template)
    if "{{" not in template:
        budget.spend_text(field, template)
        return template
    pieces: list[str] = []
    at = 0
    for match in _EXPR.finditer(template):
        for piece in (template[at : match.start()], _expand(match, data, escape_html)):
            if piece:
                budget.spend_text(field, piece)
                pieces.append(piece)
        at = match.end()
    tail = template[at:]
    budget.spend_text(field, tail)
    pieces.append(tail)
    return "".join(pieces)
