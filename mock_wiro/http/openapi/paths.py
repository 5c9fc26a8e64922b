"""``paths``: every operation the fake answers, one function per group (Run, Tasks,
Files, Tools, the public file URLs, the socket, this document)."""

from __future__ import annotations

from typing import Final

from ...engine.catalog import CATALOG
from ...settings import Settings
from ..tool import TOOL_LIST_SORTS
from .bodies import TASK_REF_FIELDS, body, fields, run_fields
from .primitives import Schema, error_case, ref, response_ref, text

__all__ = ["OPENAPI_PATH", "POST_ENDPOINTS", "all_paths"]

OPENAPI_PATH: Final = "/openapi.json"
"""Where the fake serves this document."""

POST_ENDPOINTS: Final = (
    *(model.run_path for model in CATALOG),
    "Task/Detail",
    "Task/List",
    "Task/Cancel",
    "Task/Kill",
    "Task/InputOutputDelete",
    "File/FolderCreate",
    "File/Upload",
    "Tool/Detail",
    "Tool/List",
    "Tool/Explore",
)
"""The ``/v1`` endpoints the document describes (all ``POST``)."""


def all_paths(settings: Settings) -> dict[str, Schema]:
    """Every path, in the document's order."""
    return {
        **_run_path(settings),
        **_task_paths(),
        **_file_paths(settings),
        **_tool_path(),
        "/v1/File/{accesskey}/{name}": _file_get("uploadedFile", "An uploaded file"),
        "/cdn/{accesskey}/{name}": _file_get(
            "outputFile", "A task's output (the fake's stand-in for cdn1.wiro.ai)"
        ),
        "/v1": _socket(),
        OPENAPI_PATH: _document(),
    }


# ----------------------------------------------------------------- a POST operation
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
"""The links from each operation's success, by operation id."""


def _post(
    operation_id: str,
    summary: str,
    description: str,
    request_body: Schema,
    success: str,
    codes: list[int],
    tag: str,
) -> Schema:
    """A ``/v1`` POST: ``success`` or the error envelope with ``codes`` at 200, and the
    shared 401 and 413."""
    links = {"links": _LINKS[operation_id]} if operation_id in _LINKS else {}
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "tags": [tag],
            "requestBody": request_body,
            "responses": {
                "200": {
                    "description": "The call's answer: success, or the error envelope "
                    f"(codes {', '.join(map(str, codes))}).",
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [ref(success), error_case(codes)]},
                        }
                    },
                    **links,
                },
                "401": response_ref("Unauthorized"),
                "413": response_ref("TooLarge"),
            },
        }
    }


# ----------------------------------------------------------------- Run
def _run_path(settings: Settings) -> dict[str, Schema]:
    """One Run operation per model of the catalogue, its body derived from the model."""
    case = " in any case" if settings.slug_case_insensitive else ""
    return {
        f"/v1/{model.run_path}": _post(
            "run" if index == 0 else f"run{index}",
            f"Run {model.clean_slug_owner}/{model.clean_slug_project}",
            f"Queue a {model.title} task [seed]. Multipart (the seed's), JSON or url-encoded. "
            f"Also served at `/v1/Run/{model.slug_owner}/{model.slug_project}` (the display "
            f"slugs){case}. Over the project's concurrency limit: code 96; balance under "
            "$0.50: code 97.",
            body(
                run_fields(settings, multipart=False, model=model),
                required=True,
                multipart=run_fields(settings, multipart=True, model=model),
            ),
            "RunResponse",
            [0, 96, 97],
            "Run",
        )
        for index, model in enumerate(CATALOG)
    }


# ----------------------------------------------------------------- Tasks
def _task_paths() -> dict[str, Schema]:
    by_ref = body(
        fields(
            TASK_REF_FIELDS,
            "A task by `taskid`, or by `tasktoken` / `socketaccesstoken` (with both, they "
            "must name the same task).",
        ),
        required=True,
    )
    return {
        "/v1/Task/Detail": _post(
            "taskDetail",
            "A task's state",
            "Unknown id, or another project's task: code 1 `There is no task yet.`; neither "
            "id given: code 0 `taskid or socketaccesstoken is required`.",
            by_ref,
            "TaskDetailResponse",
            [0, 1],
            "Tasks",
        ),
        "/v1/Task/List": _task_list(),
        "/v1/Task/Cancel": _post(
            "taskCancel",
            "Cancel a queued task",
            "Only while `task_queue`; otherwise code 1 `Task is not in a cancellable state.`",
            by_ref,
            "TaskActionResponse",
            [0, 1],
            "Tasks",
        ),
        "/v1/Task/Kill": _post(
            "taskKill",
            "Kill an active task",
            "Any active task (it ends at `task_cancel`, pexit `-9`); a finished one: code 1 "
            "`Task could not be killed: ...`.",
            by_ref,
            "TaskActionResponse",
            [0, 1],
            "Tasks",
        ),
        "/v1/Task/InputOutputDelete": _post(
            "taskInputOutputDelete",
            "Delete a finished task's files",
            "The input upload and the outputs; idempotent; code 1 while the task runs.",
            by_ref,
            "DoneResponse",
            [0, 1],
            "Tasks",
        ),
    }


def _task_list() -> Schema:
    paging = {
        "start": text("Offset (0 to 10^9).", default="0"),
        "limit": text("Page size (1 to 1000).", default="20"),
        "order": text("`DESC` or `ASC` (any case).", default="DESC"),
    }
    return _post(
        "taskList",
        "The project's tasks",
        "Newest first by default.",
        body(fields(paging, "Paging."), required=False),
        "TaskListResponse",
        [0],
        "Tasks",
    )


# ----------------------------------------------------------------- Files
def _file_paths(settings: Settings) -> dict[str, Schema]:
    folder = {
        "name": text("The folder's name (required, not blank)."),
        "parentid": text("The parent folder (default: the project's root)."),
    }
    return {
        "/v1/File/FolderCreate": _post(
            "folderCreate",
            "Create a folder",
            "An unknown `parentid`: code 1.",
            body(fields(folder, "The folder.", required=["name"]), required=True),
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
            {"required": True, "content": {"multipart/form-data": {"schema": _upload(settings)}}},
            "UploadResponse",
            [0, 1],
            "Files",
        ),
    }


def _upload(settings: Settings) -> Schema:
    """File/Upload's multipart body (only multipart carries a file)."""
    return {
        "type": "object",
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "description": f"The file (up to {settings.upload_max_bytes} bytes); a `.zip` "
                "is extracted (at most 1000 files, bounded size).",
            },
            "folderid": text("A folder from File/FolderCreate (default: the project's root)."),
        },
        "required": ["file"],
    }


# ----------------------------------------------------------------- Tools
def _tool_path() -> dict[str, Schema]:
    default = CATALOG.models[0]
    which = {
        "slugowner": text(
            "Clean or display slugs; default: the fake's model.", default=default.clean_slug_owner
        ),
        "slugproject": text("Default: the fake's model.", default=default.clean_slug_project),
    }
    listing = {
        "start": text("Skip this many (default 0).", default="0"),
        "limit": text("At most this many, 1-1000 (default 20).", default="20"),
        "search": text("Matches title, slugs, description, categories (any case)."),
        "sort": {"type": "string", "enum": list(TOOL_LIST_SORTS), "default": "relevance"},
        "order": {"type": "string", "enum": ["ASC", "DESC"], "default": "DESC"},
        "categories": {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "description": "A tool with any of them (an array, or comma-separated) [A].",
        },
        "tags": {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "description": "A tool with any of them [A].",
        },
        "slugowner": text("Only this owner (clean or display slug, any case)."),
        "hideworkflows": text("`true`: no workflows.", default="false"),
        "summary": text("`true`: summary items (no parameters).", default="false"),
    }
    return {
        "/v1/Tool/Detail": _post(
            "toolDetail",
            "The model's parameters",
            "Another model: code 1.",
            body(fields(which, "Which model."), required=False),
            "ToolDetailResponse",
            [0, 1],
            "Tools",
        ),
        "/v1/Tool/List": _post(
            "toolList",
            "The catalogue, filtered",
            "The fake's catalogue, filtered, sorted and paged; a bad value is code 0.",
            body(fields(listing, "Filters and paging."), required=False),
            "ToolListResponse",
            [0],
            "Tools",
        ),
        "/v1/Tool/Explore": _post(
            "toolExplore",
            "The catalogue by group",
            "Every tool, grouped (one group per explore group) [A].",
            body(fields({}, "No parameters."), required=False),
            "ToolExploreResponse",
            [0],
            "Tools",
        ),
    }


# ----------------------------------------------------------------- public file URLs
_RANGE: Final = {
    "name": "Range",
    "in": "header",
    "required": False,
    "description": "A byte range (`bytes=0-99`); an unsatisfiable or unparsable one is a 416.",
    "schema": {"type": "string"},
}


def _file_get(operation_id: str, summary: str) -> Schema:
    """A public file URL: no auth, ranges and conditional requests."""
    key = {"name": "accesskey", "in": "path", "required": True, "schema": {"type": "string"}}
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    binary = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
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
                "200": {"description": "The file.", "content": binary},
                "206": {
                    "description": "The requested range of the file.",
                    "headers": {"Content-Range": {"schema": {"type": "string"}}},
                    "content": binary,
                },
                "304": {"description": "Not modified (`If-None-Match`, `If-Modified-Since`)."},
                "404": response_ref("NotFound"),
                "416": {
                    "description": "A `Range` that cannot be parsed or satisfied; "
                    "`Content-Range: bytes */<length>`.",
                    "headers": {"Content-Range": {"schema": {"type": "string"}}},
                    "content": {
                        "application/json": {
                            "schema": error_case([0], {"const": "Requested range not satisfiable"})
                        }
                    },
                },
            },
        }
    }


# ----------------------------------------------------------------- the socket, this document
def _socket() -> Schema:
    return {
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
                    "content": {"application/json": {"schema": error_case([0])}},
                }
            },
        }
    }


def _document() -> Schema:
    return {
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
    }
