"""The ``/v1`` REST surface: read parameters, call the backend, serialise. Nothing more.

Every endpoint is ``POST`` [docs]; anything else under ``/v1`` is the documented
404. Public file URLs (uploads under ``/v1/File/...``, outputs under ``/cdn/...``)
are ``GET`` and need no credentials: the access key in the URL is the credential.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import Blueprint, Response, request, send_file
from werkzeug import Request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from ..engine.backend import Backend, TaskRef, Upload
from ..engine.catalog import CATALOG, ModelSpec
from ..engine.models import Project, Task
from ..engine.params import int_field, parse_run_params, require
from ..errors import MissingFileError, UrlError, ValidationError
from ..settings import MAX_JSON_BODY_BYTES, Settings, is_trusted_host
from . import wire
from .context import RequestState, current_backend, request_state
from .tool import TOOL_LIST_LIST_FIELDS, tool_detail, tool_explore, tool_list

__all__ = [
    "ROUTES",
    "BodyTooLarge",
    "Call",
    "Route",
    "api",
    "backend",
    "find_route",
    "read_fields",
    "read_small_body",
    "serve",
    "too_large_message",
]

api = Blueprint("wiro_api", __name__)

Fields = dict[str, str]
"""A request's fields, as the strings the API treats them as."""
Files = dict[str, list[FileStorage]]
"""Every (non-empty) file part, by name, in order."""
Lists = dict[str, list[str]]
"""The text entries of fields that take arrays (JSON arrays, repeated keys)."""


@dataclass(slots=True)
class Call:
    """One authenticated ``/v1`` call, as its handler sees it."""

    b: Backend
    req: Request
    """The request (Flask's, or a plain werkzeug one on the fast path: :mod:`.fast`)."""
    state: RequestState
    project: Project
    fields: Fields
    files: Files
    lists: Lists


Handler = Callable[[Call], dict[str, Any]]
Route = tuple[Handler, Collection[str]]
"""An endpoint: its handler and the fields it takes as lists."""


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


def too_large_message(
    exc: RequestEntityTooLarge, upload_max_bytes: int, content_length: int | None
) -> str:
    """The message of a 413: a JSON or url-encoded body over its own limit
    (:class:`BodyTooLarge`), or any body over the upload limit."""
    if isinstance(exc, BodyTooLarge):
        return exc.description or "Request body too large"
    came = f"{content_length} bytes" if content_length is not None else "more than that"
    return (
        f"Request body too large: the upload limit is {upload_max_bytes} bytes "
        f"({upload_max_bytes / 2**20:.3g} MB); got {came}"
    )


def read_small_body(limit: int = MAX_JSON_BODY_BYTES, req: Request | None = None) -> bytes:
    """The whole body of ``req`` (by default Flask's request), or :class:`BodyTooLarge`
    when it is over ``limit`` bytes.

    Never reads more than ``limit + 1`` bytes, with or without a Content-Length (a
    chunked body has none), and nothing at all when the Content-Length is too large.
    """
    if req is None:
        req = request
    length = req.content_length
    if length is not None and length > limit:
        raise BodyTooLarge(limit, length)
    stream = req.stream
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


def _json_fields(req: Request, list_fields: Collection[str]) -> tuple[Fields, Files, Lists]:
    raw = read_small_body(req=req)
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


def _multipart_fields(req: Request, list_fields: Collection[str]) -> tuple[Fields, Files, Lists]:
    if None in req.form or None in req.files:  # werkzeug keys a nameless part None
        raise ValidationError(
            "Request parameters are invalid: a multipart part has no name "
            '(Content-Disposition: form-data; name="...")'
        )
    form, parts = req.form, req.files
    fields = {key: form.get(key, "") for key in form if key not in list_fields}
    lists = {key: form.getlist(key) for key in form if key in list_fields}
    files = {key: [f for f in parts.getlist(key) if f.filename] for key in parts}
    files = {key: found for key, found in files.items() if found}
    for key in parts:
        if key not in files and key not in list_fields:  # an empty file part: an empty field
            fields.setdefault(key, "")
    return fields, files, lists


def read_fields(req: Request, list_fields: Collection[str] = ()) -> tuple[Fields, Files, Lists]:
    """The fields of ``req`` (strings, as the API treats them), uploaded files (every
    file part, by name) and the text entries of ``list_fields`` (names that take JSON
    arrays or repeated keys: a model's file inputs [clients: issue 17 finding 1])."""
    mimetype = req.mimetype
    if mimetype == "application/json":
        return _json_fields(req, list_fields)
    if mimetype == "application/x-www-form-urlencoded":
        raw = read_small_body(req=req)
        # werkzeug's own parser, on the bytes read (bounded), as request.form would be
        _, form, _ = req.make_form_data_parser().parse(
            io.BytesIO(raw), mimetype, len(raw), req.mimetype_params
        )
        fields = {key: form.get(key, "") for key in form if key not in list_fields}
        return fields, {}, {key: form.getlist(key) for key in form if key in list_fields}
    if mimetype == "multipart/form-data":
        return _multipart_fields(req, list_fields)
    if not req.content_length and not mimetype:
        return {}, {}, {}
    raise ValidationError(
        f"Request parameters are invalid: unsupported Content-Type {mimetype or 'none'!r}; "
        "send application/json, multipart/form-data or application/x-www-form-urlencoded"
    )


def _authenticate(b: Backend, req: Request) -> Project:
    headers = req.headers
    return b.authenticate(
        headers.get("x-api-key", "").strip(),
        headers.get("x-nonce", "").strip(),
        headers.get("x-signature", "").strip(),
    )


# ---------------------------------------------------------------- handlers
def _run(model: ModelSpec, c: Call) -> dict[str, Any]:
    b, files = c.b, c.files
    counts = {name: len(parts) for name, parts in files.items()}
    params = parse_run_params(c.fields, counts, b.settings, lists=c.lists)
    image = model.param("inputImageFirst")
    names = [image.id, *(image.aliases if b.settings.accept_image_aliases else ())]
    file = next((files[n][0] for n in names if n in files), None)
    upload = Upload(file.filename or "image", file.stream) if file is not None else None
    # a URL naming the fake's own file may name it at the host this request reached
    url = b.files.resolve_url(params.image_url, c.req.host) if upload is None else None
    match = dict(c.req.headers.items())  # for header-matched scenarios
    task = b.run(c.project, params, upload, image=url, match=match)
    c.state.journal_extra["task"] = task.id  # the journal need not parse the answer
    return {"errors": [], "taskid": task.id, "socketaccesstoken": task.token, "result": True}


def _tasklist(b: Backend, tasks: list[Task]) -> list[dict[str, Any]]:
    with b.state_lock:  # a consistent picture of a running task
        return [wire.task_detail_shared(task, b.url_for) for task in tasks]


def _detail(c: Call) -> dict[str, Any]:
    task = c.b.find_task(c.project, TaskRef.from_params(c.fields))
    return {"total": "1", "errors": [], "tasklist": _tasklist(c.b, [task]), "result": True}


def _cancel(c: Call) -> dict[str, Any]:
    task = c.b.cancel(c.project, TaskRef.from_params(c.fields))
    return {"errors": [], "tasklist": _tasklist(c.b, [task]), "result": True}


def _kill(c: Call) -> dict[str, Any]:
    task = c.b.kill(c.project, TaskRef.from_params(c.fields))
    return {"errors": [], "tasklist": _tasklist(c.b, [task]), "result": True}


def _list(c: Call) -> dict[str, Any]:
    fields = c.fields
    start = int_field(fields, "start", 0, 0, 10**9)
    limit = int_field(fields, "limit", 20, 1, 1000)
    order = (fields.get("order", "") or "DESC").upper()
    if order not in ("ASC", "DESC"):
        raise ValidationError(f"Request parameter [order] must be one of ASC, DESC; got {order!r}")
    total, tasks = c.b.list_tasks(c.project, start=start, limit=limit, descending=order == "DESC")
    return {
        "total": str(total),
        "errors": [],
        "tasklist": _tasklist(c.b, tasks),
        "result": True,
    }


def _io_delete(c: Call) -> dict[str, Any]:
    c.b.input_output_delete(c.project, TaskRef.from_params(c.fields))
    return {"errors": [], "result": True}


def _folder_create(c: Call) -> dict[str, Any]:
    folder = c.b.folder_create(c.project, require(c.fields, "name"), c.fields.get("parentid", ""))
    return {"result": True, "errors": [], "list": [wire.folder_item(folder)]}


def _upload(c: Call) -> dict[str, Any]:
    file = c.files.get("file", [None])[0]
    if file is None:
        raise ValidationError("Request files [file] required")
    stored = c.b.upload(
        c.project, Upload(file.filename or "file", file.stream), c.fields.get("folderid", "")
    )
    return {
        "result": True,
        "errors": [],
        "list": [wire.file_item(s, c.b.url_for) for s in stored],
    }


def _tool_detail(c: Call) -> dict[str, Any]:
    found = tool_detail(c.fields, CATALOG, case_insensitive=c.b.settings.slug_case_insensitive)
    return {"result": True, "errors": [], "tool": [found]}


def _tool_list(c: Call) -> dict[str, Any]:
    return tool_list(c.fields, c.lists, CATALOG)


def _tool_explore(c: Call) -> dict[str, Any]:
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
    """Every ``/v1`` endpoint, through Flask (the fast path, :mod:`.fast`, serves most
    signed JSON calls without it, with the same :func:`serve`)."""
    req = request._get_current_object()  # type: ignore[attr-defined]  # the proxied object
    return serve(backend(), req, request_state(), path)


def serve(
    b: Backend, req: Request, state: RequestState, path: str, route: Route | None = None
) -> dict[str, Any]:
    """A ``/v1`` endpoint: route (unless the caller did: ``route``), authenticate, parse,
    call; the answer's JSON object, or a :class:`~mock_wiro.errors.WiroError` raised."""
    if route is None:
        route = find_route(path, b.settings)
    if route is None or req.method != "POST":
        raise UrlError()
    handler, list_fields = route
    project = _authenticate(b, req)
    s = b.settings
    if is_trusted_host(req.host, s.public_url, s.allowed_hosts):
        # only an authenticated request naming an address (or a trusted name) says where
        # the fake is: an anonymous or rebound Host never becomes the base of file URLs
        if not b.files.public_url_fixed:  # (the first one settles it: no URL to build)
            b.files.adopt_host(req.host_url)
    else:
        b.files.note_untrusted_host(req.host)
    fields, files, lists = read_fields(req, list_fields)
    # for the journal
    state.fields = {**fields, **{k: json.dumps(v) for k, v in lists.items()}}
    state.files = {k: ", ".join(f.filename or "" for f in found) for k, found in files.items()}
    return handler(Call(b, req, state, project, fields, files, lists))


def find_route(path: str, settings: Settings) -> Route | None:
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
