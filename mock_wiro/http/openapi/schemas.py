"""``components/schemas``: the objects the fake answers (Task, Output, Folder, File,
Tool), the error envelope, and one success envelope per endpoint (``RunResponse``,
``TaskDetailResponse``, ...)."""

from __future__ import annotations

from typing import Final

from ...engine.lifecycle import LIFECYCLE, STATUS_IGNORED_TYPES
from ...settings import MODEL_SLUG_OWNER, MODEL_SLUG_PROJECT
from ..wire import OUTPUT_FIELDS
from .primitives import (
    DIGITS,
    EMPTY_ERRORS,
    HEX_ID,
    MONEY,
    STAMP,
    TOKEN,
    TRUE,
    Schema,
    ref,
    success,
)

__all__ = ["TASK_STATUSES", "component_schemas"]

TASK_STATUSES: Final = tuple(s for s in LIFECYCLE if s not in STATUS_IGNORED_TYPES)
"""Every status Task/Detail can show (``task_error`` is a socket frame, never a status)."""


def component_schemas() -> dict[str, Schema]:
    """Every named schema, in the document's order."""
    return {
        "ErrorEnvelope": _error_envelope(),
        "Task": _task(),
        "Output": _output(),
        "Folder": _folder(),
        "File": _file(),
        "Tool": _tool(),
        **_task_answers(),
        **_file_and_tool_answers(),
    }


# ----------------------------------------------------------------- the error envelope
def _error_envelope() -> Schema:
    errors_item = {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
        "required": ["code", "message"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "description": "A failed call [docs]: `result` false and one error. Codes: 0 general "
        "(validation, missing parameter), 1 not found / not allowed in this state, "
        "96 concurrent task limit, 97 insufficient balance.",
        "properties": {
            "result": {"const": False},
            "errors": {"type": "array", "items": errors_item, "minItems": 1, "maxItems": 1},
        },
        "required": ["result", "errors"],
        "additionalProperties": False,
    }


# ----------------------------------------------------------------- Task and Output
_TASK_FIELDS: Final[dict[str, Schema]] = {
    "id": DIGITS,
    "uuid": {"type": "string", "format": "uuid"},
    "name": {"type": "string"},
    "socketaccesstoken": {"type": "string"},
    "parameters": {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "The Run parameters as sent (a file as its public URL).",
    },
    "debugoutput": {"type": "string", "description": "stdout lines, joined with `\\n`."},
    "debugerror": {"type": "string", "description": "stderr lines; names a failure."},
    "starttime": STAMP,
    "endtime": STAMP,
    "elapsedseconds": {"type": "string", "pattern": "^-?[0-9]+\\.[0-9]{4}$"},
    "status": {"type": "string", "enum": list(TASK_STATUSES)},
    "cps": MONEY,
    "totalcost": MONEY,
    "guestid": {"type": ["string", "null"], "description": "`null`, as in the seed."},
    "projectid": DIGITS,
    "modelid": DIGITS,
    "description": {"type": "string"},
    "basemodelid": DIGITS,
    "runtype": {"type": "string", "examples": ["model"]},
    "modelfolderid": {"type": "string"},
    "modelfileid": {"type": "string"},
    "callbackurl": {"type": "string"},
    "marketplaceid": {"type": ["string", "null"], "description": "`null`, as in the seed."},
    "createtime": STAMP,
    "canceltime": STAMP,
    "assigntime": STAMP,
    "accepttime": STAMP,
    "preprocessstarttime": STAMP,
    "preprocessendtime": STAMP,
    "postprocessstarttime": STAMP,
    "postprocessendtime": STAMP,
    "pexit": {
        "type": "string",
        "description": '`"0"`: success (or cancelled); anything else is a failure '
        '(`"1"`, a scenario\'s own code, `"-9"` for a killed task).',
    },
    "categories": {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": {"type": "array", "items": {"type": "string"}},
        "description": "A JSON array encoded as a string [seed].",
    },
    "outputs": {"type": "array", "items": ref("Output")},
    "size": DIGITS,
}
"""A task's fields [seed], in the seed's order and type; every one is required."""

_NEWER_TASK_FIELDS: Final[dict[str, Schema]] = {
    "modeldescription": {"type": "string"},
    "modelslugowner": {"type": "string"},
    "modelslugproject": {"type": "string"},
}
"""[docs] Newer than the seed: the fake sends them, the seed's examples lack them (so they
are optional)."""


def _task() -> Schema:
    return {
        "type": "object",
        "description": "A task, every field in the seed's order and type [seed]; "
        "`modeldescription`, `modelslugowner` and `modelslugproject` come from newer docs.",
        "properties": _TASK_FIELDS | _NEWER_TASK_FIELDS,
        "required": list(_TASK_FIELDS),
        "additionalProperties": False,
    }


_OUTPUT_FIELD_SCHEMAS: Final[dict[str, Schema]] = {
    "id": HEX_ID,
    "name": {"type": "string", "examples": ["0.mp4"]},
    "contenttype": {"type": "string", "examples": ["video/mp4"]},
    "parentid": {"type": "string"},
    "uuid": {"type": "string", "format": "uuid"},
    "size": DIGITS,
    "addedtime": STAMP,
    "modifiedtime": STAMP,
    "accesskey": {"type": "string", "pattern": "^[A-Za-z0-9]+$"},
    "foldercount": DIGITS,
    "filecount": DIGITS,
    "ispublic": {"type": "integer", "description": "A number, as in the seed: `0`."},
    "expiretime": {"type": ["string", "null"], "description": "`null`, as in the seed."},
    "url": {"type": "string", "format": "uri"},
}
"""Each output field's schema; the order is the output object's (:data:`OUTPUT_FIELDS`)."""


def _output() -> Schema:
    return success(
        {name: _OUTPUT_FIELD_SCHEMAS[name] for name in OUTPUT_FIELDS},
        "A task's output file [seed]: the fake's MP4 (served at `/cdn/<accesskey>/0.mp4`).",
    )


# ----------------------------------------------------------------- Folder and File
def _folder() -> Schema:
    return success(
        {
            "id": HEX_ID,
            "name": {"type": "string"},
            "parentid": HEX_ID,
            "size": {"const": "0"},
            "contenttype": {"const": ""},
            "addedtime": STAMP,
        },
        "A folder [docs].",
    )


def _file() -> Schema:
    return success(
        {
            "id": HEX_ID,
            "name": {"type": "string"},
            "contenttype": {"type": "string"},
            "size": DIGITS,
            "parentid": HEX_ID,
            "url": {
                "type": "string",
                "format": "uri",
                "description": "Public (no credentials); usable as `inputImageFirstUrl`.",
            },
            "addedtime": STAMP,
            "accesskey": TOKEN,
        },
        "An uploaded file [docs].",
    )


# ----------------------------------------------------------------- Tool
def _tool_parameter() -> Schema:
    """One parameter of the model's definition (the item shape is [A])."""
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string"},
            "label": {"type": "string"},
            "help": {"type": "string"},
            "required": {"type": "boolean"},
            "default": {"type": "string"},
            "maxcount": {"type": "integer"},
            "options": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"value": {"type": "string"}, "text": {"type": "string"}},
                    "required": ["value", "text"],
                },
            },
        },
        "required": ["id", "type", "label", "required"],
    }


def _tool() -> Schema:
    return success(
        {
            "id": DIGITS,
            "title": {"type": "string"},
            "slugowner": {"const": MODEL_SLUG_OWNER},
            "slugproject": {"const": MODEL_SLUG_PROJECT},
            "description": {"type": "string"},
            "categories": {"type": "array", "items": {"type": "string"}},
            "parameters": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string"},
                        "items": {"type": "array", "items": _tool_parameter()},
                    },
                    "required": ["title", "items"],
                },
            },
        },
        "The model's parameter definitions (the item shape is [A]).",
    )


# ----------------------------------------------------------------- success envelopes
def _one(name: str) -> Schema:
    """An array of exactly one ``name``."""
    return {"type": "array", "items": ref(name), "minItems": 1, "maxItems": 1}


def _task_answers() -> dict[str, Schema]:
    """The success envelopes of Run and the Task endpoints."""
    cancelled = {"allOf": [ref("Task"), {"properties": {"status": {"const": "task_cancel"}}}]}
    return {
        "RunResponse": success(
            {"errors": EMPTY_ERRORS, "taskid": DIGITS, "socketaccesstoken": TOKEN, "result": TRUE},
            "A queued task [seed]: its id and its WebSocket token.",
        ),
        "TaskDetailResponse": success(
            {
                "total": {"const": "1"},
                "errors": EMPTY_ERRORS,
                "tasklist": _one("Task"),
                "result": TRUE,
            },
            "One task [seed].",
        ),
        "TaskActionResponse": success(
            {
                "errors": EMPTY_ERRORS,
                "tasklist": {"type": "array", "items": cancelled, "minItems": 1, "maxItems": 1},
                "result": TRUE,
            },
            "The cancelled or killed task, now `task_cancel` [seed].",
        ),
        "TaskListResponse": success(
            {
                "total": DIGITS,
                "errors": EMPTY_ERRORS,
                "tasklist": {"type": "array", "items": ref("Task"), "maxItems": 1000},
                "result": TRUE,
            },
            "A page of the project's tasks; `total` counts them all.",
        ),
        "DoneResponse": success(
            {"errors": EMPTY_ERRORS, "result": TRUE}, "Done (Task/InputOutputDelete)."
        ),
    }


def _file_and_tool_answers() -> dict[str, Schema]:
    """The success envelopes of the File and Tool endpoints."""
    return {
        "FolderCreateResponse": success(
            {"result": TRUE, "errors": EMPTY_ERRORS, "list": _one("Folder")},
            "The new folder.",
        ),
        "UploadResponse": success(
            {
                "result": TRUE,
                "errors": EMPTY_ERRORS,
                "list": {"type": "array", "items": ref("File")},
            },
            "The stored file (a ZIP: every file extracted from it).",
        ),
        "ToolDetailResponse": success(
            {"result": TRUE, "errors": EMPTY_ERRORS, "tool": _one("Tool")},
            "The model's definition.",
        ),
    }
