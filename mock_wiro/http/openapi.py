"""The fake's ``/v1`` API as an OpenAPI 3.1 document, served at ``GET /openapi.json``.

It describes exactly what this fake answers (``docs/wiro-api.md`` is the contract it
implements): every ``/v1`` endpoint with the bodies it reads (JSON, multipart or
url-encoded), the auth headers as security schemes, and each response: success shapes
with the seed's string-typed fields, and the error envelope at HTTP 200 (a failed call),
401 (authentication), 404 (no such path or file) and 413 (a body over its limit).

The document follows the running fake's :class:`~mock_wiro.settings.Settings` (the upload
limit, whether unknown Run fields are rejected, whether the image field aliases are
accepted), so it is built per request by :func:`build_openapi`. ``tests/test_openapi.py``
checks it against the OpenAPI 3.1 meta-schema, the seed's examples and the app's routes;
``tests/test_schemathesis.py`` checks the fake against it.

HTTP faults (``/_mock/faults``) answer whatever status and body they are told to; the
document describes the fake without them.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from .._version import __version__
from ..engine.lifecycle import LIFECYCLE, STATUS_IGNORED_TYPES
from ..engine.params import DURATIONS, RESOLUTIONS
from ..settings import (
    IMAGE_FIELD_ALIASES,
    MAX_JSON_BODY_BYTES,
    MAX_URL_CHARS,
    MODEL_SLUG_OWNER,
    MODEL_SLUG_PROJECT,
    PROMPT_MAX_CHARS,
    RUN_PATH,
    Settings,
)
from .wire import OUTPUT_FIELDS

__all__ = ["OPENAPI_PATH", "OPENAPI_VERSION", "POST_ENDPOINTS", "build_openapi"]

OPENAPI_VERSION: Final = "3.1.0"
OPENAPI_PATH: Final = "/openapi.json"
"""Where the fake serves this document."""

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _response_ref(name: str) -> Schema:
    return {"$ref": f"#/components/responses/{name}"}


_DIGITS: Final = {"type": "string", "pattern": "^[0-9]+$"}
_STAMP: Final = {
    "type": "string",
    "pattern": "^[0-9]+$",
    "description": 'Unix seconds on the fake\'s clock, as a string; `"0"` until it happens.',
}
_MONEY: Final = {
    "type": "string",
    "pattern": "^(0|-?[0-9]+\\.[0-9]{12})$",
    "description": 'USD with 12 decimals, or `"0"`.',
}
_TOKEN: Final = {"type": "string", "pattern": "^[A-Za-z0-9]{30}$"}
_HEX_ID: Final = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
_EMPTY_ERRORS: Final = {"type": "array", "maxItems": 0, "description": "Always `[]` on success."}
_TRUE: Final = {"const": True}
TASK_STATUSES: Final = tuple(s for s in LIFECYCLE if s not in STATUS_IGNORED_TYPES)
"""Every status Task/Detail can show (``task_error`` is a socket frame, never a status)."""


def _success(properties: dict[str, Schema], description: str) -> Schema:
    """An object with exactly ``properties`` (all required), in the API's key order."""
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_OUTPUT_FIELD_SCHEMAS: Final[dict[str, Schema]] = {
    "id": _HEX_ID,
    "name": {"type": "string", "examples": ["0.mp4"]},
    "contenttype": {"type": "string", "examples": ["video/mp4"]},
    "parentid": {"type": "string"},
    "uuid": {"type": "string", "format": "uuid"},
    "size": _DIGITS,
    "addedtime": _STAMP,
    "modifiedtime": _STAMP,
    "accesskey": {"type": "string", "pattern": "^[A-Za-z0-9]+$"},
    "foldercount": _DIGITS,
    "filecount": _DIGITS,
    "ispublic": {"type": "integer", "description": "A number, as in the seed: `0`."},
    "expiretime": {"type": ["string", "null"], "description": "`null`, as in the seed."},
    "url": {"type": "string", "format": "uri"},
}
"""Each output field's schema; the order is the output object's (:data:`OUTPUT_FIELDS`)."""


def _schemas(settings: Settings) -> dict[str, Schema]:
    output = _success(
        {name: _OUTPUT_FIELD_SCHEMAS[name] for name in OUTPUT_FIELDS},
        "A task's output file [seed]: the fake's MP4 (served at `/cdn/<accesskey>/0.mp4`).",
    )
    task_properties: dict[str, Schema] = {
        "id": _DIGITS,
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
        "starttime": _STAMP,
        "endtime": _STAMP,
        "elapsedseconds": {"type": "string", "pattern": "^-?[0-9]+\\.[0-9]{4}$"},
        "status": {"type": "string", "enum": list(TASK_STATUSES)},
        "cps": _MONEY,
        "totalcost": _MONEY,
        "guestid": {"type": ["string", "null"], "description": "`null`, as in the seed."},
        "projectid": _DIGITS,
        "modelid": _DIGITS,
        "description": {"type": "string"},
        "basemodelid": _DIGITS,
        "runtype": {"type": "string", "examples": ["model"]},
        "modelfolderid": {"type": "string"},
        "modelfileid": {"type": "string"},
        "callbackurl": {"type": "string"},
        "marketplaceid": {"type": ["string", "null"], "description": "`null`, as in the seed."},
        "createtime": _STAMP,
        "canceltime": _STAMP,
        "assigntime": _STAMP,
        "accepttime": _STAMP,
        "preprocessstarttime": _STAMP,
        "preprocessendtime": _STAMP,
        "postprocessstarttime": _STAMP,
        "postprocessendtime": _STAMP,
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
        "outputs": {"type": "array", "items": _ref("Output")},
        "size": _DIGITS,
    }
    newer = {  # [docs] newer than the seed: the fake sends them, the seed's examples lack them
        "modeldescription": {"type": "string"},
        "modelslugowner": {"type": "string"},
        "modelslugproject": {"type": "string"},
    }
    task = {
        "type": "object",
        "description": "A task, every field in the seed's order and type [seed]; "
        "`modeldescription`, `modelslugowner` and `modelslugproject` come from newer docs.",
        "properties": task_properties | newer,
        "required": list(task_properties),
        "additionalProperties": False,
    }
    errors_item = {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
        "required": ["code", "message"],
        "additionalProperties": False,
    }
    error = {
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
    tool_parameter = {
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
    tool = _success(
        {
            "id": _DIGITS,
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
                        "items": {"type": "array", "items": tool_parameter},
                    },
                    "required": ["title", "items"],
                },
            },
        },
        "The model's parameter definitions (the item shape is [A]).",
    )
    folder = _success(
        {
            "id": _HEX_ID,
            "name": {"type": "string"},
            "parentid": _HEX_ID,
            "size": {"const": "0"},
            "contenttype": {"const": ""},
            "addedtime": _STAMP,
        },
        "A folder [docs].",
    )
    file = _success(
        {
            "id": _HEX_ID,
            "name": {"type": "string"},
            "contenttype": {"type": "string"},
            "size": _DIGITS,
            "parentid": _HEX_ID,
            "url": {
                "type": "string",
                "format": "uri",
                "description": "Public (no credentials); usable as `inputImageFirstUrl`.",
            },
            "addedtime": _STAMP,
            "accesskey": _TOKEN,
        },
        "An uploaded file [docs].",
    )
    return {
        "ErrorEnvelope": error,
        "Task": task,
        "Output": output,
        "Folder": folder,
        "File": file,
        "Tool": tool,
        "RunResponse": _success(
            {
                "errors": _EMPTY_ERRORS,
                "taskid": _DIGITS,
                "socketaccesstoken": _TOKEN,
                "result": _TRUE,
            },
            "A queued task [seed]: its id and its WebSocket token.",
        ),
        "TaskDetailResponse": _success(
            {
                "total": {"const": "1"},
                "errors": _EMPTY_ERRORS,
                "tasklist": {"type": "array", "items": _ref("Task"), "minItems": 1, "maxItems": 1},
                "result": _TRUE,
            },
            "One task [seed].",
        ),
        "TaskActionResponse": _success(
            {
                "errors": _EMPTY_ERRORS,
                "tasklist": {
                    "type": "array",
                    "items": {
                        "allOf": [
                            _ref("Task"),
                            {"properties": {"status": {"const": "task_cancel"}}},
                        ]
                    },
                    "minItems": 1,
                    "maxItems": 1,
                },
                "result": _TRUE,
            },
            "The cancelled or killed task, now `task_cancel` [seed].",
        ),
        "TaskListResponse": _success(
            {
                "total": _DIGITS,
                "errors": _EMPTY_ERRORS,
                "tasklist": {"type": "array", "items": _ref("Task"), "maxItems": 1000},
                "result": _TRUE,
            },
            "A page of the project's tasks; `total` counts them all.",
        ),
        "DoneResponse": _success(
            {"errors": _EMPTY_ERRORS, "result": _TRUE}, "Done (Task/InputOutputDelete)."
        ),
        "FolderCreateResponse": _success(
            {
                "result": _TRUE,
                "errors": _EMPTY_ERRORS,
                "list": {"type": "array", "items": _ref("Folder"), "minItems": 1, "maxItems": 1},
            },
            "The new folder.",
        ),
        "UploadResponse": _success(
            {
                "result": _TRUE,
                "errors": _EMPTY_ERRORS,
                "list": {"type": "array", "items": _ref("File")},
            },
            "The stored file (a ZIP: every file extracted from it).",
        ),
        "ToolDetailResponse": _success(
            {
                "result": _TRUE,
                "errors": _EMPTY_ERRORS,
                "tool": {"type": "array", "items": _ref("Tool"), "minItems": 1, "maxItems": 1},
            },
            "The model's definition.",
        ),
    }


# ----------------------------------------------------------------- error envelopes by case
def _error(codes: list[int], message: Schema | None = None) -> Schema:
    item: Schema = {"properties": {"code": {"enum": codes}}}
    if message is not None:
        item["properties"]["message"] = message
    return {
        "allOf": [
            _ref("ErrorEnvelope"),
            {"properties": {"errors": {"items": item}}},
        ]
    }


AUTH_MESSAGES: Final = (
    "Project authorization is not founded.",
    "Project requires signature authentication. x-signature and x-nonce headers are required.",
    "Project authorization is not valid.",
)


def _responses(settings: Settings) -> dict[str, Schema]:
    limit = settings.upload_max_bytes
    return {
        "Unauthorized": {
            "description": "Authentication failed [docs]: a missing or unknown `x-api-key`, "
            "a missing `x-nonce`/`x-signature` for a signature project, or a wrong signature "
            "(or, in strict mode, a reused nonce).",
            "content": {"application/json": {"schema": _error([0], {"enum": list(AUTH_MESSAGES)})}},
        },
        "TooLarge": {
            "description": f"The body is over its limit [A]: a JSON or url-encoded body over "
            f"{MAX_JSON_BODY_BYTES} bytes, a multipart body over {limit} bytes (the upload limit; "
            "checked before the body is read). The connection is closed.",
            "headers": {"Connection": {"schema": {"const": "close"}}},
            "content": {
                "application/json": {
                    "schema": _error([0], {"type": "string", "pattern": "^Request body too large"})
                }
            },
        },
        "NotFound": {
            "description": "No such path (code 0 `Error parsing url.` [docs]), or a public file "
            "URL that names no file (code 1 `File not found.`).",
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            _error([0], {"const": "Error parsing url."}),
                            _error([1], {"const": "File not found."}),
                        ]
                    }
                }
            },
        },
    }


# ----------------------------------------------------------------- request bodies
def _text(description: str, **extra: Any) -> Schema:
    return {"type": "string", "description": description, **extra}


_TASK_REF_FIELDS: Final = {
    "taskid": _text("The task's id.", examples=["534574"]),
    "tasktoken": _text("The task's socketaccesstoken."),
    "socketaccesstoken": _text("The same as `tasktoken`."),
}
_NUMBERS_NOTE: Final = (
    " Every value is read as a string: in a JSON body, numbers and booleans are accepted "
    "(as their text) and `null` is an empty string; an object or array is a code-0 error."
)


def _run_fields(settings: Settings, *, multipart: bool) -> Schema:
    url = _text(
        "The first frame as a URL (the fake's own file URLs, or any http(s) URL, never "
        "fetched). Send this or `inputImageFirst`, the other empty [seed].",
        maxLength=MAX_URL_CHARS,
    )
    first: Schema = (
        {
            "type": "string",
            "format": "binary",
            "description": "The first frame: a JPG/PNG/WebP file part (or, as a plain field, "
            "a URL). A bad image passes Run and fails the task [A].",
        }
        if multipart
        else _text("The first frame as a URL (a URL may come here too [docs]).")
    )
    properties: dict[str, Schema] = {
        "inputImageFirst": first,
        "inputImageFirstUrl": url,
        "prompt": _text("Text prompt [minimax].", maxLength=PROMPT_MAX_CHARS),
        "promptOptimizer": _text(
            "`true` or `false` (also `1`/`0`, `yes`/`no`, any case).", default="true"
        ),
        "resolution": {"type": "string", "enum": list(RESOLUTIONS), "default": RESOLUTIONS[0]},
        "duration": {
            "type": "string",
            "enum": list(DURATIONS),
            "default": DURATIONS[0],
            "description": "Seconds; 10 only at 768P [minimax].",
        },
        "callbackUrl": _text(
            "POSTed the Task/Detail body when the task ends; a value that is not an absolute "
            "http(s) URL is accepted and recorded as undeliverable.",
            maxLength=MAX_URL_CHARS,
        ),
    }
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


def _fields(properties: dict[str, Schema], description: str, **extra: Any) -> Schema:
    return {
        "type": "object",
        "description": description + _NUMBERS_NOTE + " Other fields are ignored.",
        "properties": properties,
        **extra,
    }


def _body(schema: Schema, *, required: bool, multipart: Schema | None = None) -> Schema:
    """A request body the fake reads as JSON, url-encoded or multipart fields."""
    return {
        "required": required,
        "content": {
            "application/json": {"schema": schema},
            "multipart/form-data": {"schema": multipart or schema},
            "application/x-www-form-urlencoded": {"schema": schema},
        },
    }


# ----------------------------------------------------------------- operations
POST_ENDPOINTS: Final = (
    RUN_PATH,
    "Task/Detail",
    "Task/List",
    "Task/Cancel",
    "Task/Kill",
    "Task/InputOutputDelete",
    "File/FolderCreate",
    "File/Upload",
    "Tool/Detail",
)
"""The ``/v1`` endpoints the document describes (all ``POST``)."""


def _task_links(field: str) -> Schema:
    """Links from an answer naming a task (its id in ``field``) to the Task endpoints."""
    by_id = {"taskid": f"$response.body#/{field}"}
    return {
        "TaskDetail": {"operationId": "taskDetail", "requestBody": by_id},
        "TaskDetailByToken": {
            "operationId": "taskDetail",
            "requestBody": {"tasktoken": "$response.body#/socketaccesstoken"},
        },
        "TaskCancel": {"operationId": "taskCancel", "requestBody": by_id},
        "TaskKill": {"operationId": "taskKill", "requestBody": by_id},
        "TaskInputOutputDelete": {"operationId": "taskInputOutputDelete", "requestBody": by_id},
    }


_LINKS: Final = {
    "run": _task_links("taskid"),
    "fileUpload": {
        "RunWithTheFile": {
            "operationId": "run",
            "requestBody": {"inputImageFirstUrl": "$response.body#/list/0/url"},
            "description": "An uploaded image's URL as a Run's first frame.",
        }
    },
}


def _post(
    operation_id: str,
    summary: str,
    description: str,
    body: Schema,
    success: str,
    codes: list[int],
    tag: str,
) -> Schema:
    links = {"links": _LINKS[operation_id]} if operation_id in _LINKS else {}
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "tags": [tag],
            "requestBody": body,
            "responses": {
                "200": {
                    "description": "The call's answer: success, or the error envelope "
                    f"(codes {', '.join(map(str, codes))}).",
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [_ref(success), _error(codes)]},
                        }
                    },
                    **links,
                },
                "401": _response_ref("Unauthorized"),
                "413": _response_ref("TooLarge"),
            },
        }
    }


_RANGE: Final = {
    "name": "Range",
    "in": "header",
    "required": False,
    "description": "A byte range (`bytes=0-99`); an unsatisfiable or unparsable one is a 416.",
    "schema": {"type": "string"},
}


def _file_get(operation_id: str, summary: str) -> Schema:
    key = {"name": "accesskey", "in": "path", "required": True, "schema": {"type": "string"}}
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "description": "Public: the access key in the URL is the credential. Images and "
            "videos are served inline; anything else as an attachment with "
            "`Content-Security-Policy: sandbox`. Supports `Range` and conditional requests.",
            "tags": ["Files"],
            "security": [],
            "parameters": [key, name, _RANGE],
            "responses": {
                "200": {
                    "description": "The file.",
                    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                },
                "206": {
                    "description": "The requested range of the file.",
                    "headers": {"Content-Range": {"schema": {"type": "string"}}},
                    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                },
                "304": {"description": "Not modified (`If-None-Match`, `If-Modified-Since`)."},
                "404": _response_ref("NotFound"),
                "416": {
                    "description": "A `Range` that cannot be parsed or satisfied; "
                    "`Content-Range: bytes */<length>`.",
                    "headers": {"Content-Range": {"schema": {"type": "string"}}},
                    "content": {
                        "application/json": {
                            "schema": _error([0], {"const": "Requested range not satisfiable"})
                        }
                    },
                },
            },
        }
    }


def _paths(settings: Settings) -> dict[str, Schema]:
    ref_fields = _fields(
        _TASK_REF_FIELDS,
        "A task by `taskid`, or by `tasktoken` / `socketaccesstoken` (with both, they must "
        "name the same task).",
    )
    multipart_run = _run_fields(settings, multipart=True)
    upload = {
        "type": "object",
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "description": f"The file (up to {settings.upload_max_bytes} bytes); a `.zip` "
                "is extracted (at most 1000 files, bounded size).",
            },
            "folderid": _text("A folder from File/FolderCreate (default: the project's root)."),
        },
        "required": ["file"],
    }
    return {
        f"/v1/{RUN_PATH}": _post(
            "run",
            f"Run {MODEL_SLUG_OWNER}/{MODEL_SLUG_PROJECT}",
            "Queue an image-to-video task [seed]. Multipart (the seed's), JSON or url-encoded. "
            "Over the project's concurrency limit: code 96; balance under $0.50: code 97.",
            _body(_run_fields(settings, multipart=False), required=True, multipart=multipart_run),
            "RunResponse",
            [0, 96, 97],
            "Run",
        ),
        "/v1/Task/Detail": _post(
            "taskDetail",
            "A task's state",
            "Unknown id, or another project's task: code 1 `There is no task yet.`; neither "
            "id given: code 0 `taskid or socketaccesstoken is required`.",
            _body(ref_fields, required=True),
            "TaskDetailResponse",
            [0, 1],
            "Tasks",
        ),
        "/v1/Task/List": _post(
            "taskList",
            "The project's tasks",
            "Newest first by default.",
            _body(
                _fields(
                    {
                        "start": _text("Offset (0 to 10^9).", default="0"),
                        "limit": _text("Page size (1 to 1000).", default="20"),
                        "order": _text("`DESC` or `ASC` (any case).", default="DESC"),
                    },
                    "Paging.",
                ),
                required=False,
            ),
            "TaskListResponse",
            [0],
            "Tasks",
        ),
        "/v1/Task/Cancel": _post(
            "taskCancel",
            "Cancel a queued task",
            "Only while `task_queue`; otherwise code 1 `Task is not in a cancellable state.`",
            _body(ref_fields, required=True),
            "TaskActionResponse",
            [0, 1],
            "Tasks",
        ),
        "/v1/Task/Kill": _post(
            "taskKill",
            "Kill an active task",
            "Any active task (it ends at `task_cancel`, pexit `-9`); a finished one: code 1 "
            "`Task could not be killed: ...`.",
            _body(ref_fields, required=True),
            "TaskActionResponse",
            [0, 1],
            "Tasks",
        ),
        "/v1/Task/InputOutputDelete": _post(
            "taskInputOutputDelete",
            "Delete a finished task's files",
            "The input upload and the outputs; idempotent; code 1 while the task runs.",
            _body(ref_fields, required=True),
            "DoneResponse",
            [0, 1],
            "Tasks",
        ),
        "/v1/File/FolderCreate": _post(
            "folderCreate",
            "Create a folder",
            "An unknown `parentid`: code 1.",
            _body(
                _fields(
                    {
                        "name": _text("The folder's name (required, not blank)."),
                        "parentid": _text("The parent folder (default: the project's root)."),
                    },
                    "The folder.",
                    required=["name"],
                ),
                required=True,
            ),
            "FolderCreateResponse",
            [0, 1],
            "Files",
        ),
        "/v1/File/Upload": _post(
            "fileUpload",
            "Upload a file",
            "Multipart with a `file` part [docs]; without one: code 0 `Request files [file] "
            "required` (so a JSON or url-encoded body is always that error). An unknown "
            "`folderid`: code 1.",
            {"required": True, "content": {"multipart/form-data": {"schema": upload}}},
            "UploadResponse",
            [0, 1],
            "Files",
        ),
        "/v1/Tool/Detail": _post(
            "toolDetail",
            "The model's parameters",
            "Another model: code 1.",
            _body(
                _fields(
                    {
                        "slugowner": _text("Default: the fake's model.", default=MODEL_SLUG_OWNER),
                        "slugproject": _text(
                            "Default: the fake's model.", default=MODEL_SLUG_PROJECT
                        ),
                    },
                    "Which model.",
                ),
                required=False,
            ),
            "ToolDetailResponse",
            [0, 1],
            "Tools",
        ),
        "/v1/File/{accesskey}/{name}": _file_get("uploadedFile", "An uploaded file"),
        "/cdn/{accesskey}/{name}": _file_get(
            "outputFile", "A task's output (the fake's stand-in for cdn1.wiro.ai)"
        ),
        "/v1": {
            "get": {
                "operationId": "taskSocket",
                "summary": "The task WebSocket",
                "description": "Connect with a WebSocket client (no auth headers: the "
                "socketaccesstoken is the credential) and send "
                '`{"type": "task_info", "tasktoken": "<socketaccesstoken>"}`; every frame is '
                '`{"type", "id", "tasktoken", "message", "result": true}`. A plain HTTP GET '
                "gets 426.",
                "tags": ["Tasks"],
                "security": [],
                "responses": {
                    "426": {
                        "description": "Not a WebSocket handshake.",
                        "headers": {"Upgrade": {"schema": {"const": "websocket"}}},
                        "content": {"application/json": {"schema": _error([0])}},
                    }
                },
            }
        },
        OPENAPI_PATH: {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["Meta"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI document of the running fake.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


def build_openapi(settings: Settings | None = None, server_url: str | None = None) -> Schema:
    """The OpenAPI 3.1 document of a fake with ``settings``, served at ``server_url``
    (the fake's root URL, e.g. ``http://127.0.0.1:8080``; omitted when None)."""
    settings = settings or Settings()
    document: Schema = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "mock-wiro: the Wiro AI API for MiniMax Hailuo 2.3 Fast (offline fake)",
            "version": __version__,
            "description": "Every `/v1` endpoint is `POST` with Wiro's envelope: "
            '`{"result": true, "errors": [], ...}` or `{"result": false, "errors": '
            '[{"code": N, "message": "..."}]}` (HTTP 200 for a failed call, 401 for '
            "authentication, 404 for an unknown path, 413 for a body over its limit). Ids, "
            "numbers and timestamps are strings. Signature auth: `x-signature` is the "
            "lowercase hex of HMAC-SHA256(key = API key, message = API secret + x-nonce) "
            "[seed]; an API-key-only project sends `x-api-key` alone. The contract, with "
            "the source of every fact, is docs/wiro-api.md.",
        },
        "tags": [
            {"name": "Run"},
            {"name": "Tasks"},
            {"name": "Files"},
            {"name": "Tools"},
            {"name": "Meta"},
        ],
        "paths": _paths(settings),
        "components": {
            "schemas": _schemas(settings),
            "responses": _responses(settings),
            "securitySchemes": {
                "apiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-api-key",
                    "description": "The project's API key.",
                },
                "nonce": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-nonce",
                    "description": "Unix time or any random integer [seed] (a reused one is "
                    "accepted unless the fake is strict).",
                },
                "signature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-signature",
                    "description": "hex(HMAC-SHA256(key = API key, message = API secret + "
                    "nonce)); `<label>= <hex>` (openssl's output line) is accepted unless the "
                    "fake is strict.",
                },
            },
        },
        # signature projects send all three headers; API-key projects only the key
        "security": [{"apiKey": [], "nonce": [], "signature": []}, {"apiKey": []}],
    }
    if server_url is not None:
        document["servers"] = [{"url": server_url.rstrip("/"), "description": "this fake"}]
    return copy.deepcopy(document)  # no schema object shared with another caller's copy
