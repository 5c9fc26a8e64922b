"""The ``/v1`` REST surface: read parameters, call the backend, serialise. Nothing more.

Every endpoint is ``POST`` [docs]; anything else under ``/v1`` is the documented
404. Public file URLs (uploads under ``/v1/File/...``, outputs under ``/cdn/...``)
are ``GET`` and need no credentials: the access key in the URL is the credential.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, request, send_file
from werkzeug.datastructures import FileStorage

from .backend import Backend, TaskRef, Upload
from .errors import MissingFileError, UrlError, ValidationError
from .models import Project
from .params import parse_run_params, require
from .settings import IMAGE_FIELD_ALIASES, RUN_PATH
from .tool import tool_detail

__all__ = ["ROUTES", "api", "backend", "read_fields"]

api = Blueprint("wiro_api", __name__)

Fields = dict[str, str]
Files = dict[str, FileStorage]
Handler = Callable[[Backend, Project, Fields, Files], dict[str, Any]]


def backend() -> Backend:
    """The backend of the running app."""
    found: Backend = current_app.extensions["mock_wiro"]
    return found


def _to_str(name: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValidationError(
        f"Request parameter [{name}] must be a string or number; got {type(value).__name__}"
    )


def read_fields() -> tuple[Fields, Files]:
    """The request's fields (all strings, as the API treats them) and uploaded files."""
    mimetype = request.mimetype
    if mimetype == "application/json":
        raw = request.get_data(cache=False)
        if not raw.strip():
            return {}, {}
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            raise ValidationError(
                f"Request parameters are invalid: the body is not valid JSON ({exc})"
            ) from None
        if not isinstance(body, dict):
            raise ValidationError(
                "Request parameters are invalid: the JSON body must be an object, "
                f"got {type(body).__name__}"
            )
        return {str(k): _to_str(str(k), v) for k, v in body.items()}, {}
    if mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields = {key: request.form.get(key, "") for key in request.form}
        files = {key: f for key, f in request.files.items() if f.filename}
        for key, f in request.files.items():
            if not f.filename:  # an empty file part is an empty field
                fields.setdefault(key, "")
        return fields, files
    if not request.content_length and not mimetype:
        return {}, {}
    raise ValidationError(
        f"Request parameters are invalid: unsupported Content-Type {mimetype or 'none'!r}; "
        "send application/json, multipart/form-data or application/x-www-form-urlencoded"
    )


def _authenticate(b: Backend) -> Project:
    headers = request.headers
    return b.authenticate(
        headers.get("x-api-key", "").strip(),
        headers.get("x-nonce", "").strip(),
        headers.get("x-signature", "").strip(),
    )


# ---------------------------------------------------------------- handlers
def _run(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    params = parse_run_params(fields, files.keys(), b.settings)
    names = ["inputImageFirst"]
    if b.settings.accept_image_aliases:
        names += [a for a, n in IMAGE_FIELD_ALIASES.items() if n == "inputImageFirst"]
    file = next((files[n] for n in names if n in files), None)
    upload = Upload(file.filename or "image", file.stream) if file is not None else None
    task = b.run(project, params, upload, request_host=request.host)
    return {"errors": [], "taskid": task.id, "socketaccesstoken": task.token, "result": True}


def _detail(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    task = b.find_task(project, TaskRef.from_params(fields))
    return {"total": "1", "errors": [], "tasklist": [b.task_to_wire(task)], "result": True}


def _cancel(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    task = b.cancel(project, TaskRef.from_params(fields))
    return {"errors": [], "tasklist": [b.task_to_wire(task)], "result": True}


def _kill(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    task = b.kill(project, TaskRef.from_params(fields))
    return {"errors": [], "tasklist": [b.task_to_wire(task)], "result": True}


def _int_field(fields: Fields, name: str, default: int, low: int, high: int) -> int:
    value = fields.get(name, "") or str(default)
    try:
        number = float(value)
    except ValueError:
        raise ValidationError(f"Request parameter [{name}] must be integer or float") from None
    if not low <= number <= high:
        raise ValidationError(f"Request parameter [{name}] must be between {low} and {high}")
    return int(number)


def _list(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    start = _int_field(fields, "start", 0, 0, 10**9)
    limit = _int_field(fields, "limit", 20, 1, 1000)
    order = (fields.get("order", "") or "DESC").upper()
    if order not in ("ASC", "DESC"):
        raise ValidationError(f"Request parameter [order] must be one of ASC, DESC; got {order!r}")
    total, tasks = b.list_tasks(project, start=start, limit=limit, descending=order == "DESC")
    return {
        "total": str(total),
        "errors": [],
        "tasklist": [b.task_to_wire(t) for t in tasks],
        "result": True,
    }


def _io_delete(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    b.input_output_delete(project, TaskRef.from_params(fields))
    return {"errors": [], "result": True}


def _folder_create(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    folder = b.folder_create(project, require(fields, "name"), fields.get("parentid", ""))
    return {"result": True, "errors": [], "list": [b.folder_to_wire(folder)]}


def _upload(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    file = files.get("file")
    if file is None:
        raise ValidationError("Request files [file] required")
    stored = b.upload(
        project, Upload(file.filename or "file", file.stream), fields.get("folderid", "")
    )
    return {"result": True, "errors": [], "list": [b.file_to_wire(s) for s in stored]}


def _tool_detail(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    return {"result": True, "errors": [], "tool": [tool_detail(fields)]}


ROUTES: dict[str, Handler] = {
    RUN_PATH: _run,
    "Task/Detail": _detail,
    "Task/Cancel": _cancel,
    "Task/Kill": _kill,
    "Task/List": _list,
    "Task/InputOutputDelete": _io_delete,
    "File/FolderCreate": _folder_create,
    "File/Upload": _upload,
    "Tool/Detail": _tool_detail,
}


@api.route("/v1/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def dispatch(path: str) -> dict[str, Any]:
    """Every ``/v1`` endpoint: route, authenticate, parse, call."""
    handler = ROUTES.get(path)
    if handler is None or request.method != "POST":
        raise UrlError()
    b = backend()
    project = _authenticate(b)
    fields, files = read_fields()
    return handler(b, project, fields, files)


def _serve(route: str, accesskey: str, name: str) -> Response:
    stored = backend().public_file(route, accesskey, name)
    if stored is None or not stored.disk_path.exists():
        raise MissingFileError("File not found.")
    return send_file(stored.disk_path, mimetype=stored.contenttype, conditional=True)


@api.get("/v1/File/<accesskey>/<name>")
def upload_file(accesskey: str, name: str) -> Response:
    """An uploaded file's public URL (as in the seed's ``parameters``)."""
    return _serve("file", accesskey, name)


@api.get("/cdn/<accesskey>/<name>")
def output_file(accesskey: str, name: str) -> Response:
    """An output's public URL (the fake's stand-in for ``cdn1.wiro.ai``)."""
    return _serve("cdn", accesskey, name)
