"""Bad input gets a clear error in the API's envelope; the server stays up; nothing stored
is lost or written outside the fake's data folder.

Every test keeps a :class:`Guard`: a task and an upload made *before* the bad input.
After each bad request the guard checks that a normal signed request still works,
that the task's Task/Detail is unchanged and the upload still serves its bytes; at the
end, that the task still completes. Nothing sleeps: time moves with ``advance``.
"""

from __future__ import annotations

import http.client
import io
import json
import re
import socket
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mock_wiro.engine.params import RUN_FIELDS
from mock_wiro.engine.sqlite_store import STORE_FILES
from mock_wiro.server import MockWiroServer
from mock_wiro_fixtures import image_bytes
from tests.helpers.wiro import Wiro, make_server

RUN = "Run/minimax/hailuo-2-3-fast"
EXTERNAL = "https://cdn.wiro.ai/uploads/sampleinputs/minimax-haulio-2-3-fast-input-3.jpg"
JSON = {"Content-Type": "application/json"}
FINISH = 300
INVALID = "Request parameters are invalid"


class Guard:
    """State made before the bad input, checked after it."""

    def __init__(self, wiro: Wiro) -> None:
        self.wiro = wiro
        self.taskid: str = wiro.run()["taskid"]
        self.detail = wiro.detail(self.taskid)
        self.upload_bytes = image_bytes("edge_2x5.jpg")
        body = wiro.ok("File/Upload", files={"file": ("kept.jpg", self.upload_bytes)})
        self.upload_url: str = body["list"][0]["url"]

    def check(self) -> None:
        """The server answers, the task and the upload are as they were."""
        assert self.wiro.detail(self.taskid) == self.detail
        assert self.wiro.ok("Tool/Detail", json={})["tool"]
        response = requests.get(self.upload_url, timeout=10)
        assert response.status_code == 200 and response.content == self.upload_bytes

    def finish(self) -> None:
        """After the bad input, the task still runs to success."""
        self.check()
        self.wiro.server.backend.advance(FINISH)
        task = self.wiro.detail(self.taskid)
        assert task["status"] == "task_postprocess_end" and task["pexit"] == "0", task
        assert len(task["outputs"]) == 1


@pytest.fixture
def guard(wiro: Wiro) -> Guard:
    return Guard(wiro)


@pytest.fixture
def small_server() -> Iterator[MockWiroServer]:
    """A fake with a 1 MB upload limit, to cross it quickly."""
    with make_server(clock_mode="manual", upload_max_bytes=1_000_000) as srv:
        yield srv


def task_count(wiro: Wiro) -> int:
    return int(wiro.ok("Task/List", json={})["total"])


def envelope_error(response: requests.Response, status: int = 200, code: int = 0) -> str:
    """The contract's error envelope, exactly; returns the message."""
    return raw_envelope_error(
        response.status_code, response.headers["Content-Type"], response.content, status, code
    )


def raw_envelope_error(
    got_status: int, content_type: str, content: bytes, status: int = 200, code: int = 0
) -> str:
    assert got_status == status, content
    assert content_type == "application/json"
    body = json.loads(content)
    assert set(body) == {"result", "errors"} and body["result"] is False, body
    assert len(body["errors"]) == 1 and set(body["errors"][0]) == {"code", "message"}, body
    assert body["errors"][0]["code"] == code, body
    message: str = body["errors"][0]["message"]
    assert message, body
    return message


# ================================================================== bodies
MISSING_IMAGE = "Request files [inputImageFirst] required"
MISSING_ID = "taskid or socketaccesstoken is required"
BAD_BODIES: list[tuple[str, str, dict[str, Any], str]] = [
    # (id, endpoint, request arguments, the message: exact, or its start when it ends "...")
    ("json-malformed", "Task/Detail", {"data": b'{"taskid": ', "headers": JSON}, INVALID + "..."),
    ("json-malformed-run", RUN, {"data": b"{'prompt': 'x'}", "headers": JSON}, INVALID + "..."),
    ("json-trailing", "Task/List", {"data": b'{"start": 0} }', "headers": JSON}, INVALID + "..."),
    (
        "json-bad-utf8",
        "Task/Detail",
        {"data": b'{"taskid": "\xff"}', "headers": JSON},
        INVALID + "...",
    ),
    ("json-too-deep", "Task/Detail", {"data": b"[" * 100_000, "headers": JSON}, INVALID + "..."),
    (
        "json-too-deep-object",
        RUN,
        {"data": b'{"prompt": ' * 50_000, "headers": JSON},
        INVALID + "...",
    ),
    (
        "json-array",
        "Task/Detail",
        {"json": [{"taskid": "1"}]},
        INVALID + ": the JSON body must be an object, got list",
    ),
    ("json-array-run", RUN, {"json": [EXTERNAL]}, INVALID + ": the JSON body must be an object..."),
    ("json-string", "Task/Detail", {"json": "534574"}, INVALID + ": the JSON body must be an..."),
    ("json-null", "Task/List", {"data": b"null", "headers": JSON}, INVALID + ": the JSON body..."),
    (
        "text-plain",
        "Task/Detail",
        {"data": b"taskid=534574", "headers": {"Content-Type": "text/plain"}},
        INVALID + ": unsupported Content-Type 'text/plain'...",
    ),
    (
        "text-plain-run",
        RUN,
        {"data": EXTERNAL.encode(), "headers": {"Content-Type": "text/plain; charset=utf-8"}},
        INVALID + ": unsupported Content-Type 'text/plain'...",
    ),
    (
        "octet-stream-upload",
        "File/Upload",
        {"data": b"\x89PNG", "headers": {"Content-Type": "application/octet-stream"}},
        INVALID + ": unsupported Content-Type 'application/octet-stream'...",
    ),
    ("no-content-type", "Task/Detail", {"data": b'{"taskid": "1"}'}, INVALID + "..."),
    ("empty-run", RUN, {}, MISSING_IMAGE),
    ("empty-run-json", RUN, {"data": b"", "headers": JSON}, MISSING_IMAGE),
    ("empty-run-object", RUN, {"json": {}}, MISSING_IMAGE),
    ("empty-detail", "Task/Detail", {}, MISSING_ID),
    ("empty-detail-json", "Task/Detail", {"data": b"", "headers": JSON}, MISSING_ID),
    ("blank-detail-json", "Task/Detail", {"data": b" \r\n\t", "headers": JSON}, MISSING_ID),
    ("empty-kill", "Task/Kill", {}, MISSING_ID),
    ("empty-cancel", "Task/Cancel", {"json": {}}, MISSING_ID),
    ("empty-folder", "File/FolderCreate", {}, "Request parameter [name] required"),
    ("empty-upload", "File/Upload", {}, "Request files [file] required"),
    (
        "nested-object",
        "Task/Detail",
        {"json": {"taskid": {"id": "534574"}}},
        "Request parameter [taskid] must be a string or number; got dict",
    ),
    (
        "nested-list-run",
        RUN,
        {"json": {"inputImageFirstUrl": EXTERNAL, "prompt": ["a", "b"]}},
        "Request parameter [prompt] must be a string or number; got list",
    ),
    (
        "nested-url",
        RUN,
        {"json": {"inputImageFirstUrl": {"url": EXTERNAL}}},
        "Request parameter [inputImageFirstUrl] must be a string or number; got dict",
    ),
    (
        "nested-paging",
        "Task/List",
        {"json": {"limit": {"$gt": 1}}},
        "Request parameter [limit] must be a string or number; got dict",
    ),
    (
        "url-as-a-file",
        RUN,
        {"files": {"inputImageFirstUrl": ("a.jpg", b"\xff\xd8\xff")}},
        "Request parameter [inputImageFirstUrl] must be a URL...",
    ),
]


@pytest.mark.parametrize(
    ("path", "kwargs", "expected"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_bad_body_gets_the_envelope(
    wiro: Wiro, guard: Guard, path: str, kwargs: dict[str, Any], expected: str
) -> None:
    message = envelope_error(wiro.post(path, **kwargs))
    if expected.endswith("..."):
        assert message.startswith(expected[:-3]), message
    else:
        assert message == expected
    assert "Traceback" not in message and "Internal error" not in message
    assert task_count(wiro) == 1  # no task made
    guard.check()
    guard.finish()


def test_a_run_of_bad_bodies_in_a_row_changes_nothing(wiro: Wiro, guard: Guard) -> None:
    for _, path, kwargs, _ in BAD_BODIES:
        envelope_error(wiro.post(path, **kwargs))
    guard.check()
    guard.finish()


@pytest.mark.parametrize("field", ["foo", "Prompt", "input_image", "callbackURL"])
@pytest.mark.parametrize("form", ["json", "multipart"])
def test_unknown_run_field_is_rejected(wiro: Wiro, guard: Guard, field: str, form: str) -> None:
    fields = {"inputImageFirstUrl": EXTERNAL, field: "bar"}
    if form == "json":
        response = wiro.post(RUN, json=fields)
    else:
        response = wiro.post(RUN, files={k: (None, v) for k, v in fields.items()})
    message = envelope_error(response)
    assert message.startswith(f"Request parameter [{field}] is not a parameter"), message
    for name in RUN_FIELDS:  # it lists what is expected
        assert name in message, (name, message)
    assert task_count(wiro) == 1
    guard.finish()


def test_unknown_run_field_is_accepted_when_ignored() -> None:
    with make_server(clock_mode="manual", unknown_fields="ignore") as srv:
        wiro = Wiro(srv, srv.backend.create_project())
        with wiro.session:
            guard = Guard(wiro)
            taskid = wiro.ok(RUN, json={"inputImageFirstUrl": EXTERNAL, "foo": "bar"})["taskid"]
            data = {"inputImageFirstUrl": "", "foo": "bar"}
            files = {"inputImageFirst": ("a.jpg", image_bytes("landscape_16x9.jpg"))}
            other = wiro.ok(RUN, data=data, files=files)["taskid"]
            for task_id in (taskid, other):
                assert "foo" not in wiro.detail(task_id)["parameters"]
            guard.finish()
            for task_id in (taskid, other):
                assert wiro.detail(task_id)["pexit"] == "0"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("photo.png", b"this is not an image at all"),
        ("photo.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64),  # a JPEG header, then nothing
        ("empty.webp", b""),
        ("noext", bytes(range(256)) * 8),
    ],
)
def test_non_image_upload_fails_the_task_as_unreadable(
    wiro: Wiro, guard: Guard, name: str, data: bytes
) -> None:
    taskid = wiro.ok(RUN, files={"inputImageFirst": (name, data)})["taskid"]  # Run accepts [A]
    guard.check()
    guard.finish()
    task = wiro.detail(taskid)
    assert task["status"] == "task_postprocess_end" and task["pexit"] != "0"
    assert task["outputs"] == [] and "rule: unreadable" in task["debugerror"], task["debugerror"]
    # the bytes are kept as sent, and served back
    url = task["parameters"]["inputImageFirst"]
    assert requests.get(url, timeout=10).content == data


# ================================================================== file names
MARKER = f"evil-{uuid.uuid4().hex[:12]}"
EVIL_NAMES: list[tuple[str, str]] = [
    # (the file name the server receives, the name it stores)
    (f"../../{MARKER}.png", f"{MARKER}.png"),
    (f"../../../../../../../../tmp/{MARKER}.png", f"{MARKER}.png"),
    (f"..\\..\\{MARKER}.png", f"{MARKER}.png"),
    (f"..\\..\\..\\tmp\\{MARKER}.png", f"{MARKER}.png"),
    (f"/etc/{MARKER}.png", f"{MARKER}.png"),
    (f"/tmp/{MARKER}.png", f"{MARKER}.png"),
    (f"C:\\Windows\\System32\\{MARKER}.png", f"{MARKER}.png"),
    (f"\\\\server\\share\\{MARKER}.png", f"{MARKER}.png"),
    (f"a/../../{MARKER}.png", f"{MARKER}.png"),
    (f"files/../../{MARKER}.png", f"{MARKER}.png"),
    (f"..\\/..\\/{MARKER}.png", f"{MARKER}.png"),
    (f"./.{MARKER}.png", f"{MARKER}.png"),
    (f'{MARKER}".png', f"{MARKER}_.png"),
    (f"{MARKER}\t;.png", f"{MARKER}_.png"),
    ("..", "file"),
    ("...", "file"),
    (".", "file"),
    ("....", "file"),
    ("../..", "file"),
    ("..\\..\\..", "file"),
    ("/", "file"),
    ("\\", "file"),
]
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._ ()\-]*$")


def multipart_file(field: str, filename: str, data: bytes) -> dict[str, Any]:
    """Request arguments for a multipart body whose file part carries ``filename`` exactly
    (a quoted-string: backslashes and quotes escaped, which the server unescapes)."""
    boundary = "evil-b0undary-7f3a"
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{quoted}"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return {"data": body, "headers": {"Content-Type": f"multipart/form-data; boundary={boundary}"}}


def files_outside(root: Path, data_dir: Path) -> list[Path]:
    """Every file under ``root`` that is not under ``data_dir``."""
    return [p for p in root.rglob("*") if p.is_file() and data_dir not in p.parents]


def assert_nothing_escaped(root: Path, srv: MockWiroServer) -> None:
    data_dir = srv.backend.data_dir
    assert files_outside(root, data_dir) == []
    stored = sorted(p.name for p in (data_dir / "files").iterdir())
    assert all(re.fullmatch(r"[0-9a-f]{32}", name) for name in stored), stored
    # the durable store's database, its WAL files and its lock file (a data dir was given)
    assert {p.name for p in data_dir.iterdir()} <= {"files", "outputs", *STORE_FILES}
    for parent in (Path("/"), Path("/etc"), Path("/tmp"), Path.cwd(), data_dir.parent):
        assert not (parent / f"{MARKER}.png").exists()
    assert not list(Path("/tmp").glob(f"*{MARKER}*"))


def test_hostile_file_names_on_upload_and_run(tmp_path: Path) -> None:
    root = tmp_path / "outer"
    data_dir = root / "inner" / "data"
    with make_server(clock_mode="manual", data_dir=str(data_dir)) as srv:
        assert srv.backend.data_dir == data_dir
        wiro = Wiro(srv, srv.backend.create_project(balance="1000"))  # no concurrency limit
        with wiro.session:
            guard = Guard(wiro)
            runs = []
            for index, (name, stored) in enumerate(EVIL_NAMES):
                data = f"{index}: {name}".encode()
                body = wiro.ok("File/Upload", **multipart_file("file", name, data))
                item = body["list"][0]
                assert item["name"] == stored, (name, item["name"])
                assert SAFE_NAME.match(item["name"]) and ".." not in item["name"]
                assert item["size"] == str(len(data))
                assert requests.get(item["url"], timeout=10).content == data
                # the same name as a Run's image file
                image = image_bytes("landscape_16x9.jpg")
                run = wiro.ok(RUN, **multipart_file("inputImageFirst", name, image))
                url = wiro.detail(run["taskid"])["parameters"]["inputImageFirst"]
                assert re.fullmatch(r"inputImageFirst-\d{7}(\.png)?", url.rsplit("/", 1)[1]), url
                assert requests.get(url, timeout=10).content == image
                runs.append(run["taskid"])
                guard.check()
            assert_nothing_escaped(tmp_path, srv)
            guard.finish()
            for taskid in runs:  # the image was found under its safe name
                assert wiro.detail(taskid)["pexit"] == "0"
            assert_nothing_escaped(tmp_path, srv)


def test_hostile_file_names_inside_a_zip(tmp_path: Path) -> None:
    root = tmp_path / "outer"
    data_dir = root / "inner" / "data"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for index, (name, _) in enumerate(EVIL_NAMES):
            zf.writestr(zipfile.ZipInfo(name), f"{index}".encode())
    with make_server(clock_mode="manual", data_dir=str(data_dir)) as srv:
        wiro = Wiro(srv, srv.backend.create_project())
        with wiro.session:
            guard = Guard(wiro)
            body = wiro.ok("File/Upload", files={"file": ("evil.zip", buffer.getvalue())})
            names = [item["name"] for item in body["list"]]
            assert names and all(SAFE_NAME.match(n) and ".." not in n for n in names), names
            for item in body["list"]:
                assert requests.get(item["url"], timeout=10).status_code == 200
            assert_nothing_escaped(tmp_path, srv)
            guard.finish()


@pytest.mark.parametrize("name", ["...", "..", "."])
def test_file_name_of_only_dots(wiro: Wiro, guard: Guard, name: str) -> None:
    item = wiro.ok("File/Upload", files={"file": (name, b"dots")})["list"][0]
    assert item["name"] == "file" and item["contenttype"] == "application/octet-stream"
    assert requests.get(item["url"], timeout=10).content == b"dots"
    image = image_bytes("square.webp")
    taskid = wiro.ok(RUN, files={"inputImageFirst": (name, image)})["taskid"]
    guard.finish()
    task = wiro.detail(taskid)
    assert task["pexit"] == "0", task["debugerror"]  # recognised by content, not by name


# ================================================================== oversized uploads
def raw_exchange(port: int, head: bytes, body: bytes = b"", timeout: float = 10) -> bytes:
    """Send ``head`` (+ ``body``) on a fresh socket; read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(head + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, body


def test_oversized_upload_is_refused_without_reading_the_body(wiro: Wiro, guard: Guard) -> None:
    limit = wiro.server.settings.upload_max_bytes
    assert limit == 104_857_600
    length = 104_857_601 + 70_000  # over the limit even with the multipart framing
    lines = [
        "POST /v1/File/Upload HTTP/1.1",
        f"Host: 127.0.0.1:{wiro.server.port}",
        *[f"{key}: {value}" for key, value in wiro.headers().items()],
        "Content-Type: multipart/form-data; boundary=x",
        f"Content-Length: {length}",
        "",
        "",
    ]
    # no body is sent at all: an answer can only come from the headers
    raw = raw_exchange(wiro.server.port, "\r\n".join(lines).encode())
    status, headers, body = parse_response(raw)
    assert "close" in headers["connection"]
    assert len(body) == int(headers["content-length"])
    message = raw_envelope_error(status, headers["content-type"], body, status=413)
    assert str(limit) in message and "100 MB" in message and str(length) in message
    guard.check()
    guard.finish()


def chunked_multipart(size: int, name: str = "big.bin", boundary: str = "b0und") -> Iterator[bytes]:
    """A multipart body with one file part of ``size`` bytes, streamed in pieces."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    left = size
    while left:
        piece = min(left, 64 * 1024)
        yield b"z" * piece
        left -= piece
    yield f"\r\n--{boundary}--\r\n".encode()


def post_chunked(wiro: Wiro, size: int) -> requests.Response:
    headers = {"Content-Type": "multipart/form-data; boundary=b0und"}
    return wiro.post("File/Upload", data=chunked_multipart(size), headers=headers)


def test_chunked_and_plain_uploads_around_the_limit(small_server: MockWiroServer) -> None:
    srv = small_server
    limit = srv.settings.upload_max_bytes
    files_dir = srv.backend.data_dir / "files"
    wiro = Wiro(srv, srv.backend.create_project())
    with wiro.session:
        guard = Guard(wiro)
        kept = sorted(files_dir.iterdir())

        # a little over the limit: the whole body is read, the file is refused
        for response in (
            post_chunked(wiro, limit + 1),
            wiro.post("File/Upload", files={"file": ("big.bin", b"z" * (limit + 1))}),
        ):
            message = envelope_error(response)
            assert "big.bin" in message and str(limit) in message, message
            assert sorted(files_dir.iterdir()) == kept  # no partial file left behind
            guard.check()

        # far over: refused while streaming (chunked) or from Content-Length (plain)
        for response in (
            post_chunked(wiro, 3 * limit),
            wiro.post("File/Upload", files={"file": ("big.bin", b"z" * (2 * limit))}),
        ):
            message = envelope_error(response, status=413)
            assert message.startswith("Request body too large") and str(limit) in message
            assert "100 MB" not in message  # the message names the real limit
            assert sorted(files_dir.iterdir()) == kept
            guard.check()

        # a Run's image over the limit is refused the same way, and makes no task
        files = {"inputImageFirst": ("big.png", b"z" * (limit + 1))}
        assert str(limit) in envelope_error(wiro.post(RUN, files=files))
        assert task_count(wiro) == 1 and sorted(files_dir.iterdir()) == kept

        # exactly at the limit: accepted, both ways
        for response in (
            post_chunked(wiro, limit),
            wiro.post("File/Upload", files={"file": ("big.bin", b"z" * limit)}),
        ):
            assert response.status_code == 200 and response.json()["result"] is True
            item = response.json()["list"][0]
            assert item["size"] == str(limit)
            served = requests.get(item["url"], timeout=30)
            assert len(served.content) == limit and served.content == b"z" * limit
        assert len(list(files_dir.iterdir())) == len(kept) + 2
        guard.finish()


# ================================================================== public file URLs
def raw_get(srv: MockWiroServer, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalisation of ``..``)."""
    connection = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_traversal_on_public_file_urls(wiro: Wiro, guard: Guard) -> None:
    srv = wiro.server
    guard.finish()  # the guard's task has an output now
    output_url = wiro.detail(guard.taskid)["outputs"][0]["url"]
    upload_path = guard.upload_url[len(srv.url) :]
    output_path = output_url[len(srv.url) :]
    key, name = upload_path.split("/")[3:]  # /v1/File/<key>/<name>
    out_key, out_name = output_path.split("/")[2:]
    disk = str(srv.backend.data_dir / "files")
    paths = [
        f"/v1/File/{key}/..%2F..%2Fetc%2Fpasswd",
        f"/v1/File/{key}/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        f"/v1/File/{key}/../../etc/passwd",
        f"/v1/File/{key}/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        f"/v1/File/{key}/..",
        f"/v1/File/{key}/%2e%2e",
        f"/v1/File/{key}/.",
        f"/v1/File/{key}/",
        f"/v1/File/{key}/{name}/..",
        f"/v1/File/{key}/{name}%00.txt",
        f"/v1/File/{key}/{name}/",
        f"/v1/File/{key}/wrong.jpg",
        f"/v1/File/{key}/{name.upper()}",
        "/v1/File/..%2F..%2Fetc/passwd",
        "/v1/File/%2Fetc%2Fpasswd/passwd",
        f"/v1/File/{key}/{disk}%2F{name}",
        f"/v1/File/{out_key}/{out_name}",  # an output under the uploads route
        "/cdn/../../etc/passwd",
        "/cdn/..%2F..%2Fetc%2Fpasswd",
        f"/cdn/{out_key}/..%2F..%2F..%2Fetc%2Fpasswd",
        f"/cdn/{out_key}/../../../etc/passwd",
        f"/cdn/{out_key}/1.mp4",
        f"/cdn/{key}/{name}",  # an upload under the outputs route
        "/etc/passwd",
        "//etc/passwd",
        "/v1/../etc/passwd",
        f"/v1/File/{'x' * 30}/{name}",
    ]
    for path in paths:
        status, body = raw_get(srv, path)
        assert status == 404, (path, status, body[:200])
        assert b"root:" not in body, path
        assert b'"result":false' in body, (path, body[:200])
    # the right names still serve, and nothing was lost
    assert raw_get(srv, upload_path) == (200, guard.upload_bytes)
    status, body = raw_get(srv, output_path)
    assert status == 200 and body[4:8] == b"ftyp"
    assert wiro.detail(guard.taskid)["outputs"][0]["url"] == output_url


# ================================================================== broken ZIP uploads
def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def patch_headers(archive: bytes, local_offset: int, central_offset: int, value: bytes) -> bytes:
    """Overwrite a field of the first member's local header and central directory entry."""
    data = bytearray(archive)
    data[local_offset : local_offset + len(value)] = value
    central = data.index(b"PK\x01\x02")
    data[central + central_offset : central + central_offset + len(value)] = value
    return bytes(data)


def corrupt_second_member() -> bytes:
    good = zip_bytes({"a.txt": b"first member, fine " * 100, "b.txt": b"second " * 2000})
    data = bytearray(good)
    start = data.index(b"b.txt") + len("b.txt") + 8  # into b.txt's deflate stream
    data[start : start + 32] = b"\xff" * 32
    return bytes(data)


def broken_central_directory() -> bytes:
    data = bytearray(zip_bytes({"a.txt": b"a" * 100}))
    central = data.index(b"PK\x01\x02")
    data[central : central + 4] = b"XX\x01\x02"
    return bytes(data)


BROKEN_ZIPS: list[tuple[str, Callable[[], bytes], str]] = [
    # (id, archive, fragment of the message)
    ("corrupt-data", corrupt_second_member, "could not be extracted"),
    (
        "unknown-method",
        lambda: patch_headers(
            zip_bytes({"a.txt": b"a" * 100}, zipfile.ZIP_STORED), 8, 10, b"c\x00"
        ),
        "could not be extracted",
    ),
    (
        "encrypted",
        lambda: patch_headers(zip_bytes({"a.txt": b"a" * 100}), 6, 8, b"\x01\x00"),
        "could not be extracted",
    ),
    ("bad-central-directory", broken_central_directory, "could not be extracted"),
    ("bomb", lambda: zip_bytes({"zeros.bin": b"\0" * 3_000_000}), "expands to 3000000 bytes"),
    (
        "too-many-members",
        lambda: zip_bytes({f"{i}.txt": b"" for i in range(1001)}, zipfile.ZIP_STORED),
        "has 1001 files; at most 1000",
    ),
]


@pytest.mark.parametrize(
    ("make", "fragment"), [c[1:] for c in BROKEN_ZIPS], ids=[c[0] for c in BROKEN_ZIPS]
)
def test_broken_zip_upload_gets_the_envelope_and_leaves_nothing(
    small_server: MockWiroServer, make: Callable[[], bytes], fragment: str
) -> None:
    srv = small_server
    files_dir = srv.backend.data_dir / "files"
    wiro = Wiro(srv, srv.backend.create_project())
    with wiro.session:
        guard = Guard(wiro)
        kept = sorted(files_dir.iterdir())
        archive = make()
        assert zipfile.is_zipfile(io.BytesIO(archive))  # it does look like a ZIP
        message = envelope_error(wiro.post("File/Upload", files={"file": ("x.zip", archive)}))
        assert message.startswith("ZIP upload") and fragment in message, message
        assert sorted(files_dir.iterdir()) == kept  # no member, no archive left behind
        guard.finish()
