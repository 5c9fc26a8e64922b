"""Hardening: non-finite numbers, exact balances, typed control fields, JSON-only control
requests, bounded JSON/url-encoded bodies and URL fields, pixel and EXIF handling of
input images, and safe headers on served files. Nothing sleeps."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from mock_wiro.server import MockWiroServer
from mock_wiro.settings import MAX_JSON_BODY_BYTES, MAX_URL_CHARS
from tests.helpers.images import jpeg_with_orientation, png_1bit
from tests.helpers.wiro import Wiro

RUN = "Run/minimax/hailuo-2-3-fast"
JSON = {"Content-Type": "application/json"}
FINISH = 300


# ================================================================== helpers
def control_url(srv: MockWiroServer, path: str) -> str:
    return f"{srv.url}/_mock{path}"


def post_raw(
    srv: MockWiroServer, path: str, data: str | bytes, content_type: str | None = "application/json"
) -> requests.Response:
    """POST ``data`` exactly as written (``requests`` refuses to encode NaN/Infinity)."""
    headers = {"Content-Type": content_type} if content_type else {}
    return requests.post(control_url(srv, path), data=data, headers=headers, timeout=10)


def control_error(response: requests.Response, status: int = 400) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str), body
    message: str = body["error"]
    return message


def envelope_error(response: requests.Response, status: int = 200) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["result"] is False and len(body["errors"]) == 1, body
    assert body["errors"][0]["code"] == 0, body
    message: str = body["errors"][0]["message"]
    return message


def clock_now(srv: MockWiroServer) -> float:
    now: float = requests.get(control_url(srv, "/clock"), timeout=10).json()["now"]
    return now


# ================================================================== 1. non-finite numbers
@pytest.mark.parametrize(
    "body",
    [
        '{"seconds": Infinity}',
        '{"seconds": -Infinity}',
        '{"seconds": NaN}',
        '{"seconds": "inf"}',
        '{"seconds": "nan"}',
        '{"seconds": 1e400}',
        '{"seconds": 1' + "0" * 400 + "}",  # an int too large for a float
    ],
)
def test_control_rejects_non_finite_seconds(fake: MockWiroServer, body: str) -> None:
    before = clock_now(fake)
    message = control_error(post_raw(fake, "/clock/advance", body))
    assert "seconds" in message
    assert clock_now(fake) == before


@pytest.mark.parametrize("speed", ["Infinity", "NaN", '"inf"', "1e400"])
def test_control_rejects_non_finite_speed(fake: MockWiroServer, speed: str) -> None:
    body = f'{{"mode": "realtime", "speed": {speed}}}'
    assert "speed" in control_error(post_raw(fake, "/clock", body))
    clock = requests.get(control_url(fake, "/clock"), timeout=10).json()
    assert clock["mode"] == "manual" and math.isfinite(clock["speed"])


@pytest.mark.parametrize(
    "timeout", ["NaN", "Infinity", '"nan"', "-1", "-0.5", "300.5", "1e9", '"soon"', "null"]
)
def test_wait_timeouts_are_bounded(wiro: Wiro, timeout: str) -> None:
    srv = wiro.server
    taskid = wiro.run()["taskid"]
    body = f'{{"timeout": {timeout}}}'
    # a NaN timeout used to block forever: the client's own timeout catches a regression
    message = control_error(post_raw(srv, f"/tasks/{taskid}/wait", body))
    assert "timeout" in message
    message = control_error(post_raw(srv, f"/callbacks/{taskid}/wait", body))
    assert "timeout" in message


def test_wait_timeout_bounds_are_inclusive(wiro: Wiro) -> None:
    taskid = wiro.run()["taskid"]
    reply = post_raw(wiro.server, f"/tasks/{taskid}/wait", '{"timeout": 0}')
    assert reply.status_code == 200 and reply.json() == {"reached": False, "status": "task_queue"}
    wiro.server.backend.advance(FINISH)
    reply = post_raw(wiro.server, f"/tasks/{taskid}/wait", '{"timeout": 300}')
    assert reply.status_code == 200 and reply.json()["reached"] is True


# ================================================================== 2. balances and fields
@pytest.mark.parametrize(
    "written", ["0.1234567890123456789", '"0.1234567890123456789"', "12345678901234.25"]
)
def test_balance_is_stored_exactly(fake: MockWiroServer, written: str) -> None:
    exact = Decimal(written.strip('"'))
    project = fake.backend.create_project()
    reply = post_raw(fake, f"/projects/{project.api_key}/balance", f'{{"balance": {written}}}')
    assert reply.status_code == 200, reply.text
    assert project.balance == exact

    created = post_raw(fake, "/projects", f'{{"balance": {written}}}')
    assert created.status_code == 201, created.text
    key = created.json()["api_key"]
    [made] = [p for p in fake.backend.projects() if p.api_key == key]
    assert made.balance == exact


BAD_BALANCES = [
    '"abc"',
    '""',
    "[1]",
    "{}",
    "true",
    "null",
    '"NaN"',
    '"sNaN"',
    '"Infinity"',
    '"-inf"',
    "NaN",
    "Infinity",
    '"1e999999999"',  # finite, but formatting it would build a billion digits
]


@pytest.mark.parametrize("balance", BAD_BALANCES)
def test_bad_balances_are_400(fake: MockWiroServer, balance: str) -> None:
    project = fake.backend.create_project(balance="12.50")
    projects = len(fake.backend.projects())
    body = f'{{"balance": {balance}}}'
    assert "balance" in control_error(post_raw(fake, "/projects", body))
    assert len(fake.backend.projects()) == projects
    assert "balance" in control_error(post_raw(fake, f"/projects/{project.api_key}/balance", body))
    assert project.balance == Decimal("12.50")


@pytest.mark.parametrize(
    "body",
    [
        {"api_key": 5},
        {"api_key": ["k"]},
        {"api_secret": 1.5},
        {"api_secret": {"s": 1}},
        {"name": {}},
        {"name": 7},
        {"auth": 1},
        {"auth": ["apikey"]},
        {"auth": "bogus"},
    ],
)
def test_project_fields_must_be_strings(fake: MockWiroServer, body: dict[str, Any]) -> None:
    projects = len(fake.backend.projects())
    message = control_error(post_raw(fake, "/projects", json.dumps(body)))
    assert next(iter(body)) in message
    assert len(fake.backend.projects()) == projects


def test_project_with_string_fields_is_created(fake: MockWiroServer) -> None:
    body = {"api_key": "k-hardening", "api_secret": "s", "name": "n", "auth": "apikey"}
    created = post_raw(fake, "/projects", json.dumps(body))
    assert created.status_code == 201, created.text
    reply = created.json()
    assert reply["api_key"] == "k-hardening" and reply["name"] == "n" and reply["auth"] == "apikey"
    assert reply["balance"] == "100.00"


@pytest.mark.parametrize("status", ["5", "[1]", '{"a": 1}', '["task_queue", null]', "true"])
def test_wait_status_must_be_a_string_or_list_of_strings(wiro: Wiro, status: str) -> None:
    taskid = wiro.run()["taskid"]
    body = f'{{"status": {status}, "timeout": 0}}'
    assert "status" in control_error(post_raw(wiro.server, f"/tasks/{taskid}/wait", body))


def test_wait_status_list_of_strings_works(wiro: Wiro) -> None:
    taskid = wiro.run()["taskid"]
    body = '{"status": ["task_queue", "task_accept"], "timeout": 0}'
    reply = post_raw(wiro.server, f"/tasks/{taskid}/wait", body)
    assert reply.status_code == 200 and reply.json() == {"reached": True, "status": "task_queue"}


# ================================================================== 3. JSON-only control
CROSS_SITE_TYPES = [
    "text/plain",
    "text/plain;charset=UTF-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
]


@pytest.mark.parametrize("content_type", [*CROSS_SITE_TYPES, None])
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/reset", "{}"),
        ("/clock/advance", '{"seconds": 600}'),
        ("/clock", '{"mode": "realtime"}'),
        ("/projects", '{"api_key": "from-a-web-page"}'),
    ],
)
def test_control_posts_with_a_body_must_be_json(
    wiro: Wiro, content_type: str | None, path: str, body: str
) -> None:
    srv = wiro.server
    taskid = wiro.run()["taskid"]
    before = clock_now(srv)
    projects = len(srv.backend.projects())
    message = control_error(post_raw(srv, path, body, content_type), status=415)
    assert "application/json" in message
    # nothing happened
    assert srv.backend.task_by_id(taskid) is not None
    assert clock_now(srv) == before and srv.backend.clock.mode == "manual"
    assert len(srv.backend.projects()) == projects


@pytest.mark.parametrize("content_type", CROSS_SITE_TYPES)
def test_empty_cross_site_post_cannot_reset(wiro: Wiro, content_type: str) -> None:
    """A form with no fields posts an empty body, but still names its content type."""
    taskid = wiro.run()["taskid"]
    control_error(post_raw(wiro.server, "/reset", b"", content_type), status=415)
    assert wiro.server.backend.task_by_id(taskid) is not None


def test_control_posts_without_a_body_or_with_json_work(wiro: Wiro) -> None:
    srv = wiro.server
    before = clock_now(srv)
    reply = post_raw(srv, "/clock/advance", '{"seconds": 5}', "application/json; charset=utf-8")
    assert reply.status_code == 200 and reply.json()["now"] == pytest.approx(before + 5)
    taskid = wiro.run()["taskid"]
    assert requests.post(control_url(srv, "/reset"), timeout=10).json() == {"ok": True}
    assert srv.backend.task_by_id(taskid) is None


def test_control_body_is_bounded(fake: MockWiroServer) -> None:
    body = json.dumps({"seconds": 1, "pad": "x" * MAX_JSON_BODY_BYTES})
    before = clock_now(fake)
    message = control_error(post_raw(fake, "/clock/advance", body), status=413)
    assert str(MAX_JSON_BODY_BYTES) in message
    assert clock_now(fake) == before


# ================================================================== 4. bounded bodies
def padded_json(size: int, **fields: str) -> bytes:
    """A JSON object of exactly ``size`` bytes holding ``fields`` (and a pad)."""
    empty = json.dumps({**fields, "pad": ""}).encode()
    body = json.dumps({**fields, "pad": "x" * (size - len(empty))}).encode()
    assert len(body) == size
    return body


def padded_form(size: int, **fields: str) -> bytes:
    head = "&".join(f"{k}={v}" for k, v in fields.items()) + "&pad="
    body = (head + "x" * (size - len(head))).encode()
    assert len(body) == size
    return body


def chunked(data: bytes, piece: int = 64 * 1024) -> Iterator[bytes]:
    """``data`` sent with Transfer-Encoding: chunked (no Content-Length)."""
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(("make", "headers"), [(padded_json, JSON), (padded_form, FORM)])
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_small_bodies_over_the_limit_are_413(
    wiro: Wiro, make: Any, headers: dict[str, str], streamed: bool
) -> None:
    taskid = wiro.run()["taskid"]
    body: bytes = make(MAX_JSON_BODY_BYTES + 1, taskid=taskid)
    data: bytes | Iterator[bytes] = chunked(body) if streamed else body
    response = wiro.post("Task/Detail", data=data, headers=headers)
    message = envelope_error(response, status=413)
    assert message.startswith("Request body too large") and str(MAX_JSON_BODY_BYTES) in message
    assert "1 MB" in message and "100 MB" not in message
    if not streamed:
        assert str(MAX_JSON_BODY_BYTES + 1) in message
    assert "close" in response.headers["Connection"]
    # far over, too
    big = make(5 * MAX_JSON_BODY_BYTES, taskid=taskid)
    response = wiro.post("Task/Detail", data=chunked(big) if streamed else big, headers=headers)
    envelope_error(response, status=413)


@pytest.mark.parametrize(("make", "headers"), [(padded_json, JSON), (padded_form, FORM)])
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_small_bodies_at_the_limit_are_read(
    wiro: Wiro, make: Any, headers: dict[str, str], streamed: bool
) -> None:
    taskid = wiro.run()["taskid"]
    body: bytes = make(MAX_JSON_BODY_BYTES, taskid=taskid)
    data: bytes | Iterator[bytes] = chunked(body, 1000) if streamed else body
    reply = wiro.ok("Task/Detail", data=data, headers=headers)
    assert reply["tasklist"][0]["id"] == taskid


def test_url_encoded_fields_still_parse(wiro: Wiro) -> None:
    taskid = wiro.run()["taskid"]
    reply = wiro.ok("Task/Detail", data={"taskid": taskid})
    assert reply["tasklist"][0]["id"] == taskid
    url = "https://example.com/a b.jpg?x=1&y=%41"
    reply = wiro.ok(RUN, data={"inputImageFirstUrl": url, "prompt": "é & ü"})
    detail = wiro.detail(reply["taskid"])
    assert detail["parameters"]["inputImageFirstUrl"] == url
    assert detail["parameters"]["prompt"] == "é & ü"


def long_url(length: int) -> str:
    head = "https://example.com/"
    return head + "a" * (length - len(head))


@pytest.mark.parametrize(
    "field", ["inputImageFirstUrl", "inputImageFirst", "callbackUrl", "inputImageUrl"]
)
def test_url_fields_are_bounded(wiro: Wiro, field: str) -> None:
    fields = {"inputImageFirstUrl": "https://example.com/i.jpg", "prompt": "p"}
    if field != "callbackUrl":
        fields.pop("inputImageFirstUrl")
    too_long = {**fields, field: long_url(MAX_URL_CHARS + 1)}
    for response in (
        wiro.post(RUN, json=too_long),
        wiro.post(RUN, data=too_long),
        wiro.post(RUN, files={k: (None, v) for k, v in too_long.items()}),
    ):
        assert envelope_error(response) == (
            f"Request parameter [{field}] must be at most {MAX_URL_CHARS} characters; "
            f"got {MAX_URL_CHARS + 1}"
        )
    assert wiro.ok("Task/List", json={})["total"] == "0"
    at_limit = {**fields, field: long_url(MAX_URL_CHARS)}
    if field == "callbackUrl":
        at_limit[field] = "http://127.0.0.1:9/" + "a" * (MAX_URL_CHARS - 19)
        assert len(at_limit[field]) == MAX_URL_CHARS
    assert wiro.ok(RUN, json=at_limit)["taskid"]


def test_image_file_field_is_not_a_url(wiro: Wiro) -> None:
    """A file sent as inputImageFirst is not measured as a URL."""
    big_name = "a" * (MAX_URL_CHARS + 10) + ".jpg"
    files = {"inputImageFirst": (big_name, jpeg_with_orientation(640, 480, None))}
    assert wiro.ok(RUN, files=files, data={"prompt": "p"})["taskid"]


# ================================================================== 5. images
def test_too_many_pixels_fail_the_task(wiro: Wiro) -> None:
    data = png_1bit(6001, 6000)  # a valid image, small on disk
    assert len(data) < 100_000
    taskid = wiro.ok(RUN, files={"inputImageFirst": ("huge.png", data)})["taskid"]
    wiro.server.backend.advance(FINISH)
    task = wiro.detail(taskid)
    assert task["pexit"] != "0" and task["outputs"] == []
    assert "rule: size" in task["debugerror"] and "36000000" in task["debugerror"]


def test_portrait_phone_photo_stored_landscape_gives_portrait_video(wiro: Wiro) -> None:
    data = jpeg_with_orientation(1280, 720, 6)
    taskid = wiro.ok(RUN, files={"inputImageFirst": ("phone.jpg", data)})["taskid"]
    wiro.server.backend.advance(FINISH)
    detail = wiro.detail(taskid)
    assert detail["pexit"] == "0", detail["debugerror"]
    task = wiro.server.backend.task_by_id(taskid)
    assert task is not None and task.render is not None
    assert (task.render.width, task.render.height) == (768, 1366)


# ================================================================== 6. served files
def upload(wiro: Wiro, name: str, data: bytes) -> dict[str, Any]:
    item: dict[str, Any] = wiro.ok("File/Upload", files={"file": (name, data)})["list"][0]
    return item


@pytest.mark.parametrize(
    ("name", "contenttype"),
    [
        ("x.html", "text/html"),
        ("x.svg", "image/svg+xml"),
        ("x.js", "text/javascript"),
        ("x.txt", "text/plain"),
        ("x.bin", "application/octet-stream"),
    ],
)
def test_uploaded_active_content_is_downloaded_not_rendered(
    wiro: Wiro, name: str, contenttype: str
) -> None:
    data = b"<html><script>fetch('/_mock/reset', {method: 'POST'})</script></html>"
    item = upload(wiro, name, data)
    assert item["contenttype"] == contenttype
    response = requests.get(item["url"], timeout=10)
    assert response.status_code == 200 and response.content == data
    assert response.headers["Content-Type"].startswith(contenttype)
    assert response.headers["Content-Disposition"] == f"attachment; filename={name}"
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_images_and_videos_are_shown_inline(wiro: Wiro) -> None:
    image = jpeg_with_orientation(640, 480, None)
    item = upload(wiro, "photo.jpg", image)
    response = requests.get(item["url"], timeout=10)
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Content-Disposition"] == "inline; filename=photo.jpg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in response.headers

    taskid = wiro.run()["taskid"]
    wiro.server.backend.advance(FINISH)
    output = wiro.detail(taskid)["outputs"][0]
    response = requests.get(output["url"], headers={"Range": "bytes=0-99"}, timeout=30)
    assert response.status_code == 206 and response.headers["Content-Type"] == "video/mp4"
    assert response.headers["Content-Disposition"] == f"inline; filename={output['name']}"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in response.headers
