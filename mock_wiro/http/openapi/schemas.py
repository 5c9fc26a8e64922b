"""``components/schemas``: the objects the fake answers (Task, Output, Folder, File,
Tool), the error envelope, and one success envelope per endpoint (``RunResponse``,
``TaskDetailResponse``, ...)."""

from __future__ import annotations

from typing import Final

from ...engine.lifecycle import LIFECYCLE, STATUS_IGNORED_TYPES
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
        **_tool_answers(),
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
_STR: Final = {"type": "string"}
_STRINGS: Final = {"type": "array", "items": _STR}


def _tool_parameter() -> Schema:
    """One parameter item [docs: model-parameters.md; clients: Wiro-MCP ToolParameterItem]."""
    option = success({"label": _STR, "value": _STR}, "A select's choice.")
    return {
        "type": "object",
        "properties": {
            "id": _STR,
            "type": _STR,
            "label": _STR,
            "required": {"type": "boolean"},
            "placeholder": _STR,
            "note": _STR,
            "options": {"type": "array", "items": option},
            "default": _STR,
        },
        "required": ["id", "type", "label", "required", "placeholder", "note"],
        "additionalProperties": False,
    }


def _tool_summary() -> dict[str, Schema]:
    return {
        "id": DIGITS,
        "title": _STR,
        "slugowner": _STR,
        "slugproject": _STR,
        "cleanslugowner": _STR,
        "cleanslugproject": _STR,
        "description": _STR,
        "image": _STR,
        "categories": _STRINGS,
        "tags": _STRINGS,
        "averagepoint": DIGITS,
        "commentcount": DIGITS,
        "ratedusercount": DIGITS,
    }


def _tool() -> Schema:
    group = success(
        {"title": _STR, "items": {"type": "array", "items": _tool_parameter()}},
        "A group of parameters.",
    )
    summary = _tool_summary()
    return success(
        {
            **{k: summary[k] for k in ("id", "title", "slugowner", "slugproject")},
            **{k: summary[k] for k in ("cleanslugowner", "cleanslugproject", "description")},
            "image": _STR,
            "computingtime": DIGITS,
            "readme": _STR,
            "categories": _STRINGS,
            "parameters": {"type": "array", "items": group},
            "inspire": {"type": "array"},
            "samples": _STRINGS,
            "tags": _STRINGS,
            "marketplace": DIGITS,
            "onlymembers": DIGITS,
            "dynamicprice": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"price": _STR},
                    "additionalProperties": _STR,
                    "required": ["price"],
                },
            },
            "averagepoint": DIGITS,
            "commentcount": DIGITS,
            "ratedusercount": DIGITS,
            "taskstat": {"type": "object", "additionalProperties": DIGITS},
            "seotitle": _STR,
            "seodescription": _STR,
        },
        "A model: its description and parameter definitions [docs][clients] (values no "
        "source gives are [A]).",
    )


def _tool_answers() -> dict[str, Schema]:
    """Tool/List's and Tool/Explore's envelopes."""
    summary = success(_tool_summary(), "A Tool/List item with `summary` true.")
    keys = ("id", "cleanslugowner", "cleanslugproject", "image", "description", "categories")
    counters = ("commentcount", "ratedusercount", "averagepoint")
    entry = success(
        {k: _tool_summary()[k] for k in (*keys, *counters)}, "A tool in an explore group."
    )
    group = success(
        {"id": DIGITS, "title": _STR, "tools": {"type": "array", "items": entry}, "total": DIGITS},
        "An explore group [clients].",
    )
    return {
        "ToolSummary": summary,
        "ToolListResponse": success(
            {
                "result": TRUE,
                "errors": EMPTY_ERRORS,
                "total": DIGITS,
                "tool": {
                    "type": "array",
                    "items": {"oneOf": [ref("Tool"), ref("ToolSummary")]},
                    "maxItems": 1000,
                },
            },
            "A page of the catalogue; `total` counts every match.",
        ),
        "ToolExploreResponse": success(
            {"result": TRUE, "errors": EMPTY_ERRORS, "explore": {"type": "array", "items": group}},
            "The catalogue by group.",
        ),
    }


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
