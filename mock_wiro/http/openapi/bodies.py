"""Request bodies: Run's fields (derived from the model's description, following the
settings), the fields that name a task, and the wrapper that offers one schema as JSON,
multipart and url-encoded."""

from __future__ import annotations

from typing import Any, Final

from ...engine.catalog import HAILUO_23_FAST, ModelSpec, ParamSpec
from ...settings import Settings
from .primitives import Schema, text

__all__ = ["TASK_REF_FIELDS", "body", "fields", "run_fields"]

TASK_REF_FIELDS: Final = {
    "taskid": text("The task's id.", examples=["534574"]),
    "tasktoken": text("The task's socketaccesstoken."),
    "socketaccesstoken": text("The same as `tasktoken`."),
}
"""The fields that name a task (Task/Detail, Cancel, Kill, InputOutputDelete)."""

_NUMBERS_NOTE: Final = (
    " Every value is read as a string: in a JSON body, numbers and booleans are accepted "
    "(as their text) and `null` is an empty string; an object or array is a code-0 error "
    "(except a file parameter's array of strings)."
)


def _file_input(param: ParamSpec, *, multipart: bool) -> Schema:
    """A file input: a file part (multipart), else a URL, or an array of them, at most
    ``max_count`` [clients: issue 17 finding 1]."""
    more = f" Repeat the key (or send a JSON array) for up to {param.max_count} value(s)."
    if multipart:
        one: Schema = {"type": "string", "format": "binary"}
        return {
            "oneOf": [one, {"type": "array", "items": one, "maxItems": param.max_count}],
            "description": f"{param.note} A file part or, as a plain field, a URL.{more} "
            "A bad image passes Run and fails the task [A].",
        }
    url = text("", maxLength=param.max_length) if param.max_length else text("")
    url.pop("description")
    return {
        "oneOf": [url, {"type": "array", "items": {"type": "string"}, "maxItems": param.max_count}],
        "description": f"{param.note} A URL, or a JSON array of them.{more}",
    }


def _property(param: ParamSpec, *, multipart: bool) -> Schema:
    """One Run parameter's schema, from its description."""
    if param.is_file:
        return _file_input(param, multipart=multipart)
    schema: Schema = {"type": "string", "description": param.note or param.label}
    if param.type == "select":
        schema["enum"] = list(param.allowed)
    if param.type == "checkbox":
        schema["description"] += " `true` or `false` (also `1`/`0`, `yes`/`no`, any case)."
    if param.default:
        schema["default"] = param.default
    if param.max_length is not None:
        schema["maxLength"] = param.max_length
    return schema


def run_fields(settings: Settings, *, multipart: bool, model: ModelSpec = HAILUO_23_FAST) -> Schema:
    """Run's body, derived from ``model``: its aliases only when ``settings`` accepts
    them, and closed to other fields when it rejects unknown ones."""
    properties = {p.id: _property(p, multipart=multipart) for p in model.parameters}
    if settings.accept_image_aliases:
        for alias, name in model.aliases().items():
            properties[alias] = {
                **properties[name],
                "deprecated": True,
                "description": f"Another client's name for `{name}` [clients][A].",
            }
    files = " or ".join(f"`{p.id}` (a file, or a URL)" for p in model.parameters if p.is_file)
    schema: Schema = {
        "type": "object",
        "description": f"Send {files}" + ("" if multipart else "." + _NUMBERS_NOTE),
        "properties": properties,
    }
    if settings.unknown_fields == "reject":
        schema["additionalProperties"] = False
        schema["description"] += " Any other field is a code-0 error naming it."
    return schema


def fields(properties: dict[str, Schema], description: str, **extra: Any) -> Schema:
    """An open object of string fields (any other field is ignored)."""
    return {
        "type": "object",
        "description": description + _NUMBERS_NOTE + " Other fields are ignored.",
        "properties": properties,
        **extra,
    }


def body(schema: Schema, *, required: bool, multipart: Schema | None = None) -> Schema:
    """A request body the fake reads as JSON, url-encoded or multipart fields."""
    return {
        "required": required,
        "content": {
            "application/json": {"schema": schema},
            "multipart/form-data": {"schema": multipart or schema},
            "application/x-www-form-urlencoded": {"schema": schema},
        },
    }
