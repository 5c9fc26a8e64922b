"""The ``/v1`` REST surface: read parameters, call the backend, serialise. Nothing more.

Every endpoint is ``POST`` [docs]; anything else under ``/v1`` is the documented
404. Public file URLs (uploads under ``/v1/File/...``, outputs under ``/cdn/...``)
are ``GET`` and need no credentials: the access key in the URL is the credential.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Collection
from functools import partial
from typing import Any

from flask import Blueprint, Response, request, send_file
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from ..engine.backend import Backend, TaskRef, Upload
from ..engine.catalog import CATALOG, ModelSpec
from ..engine.models import Project, Task
from ..engine.params import int_field, parse_run_params, require
from ..errors import MissingFileError, UrlError, ValidationError
from ..settings import MAX_JSON_BODY_BYTES, Settings, is_trusted_host
from . import wire
from .context import current_backend, request_state
from .tool import TOOL_LIST_LIST_FIELDS, tool_detail, tool_explore, tool_list

__all__ = ["ROUTES", "BodyTooLarge", "api", "backend", "read_fields", "read_small_body"]

api = Blueprint("wiro_api", __name__)

Fields = dict[str, str]
"""A request's fields, as the strings the API treats them as."""
Files = dict[str, list[FileStorage]]
"""Every (non-empty) file part, by name, in order."""
Lists = dict[str, list[str]]
"""The text entries of fields that take arrays (JSON arrays, repeated keys)."""
Handler = Callable[[Backend, Project, Fields, Files, Lists], dict[str, Any]]


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


def _entries(name: str, value: object) -> list[str]:
    """A list field's JSON value as its text entries: a string (or number) is one entry,
    an array of strings is its entries; anything else is a code-0 error naming it."""
    if not isinstance(value, list):
        if isinstance(value, dict):
            raise ValidationError(
                f"Request parameter [{name}] must be a string or an array of strings; "
                f"got {type(value).__name__}"
            )
        text = _to_str(name, value)
        return [text] if text != "" else []
    for item in value:
        if not isinstance(item, str):
            raise ValidationError(
                f"Request parameter [{name}] must be a string or an array of strings; "
                f"got an array holding {'null' if item is None else type(item).__name__}"
            )
    return list(value)


def _json_fields(list_fields: Collection[str]) -> tuple[Fields, Files, Lists]:
    raw = read_small_body()
    if not raw.strip():
        return {}, {}, {}
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
    fields: Fields = {}
    lists: Lists = {}
    for key, value in body.items():
        name = str(key)
        if name in list_fields and isinstance(value, list | dict):
            lists[name] = _entries(name, value)
        else:
            fields[name] = _to_str(name, value)
    return fields, {}, lists


def _multipart_fields(list_fields: Collection[str]) -> tuple[Fields, Files, Lists]:
    if None in request.form or None in request.files:  # werkzeug keys a nameless part None
        raise ValidationError(
            "Request parameters are invalid: a multipart part has no name "
            '(Content-Disposition: form-data; name="...")'
        )
    form, parts = request.form, request.files
    fields = {key: form.get(key, "") for key in form if key not in list_fields}
    lists = {key: form.getlist(key) for key in form if key in list_fields}
    files = {key: [f for f in parts.getlist(key) if f.filename] for key in parts}
    files = {key: found for key, found in files.items() if found}
    for key in parts:
        if key not in files and key not in list_fields:  # an empty file part: an empty field
            fields.setdefault(key, "")
    return fields, files, lists


def read_fields(list_fields: Collection[str] = ()) -> tuple[Fields, Files, Lists]:
    """The request's fields (strings, as the API treats them), uploaded files (every
    file part, by name) and the text entries of ``list_fields`` (names that take JSON
    arrays or repeated keys: a model's file inputs [clients: issue 17 finding 1])."""
    mimetype = request.mimetype
    if mimetype == "application/json":
        return _json_fields(list_fields)
    if mimetype == "application/x-www-form-urlencoded":
        raw = read_small_body()
        # werkzeug's own parser, on the bytes read (bounded), as request.form would be
        _, form, _ = request.make_form_data_parser().parse(
            io.BytesIO(raw), mimetype, len(raw), request.mimetype_params
        )
        fields = {key: form.get(key, "") for key in form if key not in list_fields}
        return fields, {}, {key: form.getlist(key) for key in form if key in list_fields}
    if mimetype == "multipart/form-data":
        return _multipart_fields(list_fields)
    if not request.content_length and not mimetype:
        return {}, {}, {}
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
def _run(
    model: ModelSpec, b: Backend, project: Project, fields: Fields, files: Files, lists: Lists
) -> dict[str, Any]:
    counts = {name: len(parts) for name, parts in files.items()}
    params = parse_run_params(fields, counts, b.settings, lists=lists)
    image = model.param("inputImageFirst")
    names = [image.id, *(image.aliases if b.settings.accept_image_aliases else ())]
    file = next((files[n][0] for n in names if n in files), None)
    upload = Upload(file.filename or "image", file.stream) if file is not None else None
    # a URL naming the fake's own file may name it at the host this request reached
    url = b.files.resolve_url(params.image_url, request.host) if upload is None else None
    match = dict(request.headers.items())  # for header-matched scenarios
    task = b.run(project, params, upload, image=url, match=match)
    request_state().journal_extra["task"] = task.id  # the journal need not parse the answer
    return {"errors": [], "taskid": task.id, "socketaccesstoken": task.token, "result": True}


def _tasklist(b: Backend, tasks: list[Task]) -> list[dict[str, Any]]:
    with b.state_lock:  # a consistent picture of a running task
        return [wire.task_detail(task, b.url_for) for task in tasks]


def _detail(
    b: Backend, project: Project, fields: Fields, files: Files, lists: Lists
) -> dict[str, Any]:
    task = b.find_task(project, TaskRef.from_params(fields))
    return {"total": "1", "errors": [], "tasklist": _tasklist(b, [task]), "result": True}


def _cancel(
    b: Backend, project: Project, fields: Fields, files: Files, lists: Lists
) -> dict[str, Any]:
    task = b.cancel(project, TaskRef.from_params(fields))
    return {"errors": [], "tasklist": _tasklist(b, [task]), "result": True}


def _kill(
    b: Backend, project: Project, fields: Fields, files: Files, lists: Lists
) -> dict[str, Any]:
    task = b.kill(project, TaskRef.from_params(fields))
    return {"errors": [], "tasklist": _tasklist(b, [task]), "result": True}


def _list(
    b: Backend, project: Project, fields: Fields, files: Files, lists: Lists
) -> dict[str, Any]:
    start = int_field(fields, "start", 0, 0, 10**9)
    limit = int_field(fields, "limit", 20, 1, 1000)
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


def _io_delete(
    b: Backend, project: Project, fields: Fields, files: Files, lists: Lists
) -> dict[str, Any]:
    b.input_output_delete(project, TaskRef.from_params(fields))
    return {"errors": [], "result": True}


def _folder_create(
    b: Backend, project: Project, fields: Fields, files: Files, lists: Lists
) -> dict[str, Any]:
    folder = b.folder_create(project, require(fields, "name"), fields.get("parentid", ""))
    return {"result": True, "errors": [], "list": [wire.folder_item(folder)]}


def _upload(
    b: Backend, project: Project, fields: Fields, files: Files, lists: Lists
) -> dict[str, Any]:
    file = files.get("file", [None])[0]
    if file is None:
        raise ValidationError("Request files [file] required")
    stored = b.upload(
        project, Upload(file.filename or "file", file.stream), fields.get("folderid", "")
    )
    return {"result": True, "errors": [], "list": [wire.file_item(s, b.url_for) for s in stored]}


def _tool_detail(
    b: Backend, project: Project, fields: Fields, files: Files, lists: Lists
) -> dict[str, Any]:
    found = tool_detail(fields, CATALOG, case_insensitive=b.settings.slug_case_insensitive)
    return {"result": True, "errors": [], "tool": [found]}


def _tool_list(
    b: Backend, project: Project, fields: Fields, files: Files, lists: Lists
) -> dict[str, Any]:
    return tool_list(fields, lists, CATALOG)


def _tool_explore(
    b: Backend, project: Project, fields: Fields, files: Files, lists: Lists
) -> dict[str, Any]:
    return tool_explore(CATALOG)


ROUTES: dict[str, Handler] = {
    **{model.run_path: partial(_run, model) for model in CATALOG},
    "Task/Detail": _detail,
    "Task/Cancel": _cancel,
    "Task/Kill": _kill,
    "Task/List": _list,
    "Task/InputOutputDelete": _io_delete,
    "File/FolderCreate": _folder_create,
    "File/Upload": _upload,
    "Tool/Detail": _tool_detail,
    "Tool/List": _tool_list,
    "Tool/Explore": _tool_explore,
}
"""Every ``/v1`` endpoint by path; a model's Run also answers at its display slugs (and,
with ``Settings.slug_case_insensitive``, in any case)."""

_LIST_FIELDS: dict[str, frozenset[str]] = {"Tool/List": TOOL_LIST_LIST_FIELDS}
"""Non-Run endpoints whose fields may be arrays."""


@api.route("/v1/<path:path>", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def dispatch(path: str) -> dict[str, Any]:
    """Every ``/v1`` endpoint: route, authenticate, parse, call."""
    b = backend()
    route = _route(path, b.settings)
    if route is None or request.method != "POST":
        raise UrlError()
    handler, list_fields = route
    project = _authenticate(b)
    s = b.settings
    if is_trusted_host(request.host, s.public_url, s.allowed_hosts):
        # only an authenticated request naming an address (or a trusted name) says where
        # the fake is: an anonymous or rebound Host never becomes the base of file URLs
        b.files.adopt_host(request.host_url)
    else:
        b.files.note_untrusted_host(request.host)
    fields, files, lists = read_fields(list_fields)
    state = request_state()  # for the journal
    state.fields = {**fields, **{k: json.dumps(v) for k, v in lists.items()}}
    state.files = {k: ", ".join(f.filename or "" for f in found) for k, found in files.items()}
    return handler(b, project, fields, files, lists)


def _route(path: str, settings: Settings) -> tuple[Handler, Collection[str]] | None:
    """The handler of ``path`` and the fields it takes as lists; None: no such path."""
    if path.startswith("Run/"):
        model = CATALOG.find_run(path, settings.slug_case_insensitive)
        if model is None:
            return None
        return partial(_run, model), model.list_fields(settings.accept_image_aliases)
    handler = ROUTES.get(path)
    return None if handler is None else (handler, _LIST_FIELDS.get(path, frozenset()))


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
