"""The config model seen as documentation: tables, keys, types, defaults, descriptions.

Both the commented ``sealpost.toml`` (``template.py``) and ``docs/configuration.md``
(``reference.py``) are rendered from ``sections()``, which walks ``Config`` in declaration
order, so neither can drift from the model.
"""

from __future__ import annotations

import inspect
import json
import types
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sealpost.config.model import Config

_BOUND_OPS = ((annotated_types.Gt, "gt", ">"), (annotated_types.Ge, "ge", ">="))


@dataclass(frozen=True, slots=True)
class KeyDoc:
    """One key of a table."""

    key: str
    type_name: str  # "integer > 0", "one of starttls, implicit, none", "array of string"
    required: bool
    default: Any  # plain TOML-able value (None when required)
    description: str


@dataclass(frozen=True, slots=True)
class TableDoc:
    """One TOML table (``[server]``) or array of tables (``[[smtp.listeners]]``)."""

    path: str
    array: bool
    description: str
    keys: tuple[KeyDoc, ...]

    @property
    def header(self) -> str:
        return f"[[{self.path}]]" if self.array else f"[{self.path}]"


def sections(model: type[BaseModel] = Config) -> list[TableDoc]:
    """Every table under ``model``, parents before their nested tables."""
    out: list[TableDoc] = []
    for name, field in model.model_fields.items():
        child = _model_in(field.annotation)
        if child is not None:
            _walk(child, name, _is_list(field.annotation), field.description, out)
    return out


def _walk(
    model: type[BaseModel], path: str, array: bool, field_doc: str | None, out: list[TableDoc]
) -> None:
    keys = []
    nested = []
    for name, field in model.model_fields.items():
        child = _model_in(field.annotation)
        if child is None:
            keys.append(_key_doc(name, field))
        else:
            nested.append((child, f"{path}.{name}", _is_list(field.annotation), field.description))
    description = field_doc or inspect.getdoc(model) or ""
    if keys:
        out.append(TableDoc(path, array, description, tuple(keys)))
    for child, child_path, child_array, child_doc in nested:
        _walk(child, child_path, child_array, child_doc, out)


def _key_doc(name: str, field: FieldInfo) -> KeyDoc:
    required = field.is_required()
    if required:
        default = None
    elif field.default_factory is not None:
        default = plain(field.default_factory())  # type: ignore[call-arg]
    else:
        default = plain(field.default)
    type_name = type_label(field.annotation)
    bounds = [
        f"{op} {getattr(meta, attr)}"
        for meta in field.metadata
        for cls, attr, op in _BOUND_OPS
        if isinstance(meta, cls)
    ]
    if bounds:
        type_name += " " + " ".join(bounds)
    return KeyDoc(name, type_name, required, default, field.description or "")


def type_label(annotation: Any) -> str:
    """A person's name for a field type."""
    if get_origin(annotation) is Annotated:
        return type_label(get_args(annotation)[0])
    if get_origin(annotation) is list:
        return "array of " + type_label(get_args(annotation)[0])
    if get_origin(annotation) is dict:
        key, value = get_args(annotation)
        return f"table of {type_label(key)} to {type_label(value)}"
    if get_origin(annotation) is Literal:
        return " or ".join(f'"{a}"' for a in get_args(annotation))
    if get_origin(annotation) in (types.UnionType, Union):
        present = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(present) < len(get_args(annotation))
        return " or ".join(type_label(a) for a in present) + (" (optional)" if optional else "")
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return "one of " + ", ".join(str(m.value) for m in annotation)
        names = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "path"}
        for kind, label in names.items():
            if issubclass(annotation, kind):
                return label
    return str(annotation)


def plain(value: Any) -> Any:
    """A default as a plain TOML value: enums to strings, paths to text, 5.0 to 5."""
    if value is PydanticUndefined or value is None:
        return None
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def toml_value(value: Any) -> str:
    """Render a plain value as TOML."""
    value = plain(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(f"no TOML rendering for {value!r}")


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Annotated, types.UnionType):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) is list
