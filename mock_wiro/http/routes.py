"""The ``/v1`` REST surface: read parameters, call the backend, serialise. Nothing more.

Every endpoint is ``POST`` [docs]; anything else under ``/v1`` is the documented
404. Public file URLs (uploads under ``/v1/File/...``, outputs under ``/cdn/...``)
are ``GET`` and need no credentials: the access key in the URL is the credential.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request, send_file
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from ..engine.backend import Backend, TaskRef, Upload
from ..engine.models import Project, Task
from ..engine.params import parse_run_params, require
from ..errors import MissingFileError, UrlError, ValidationError
from ..settings import IMAGE_FIELD_ALIASES, MAX_JSON_BODY_BYTES, MAX_URL_CHARS, RUN_PATH
from . import wire
from .context import current_backend, request_state
from .tool import tool_detail

__all__ = ["ROUTES", "BodyTooLarge", "api", "backend", "read_fields", "read_small_body"]

api = Blueprint("wiro_api", __name__)

Fields = dict[str, str]
Files = dict[str, FileStorage]
Handler = Callable[[Backend, Project, Fields, Files], dict[str, Any]]


def backend() -> Backend:
    """The backend of the running app."""
    return current_backend()


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


class BodyTooLarge(RequestEntityTooLarge):
    """A JSON or url-encoded body over ``limit`` bytes (answered 413 by the app)."""

    def __init__(self, limit: int, size: int | None) -> None:
        came = f"{size} bytes" if size is not None else "more than that"
        super().__init__(
            f"Request body too large: a JSON or url-encoded body may be at most {limit} bytes "
            f"({limit / 2**20:.3g} MB); got {came}"
        )
        self.limit = limit
        self.size = size


def read_small_body(limit: int = MAX_JSON_BODY_BYTES) -> bytes:
    """The whole request body, or :class:`BodyTooLarge` when it is over ``limit`` bytes.

    Never reads more than ``limit + 1`` bytes, with or without a Content-Length (a
    chunked body has none), and nothing at all when the Content-Length is too large.
    """
    length = request.content_length
    if length is not None and length > limit:
        raise BodyTooLarge(limit, length)
    stream = request.stream
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = stream.read(limit + 1 - total)  # may return less: keep reading to EOF
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise BodyTooLarge(limit, length)
    return b"".join(chunks)


def read_fields() -> tuple[Fields, Files]:
    """The request's fields (all strings, as the API treats them) and uploaded files."""
    mimetype = request.mimetype
    if mimetype == "application/json":
        raw = read_small_body()
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
    if mimetype == "application/x-www-form-urlencoded":
        raw = read_small_body()
        # werkzeug's own parser, on the bytes read (bounded), as request.form would be
        _, form, _ = request.make_form_data_parser().parse(
            io.BytesIO(raw), mimetype, len(raw), request.mimetype_params
        )
        return {key: form.get(key, "") for key in form}, {}
    if mimetype == "multipart/form-data":
        if None in request.form or None in request.files:  # werkzeug keys a nameless part None
            raise ValidationError(
                "Request parameters are invalid: a multipart part has no name "
                '(Content-Disposition: form-data; name="...")'
            )
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
_URL_FIELDS = ("inputImageFirstUrl", "inputImageFirst", "callbackUrl")


def _check_url_lengths(b: Backend, fields: Fields, files: Files) -> None:
    """URL fields longer than ``MAX_URL_CHARS`` are a validation error [A]. (A file sent
    as ``inputImageFirst`` is not a URL, and is not checked.)"""
    names = list(_URL_FIELDS)
    if b.settings.accept_image_aliases:
        names += list(IMAGE_FIELD_ALIASES)
    for name in names:
        value = fields.get(name, "")
        if name not in files and len(value) > MAX_URL_CHARS:
            raise ValidationError(
                f"Request parameter [{name}] must be at most {MAX_URL_CHARS} characters; "
                f"got {len(value)}"
            )


def _run(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    _check_url_lengths(b, fields, files)
    params = parse_run_params(fields, files.keys(), b.settings)
    names = ["inputImageFirst"]
    if b.settings.accept_image_aliases:
        names += [a for a, n in IMAGE_FIELD_ALIASES.items() if n == "inputImageFirst"]
    file = next((files[n] for n in names if n in files), None)
    upload = Upload(file.filename or "image", file.stream) if file is not None else None
    # a URL naming the fake's own file may name it at the host this request reached
    image = b.files.resolve_url(params.image_url, request.host) if upload is None else None
    match = dict(request.headers.items())  # for header-matched scenarios
    task = b.run(project, params, upload, image=image, match=match)
    return {"errors": [], "taskid": task.id, "socketaccesstoken": task.token, "result": True}


def _tasklist(b: Backend, tasks: list[Task]) -> list[dict[str, Any]]:
    with b.state_lock:  # a consistent picture of a running task
        return [wire.task_detail(task, b.url_for) for task in tasks]


def _detail(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    task = b.find_task(project, TaskRef.from_params(fields))
    return {"total": "1", "errors": [], "tasklist": _tasklist(b, [task]), "result": True}


def _cancel(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    task = b.cancel(project, TaskRef.from_params(fields))
    return {"errors": [], "tasklist": _tasklist(b, [task]), "result": True}


def _kill(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    task = b.kill(project, TaskRef.from_params(fields))
    return {"errors": [], "tasklist": _tasklist(b, [task]), "result": True}


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
        "tasklist": _tasklist(b, tasks),
        "result": True,
    }


def _io_delete(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    b.input_output_delete(project, TaskRef.from_params(fields))
    return {"errors": [], "result": True}


def _folder_create(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    folder = b.folder_create(project, require(fields, "name"), fields.get("parentid", ""))
    return {"result": True, "errors": [], "list": [wire.folder_item(folder)]}


def _upload(b: Backend, project: Project, fields: Fields, files: Files) -> dict[str, Any]:
    file = files.get("file")
    if file is None:
        raise ValidationError("Request files [file] required")
    stored = b.upload(
        project, Upload(file.filename or "file", file.stream), fields.get("folderid", "")
    )
    return {"result": True, "errors": [], "list": [wire.file_item(s, b.url_for) for s in stored]}


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
    b.files.adopt_host(request.host_url)
    project = _authenticate(b)
    fields, files = read_fields()
    state = request_state()  # for the journal
    state.fields = fields
    state.files = {k: f.filename or "" for k, f in files.items()}
    return handler(b, project, fields, files)


def _shown_inline(contenttype: str) -> bool:
    """Images and videos are shown in the browser; anything else (HTML, SVG, text, ...)
    could run script at the fake's origin, the control surface's, so it is downloaded."""
    kind = contenttype.partition(";")[0].strip().lower()
    return kind.startswith(("image/", "video/")) and kind != "image/svg+xml"


def _serve(route: str, accesskey: str, name: str) -> Response:
    stored = backend().public_file(route, accesskey, name)
    if stored is None or not stored.disk_path.exists():
        raise MissingFileError("File not found.")
    inline = _shown_inline(stored.contenttype)
    response = send_file(
        stored.disk_path,
        mimetype=stored.contenttype,
        conditional=True,
        download_name=stored.name,
        as_attachment=not inline,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    if not inline:
        response.headers["Content-Security-Policy"] = "sandbox"
    return response


@api.get("/v1/File/<accesskey>/<name>")
def upload_file(accesskey: str, name: str) -> Response:
    """An uploaded file's public URL (as in the seed's ``parameters``)."""
    return _serve("file", accesskey, name)


@api.get("/cdn/<accesskey>/<name>")
def output_file(accesskey: str, name: str) -> Response:
    """An output's public URL (the fake's stand-in for ``cdn1.wiro.ai``)."""
    return _serve("cdn", accesskey, name)
