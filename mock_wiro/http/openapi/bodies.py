"""Request bodies: Run's fields (which follow the settings), the fields that name a
task, and the wrapper that offers one schema as JSON, multipart and url-encoded."""

from __future__ import annotations

from typing import Any, Final

from ...engine.params import DURATIONS, RESOLUTIONS
from ...settings import IMAGE_FIELD_ALIASES, MAX_URL_CHARS, PROMPT_MAX_CHARS, Settings
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
    "(as their text) and `null` is an empty string; an object or array is a code-0 error."
)


def _first_frame(*, multipart: bool) -> Schema:
    """``inputImageFirst``: a file part in a multipart body, else a URL."""
    if multipart:
        return {
            "type": "string",
            "format": "binary",
            "description": "The first frame: a JPG/PNG/WebP file part (or, as a plain field, "
            "a URL). A bad image passes Run and fails the task [A].",
        }
    return text("The first frame as a URL (a URL may come here too [docs]).")


def _run_properties(*, multipart: bool) -> dict[str, Schema]:
    """Run's own parameters, in the model's order."""
    return {
        "inputImageFirst": _first_frame(multipart=multipart),
        "inputImageFirstUrl": text(
            "The first frame as a URL (the fake's own file URLs, or any http(s) URL, never "
            "fetched). Send this or `inputImageFirst`, the other empty [seed].",
            maxLength=MAX_URL_CHARS,
        ),
        "prompt": text("Text prompt [minimax].", maxLength=PROMPT_MAX_CHARS),
        "promptOptimizer": text(
            "`true` or `false` (also `1`/`0`, `yes`/`no`, any case).", default="true"
        ),
        "resolution": {"type": "string", "enum": list(RESOLUTIONS), "default": RESOLUTIONS[0]},
        "duration": {
            "type": "string",
            "enum": list(DURATIONS),
            "default": DURATIONS[0],
            "description": "Seconds; 10 only at 768P [minimax].",
        },
        "callbackUrl": text(
            "POSTed the Task/Detail body when the task ends; a value that is not an absolute "
            "http(s) URL is accepted and recorded as undeliverable.",
            maxLength=MAX_URL_CHARS,
        ),
    }


def run_fields(settings: Settings, *, multipart: bool) -> Schema:
    """Run's body: the image aliases only when ``settings`` accepts them, and closed to
    other fields when it rejects unknown ones."""
    properties = _run_properties(multipart=multipart)
    if settings.accept_image_aliases:
        for alias, name in IMAGE_FIELD_ALIASES.items():
            properties[alias] = {
                **properties[name],
                "deprecated": True,
                "description": f"Another client's name for `{name}` [clients][A].",
            }
    schema: Schema = {
        "type": "object",
        "description": "Send `inputImageFirst` (a file, or a URL) or `inputImageFirstUrl` "
        "[seed]." + ("" if multipart else _NUMBERS_NOTE),
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
