"""Wiro's own clients, replayed against the fake over real HTTP (issue 17).

Each flow sends what :mod:`tests.clients.wire_forms` says that client sends, signing
as it signs, and ends in a downloaded MP4 (an ``ftyp`` box) or the right terminal
status. A flow or check the fake gets wrong today is ``xfail(strict=True)`` with the
issue's finding number, so it fails loudly the day the fake is fixed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import websocket

from mock_wiro.engine.models import Project
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from mock_wiro_fixtures import image_bytes
from tests.clients import wire_forms

CLEAN = "Run/minimax/hailuo-2-3-fast"
DISPLAY = "Run/MiniMax/hailuo-2.3-Fast"
IMAGE = "landscape_16x9.jpg"
TERMINAL = ("task_postprocess_end", "task_cancel")


def finding(n: int, why: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"issue 17 finding {n}: {why}")


# --- signing, as each client signs ------------------------------------------------


def sign(project: Project, nonce: str) -> str:
    message = (project.api_secret + nonce).encode()
    return hmac.new(project.api_key.encode(), message, hashlib.sha256).hexdigest()


def auth(project: Project, nonce: str) -> dict[str, str]:
    return {"x-api-key": project.api_key, "x-nonce": nonce, "x-signature": sign(project, nonce)}


class MsFresh:
    """Wiro-MCP: ``Date.now().toString()`` per request (src/client.ts getAuthHeaders)."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def __call__(self) -> dict[str, str]:
        return auth(self.project, str(time.time_ns() // 1_000_000))


class MsMonotonic:
    """WiroKit: ``max(previous + 1, Date.now())`` per request (internal/runtime.ts)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.last = 0

    def __call__(self) -> dict[str, str]:
        self.last = max(self.last + 1, time.time_ns() // 1_000_000)
        headers = auth(self.project, str(self.last))
        headers["User-Agent"] = "WiroKit-ReactNative/test"
        return headers


class SecondsOnce:
    """n8n: ``floor(Date.now() / 1000)``, signed once per execution and reused for
    every poll (utils/auth.ts, Hailuo23Fast.execute, utils/polling.ts)."""

    def __init__(self, project: Project) -> None:
        self.headers = auth(project, str(int(time.time())))

    def __call__(self) -> dict[str, str]:
        return dict(self.headers)


# --- the calls ----------------------------------------------------------------------


class Api:
    def __init__(self, base: str, headers: Callable[[], dict[str, str]]) -> None:
        self.base = base
        self.headers = headers

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(f"{self.base}/{path}", headers=self.headers(), timeout=30, **kwargs)

    def json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(path, json=body)
        assert response.status_code == 200, (path, response.status_code, response.text)
        out: dict[str, Any] = response.json()
        return out

    def upload(self, content_type: str | None = None) -> str:
        part = (
            ("frame.jpg", image_bytes(IMAGE))
            if content_type is None
            else (
                "frame.jpg",
                image_bytes(IMAGE),
                content_type,
            )
        )
        response = self.post("File/Upload", files={"file": part})
        body = response.json()
        assert response.status_code == 200 and body["result"] is True, body
        url: str = body["list"][0]["url"]
        return url

    def run(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        out = self.json(path, body)
        assert out["result"] is True and out["errors"] == [], out
        assert isinstance(out["taskid"], str) and out["socketaccesstoken"], out
        return out

    def poll(self, fake: MockWiroServer, token: str, step: float = 20.0) -> dict[str, Any]:
        for _ in range(60):
            body = self.json("Task/Detail", {"tasktoken": token})
            assert body["result"] is True, body
            task: dict[str, Any] = body["tasklist"][0]
            if task["status"] in TERMINAL:
                return task
            fake.advance(step)
        raise AssertionError("the task never reached a terminal status")


def download_mp4(url: str) -> bytes:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, (url, response.status_code)
    data = response.content
    assert data[4:8] == b"ftyp", data[:16]
    return data


def socket_frames(fake: MockWiroServer, token: str) -> list[dict[str, Any]]:
    """WiroKit's socket: task_info, then frames until a terminal type."""
    ws = websocket.create_connection(fake.socket_url, timeout=10)
    try:
        ws.send(json.dumps({"type": "task_info", "tasktoken": token}))
        fake.advance(600)
        frames = [json.loads(ws.recv())]
        while frames[-1]["type"] not in TERMINAL:
            frames.append(json.loads(ws.recv()))
        return frames
    finally:
        ws.close()


@pytest.fixture
def project(mock_wiro: MockWiroServer) -> Project:
    return mock_wiro.create_project(balance=1000)


# --- the wire forms are data that cites its sources --------------------------------


def test_every_wire_form_cites_its_source() -> None:
    for client in wire_forms.CLIENTS:
        assert client.repo.startswith("wiroai/"), client.name
        for step in client.steps:
            assert step.source.repo == client.repo and step.source.path and step.source.where


# --- Wiro-MCP ---------------------------------------------------------------------


def test_mcp_flow(mock_wiro: MockWiroServer, project: Project) -> None:
    """Tool/Detail → File/Upload → Run (JSON, the schema's ids) → poll by tasktoken."""
    api = Api(mock_wiro.base_url, MsFresh(project))
    schema = api.json("Tool/Detail", {"slugowner": "minimax", "slugproject": "hailuo-2-3-fast"})
    ids = [item["id"] for group in schema["tool"][0]["parameters"] for item in group["items"]]
    url = api.upload()
    run = api.run(CLEAN, {ids[0]: url, "prompt": "waves"})
    task = api.poll(mock_wiro, run["socketaccesstoken"], step=3)
    assert task["status"] == "task_postprocess_end" and task["pexit"] == "0"
    download_mp4(task["outputs"][0]["url"])


def test_mcp_flow_with_array_file_param(mock_wiro: MockWiroServer, project: Project) -> None:
    api = Api(mock_wiro.base_url, MsFresh(project))
    url = api.upload()
    run = api.run(CLEAN, {"inputImageFirst": [url], "prompt": "waves"})
    download_mp4(api.poll(mock_wiro, run["socketaccesstoken"])["outputs"][0]["url"])


def test_mcp_reads_tool_detail(mock_wiro: MockWiroServer, project: Project) -> None:
    api = Api(mock_wiro.base_url, MsFresh(project))
    tool = api.json("Tool/Detail", {"slugowner": "minimax", "slugproject": "hailuo-2-3-fast"})
    assert_tool_detail_shape(tool["tool"][0])


# --- n8n ---------------------------------------------------------------------------

N8N_DEFAULTS = {"prompt": "", "promptOptimizer": "false", "resolution": "1080P", "duration": "10"}


def test_n8n_flow_as_shipped(mock_wiro: MockWiroServer, project: Project) -> None:
    api = Api(mock_wiro.base_url, SecondsOnce(project))
    url = Api(mock_wiro.base_url, MsFresh(project)).upload()  # n8n takes a URL; any will do
    run = api.run(DISPLAY, {"inputImageUrl": url, **N8N_DEFAULTS})
    task = api.poll(mock_wiro, run["socketaccesstoken"])
    assert task["status"] == "task_postprocess_end"
    download_mp4(task["outputs"][0]["url"])


def test_n8n_flow_with_clean_path_and_valid_pair(
    mock_wiro: MockWiroServer, project: Project
) -> None:
    """The rest of n8n's form works today: inputImageUrl, one reused seconds nonce,
    polls by tasktoken, and its outcome rules (url of outputs[0])."""
    api = Api(mock_wiro.base_url, SecondsOnce(project))
    url = Api(mock_wiro.base_url, MsFresh(project)).upload()
    body = {"inputImageUrl": url, **N8N_DEFAULTS, "resolution": "768P", "duration": "6"}
    run = api.run(CLEAN, body)
    task = api.poll(mock_wiro, run["socketaccesstoken"])
    assert task["status"] == "task_postprocess_end" and len(task["outputs"]) == 1
    download_mp4(task["outputs"][0]["url"])


def test_n8n_failed_task_is_postprocess_end_without_outputs(
    mock_wiro: MockWiroServer, project: Project
) -> None:
    """n8n's '-3' (failed): task_postprocess_end with no outputs (a 3:1 image)."""
    uploader = Api(mock_wiro.base_url, MsFresh(project))
    part = ("wide.jpg", image_bytes("too_wide_3x1.jpg"))
    url = uploader.post("File/Upload", files={"file": part}).json()["list"][0]["url"]
    api = Api(mock_wiro.base_url, SecondsOnce(project))
    run = api.run(CLEAN, {"inputImageUrl": url, **N8N_DEFAULTS, "duration": "6"})
    task = api.poll(mock_wiro, run["socketaccesstoken"])
    assert task["status"] == "task_postprocess_end" and task["outputs"] == []
    assert task["pexit"] != "0" and "aspect_ratio" in task["debugerror"]


# --- WiroKit (React Native read in full; Dart and Kotlin share the Run body) ---------


def wirokit_body(url: str) -> dict[str, Any]:
    return {
        "inputImage": [url],
        "duration": "6",
        "prompt": "waves",
        "promptOptimizer": "true",
        "resolution": "768P",
    }


@pytest.mark.parametrize("kit", ["react-native", "dart", "kotlin"])
def test_wirokit_flow_socket(kit: str, mock_wiro: MockWiroServer, project: Project) -> None:
    """Upload (multipart file, octet-stream) → Run JSON → socket → Task/Detail → MP4."""
    api = Api(mock_wiro.base_url, MsMonotonic(project))
    url = api.upload("application/octet-stream")
    run = api.run(CLEAN, wirokit_body(url))
    frames = socket_frames(mock_wiro, run["socketaccesstoken"])
    assert frames[-1]["type"] == "task_postprocess_end"
    task = api.poll(mock_wiro, run["socketaccesstoken"])
    download_mp4(task["outputs"][0]["url"])


def test_wirokit_flow_with_string_image(mock_wiro: MockWiroServer, project: Project) -> None:
    """Everything else in WiroKit's form works today: its upload, its nonce, its
    socket handshake and frame shape, then Task/Detail by tasktoken."""
    api = Api(mock_wiro.base_url, MsMonotonic(project))
    url = api.upload("application/octet-stream")
    run = api.run(CLEAN, {**wirokit_body(url), "inputImage": url})
    frames = socket_frames(mock_wiro, run["socketaccesstoken"])
    for frame in frames:
        assert set(frame) >= {"type", "id", "tasktoken", "message", "result"}, frame
    assert isinstance(frames[-1]["message"], list) and frames[-1]["message"]
    task = api.poll(mock_wiro, run["socketaccesstoken"])
    assert task["status"] == "task_postprocess_end"
    download_mp4(task["outputs"][0]["url"])


# --- one test per finding -----------------------------------------------------------


def uploaded(mock_wiro: MockWiroServer, project: Project) -> tuple[Api, str]:
    api = Api(mock_wiro.base_url, MsMonotonic(project))
    return api, api.upload()


def test_finding1_one_element_array(mock_wiro: MockWiroServer, project: Project) -> None:
    api, url = uploaded(mock_wiro, project)
    api.run(CLEAN, {"inputImageFirst": [url]})


def test_finding1_empty_array_is_absent(mock_wiro: MockWiroServer, project: Project) -> None:
    api, url = uploaded(mock_wiro, project)
    api.run(CLEAN, {"inputImageFirst": [], "inputImageFirstUrl": url})


def test_finding1_repeated_multipart_key(mock_wiro: MockWiroServer, project: Project) -> None:
    api, _ = uploaded(mock_wiro, project)
    part = ("a.jpg", image_bytes(IMAGE))
    response = api.post(CLEAN, files=[("inputImageFirst", part), ("inputImageFirst", part)])
    assert_error(response, "inputImageFirst")


def test_finding1_too_many_in_json_array_is_an_error(
    mock_wiro: MockWiroServer, project: Project
) -> None:
    api, url = uploaded(mock_wiro, project)
    assert_error(api.post(CLEAN, json={"inputImageFirst": [url, url]}), "inputImageFirst")


@pytest.mark.parametrize("path", [DISPLAY, "Run/MINIMAX/HAILUO-2-3-FAST"])
def test_finding2_display_slug(path: str, mock_wiro: MockWiroServer, project: Project) -> None:
    api, url = uploaded(mock_wiro, project)
    api.run(path, {"inputImageFirstUrl": url})


def assert_tool_detail_shape(tool: dict[str, Any]) -> None:
    assert tool["cleanslugowner"] == "minimax"
    assert tool["cleanslugproject"] == "hailuo-2-3-fast"
    for name in ("title", "description", "categories", "dynamicprice", "inspire", "samples"):
        assert name in tool, name
    assert "taskstat" in tool
    for group in tool["parameters"]:
        for item in group["items"]:
            assert {"id", "type", "label", "required", "placeholder", "note"} <= set(item), item
            assert "help" not in item, item
            for option in item.get("options", []):
                assert set(option) == {"label", "value"}, option


def test_finding3_tool_detail_shape(mock_wiro: MockWiroServer, project: Project) -> None:
    api = Api(mock_wiro.base_url, MsMonotonic(project))
    body = api.json("Tool/Detail", {"slugowner": "minimax", "slugproject": "hailuo-2-3-fast"})
    assert body["result"] is True
    assert_tool_detail_shape(body["tool"][0])


def test_finding4_tool_list(mock_wiro: MockWiroServer, project: Project) -> None:
    api = Api(mock_wiro.base_url, MsFresh(project))
    body = api.json(
        "Tool/List",
        {
            "start": "0",
            "limit": "20",
            "search": "hailuo",
            "categories": [],
            "sort": "relevance",
            "hideworkflows": True,
            "summary": True,
        },
    )
    assert body["result"] is True and int(body["total"]) >= 1
    assert any(t["cleanslugproject"] == "hailuo-2-3-fast" for t in body["tool"])


def test_finding4_tool_explore(mock_wiro: MockWiroServer, project: Project) -> None:
    api = Api(mock_wiro.base_url, MsFresh(project))
    body = api.json("Tool/Explore", {})
    assert body["result"] is True and isinstance(body["explore"], list)
    for category in body["explore"]:
        assert {"id", "title", "tools"} <= set(category)


def test_finding5_1080p_10s_falls_back(mock_wiro: MockWiroServer, project: Project) -> None:
    api, url = uploaded(mock_wiro, project)
    run = api.run(CLEAN, {"inputImageFirstUrl": url, "resolution": "1080P", "duration": "10"})
    task = api.poll(mock_wiro, run["socketaccesstoken"])
    assert task["status"] == "task_postprocess_end" and task["pexit"] == "0"


@pytest.fixture
def strict_fake() -> Iterator[MockWiroServer]:
    with MockWiroServer(Settings(clock_mode="manual").strict()) as server:
        yield server


def test_finding6_n8n_nonce_reuse_under_strict(strict_fake: MockWiroServer) -> None:
    project = strict_fake.create_project(balance=1000)
    url = Api(strict_fake.base_url, MsMonotonic(project)).upload()
    api = Api(strict_fake.base_url, SecondsOnce(project))
    run = api.run(CLEAN, {"inputImageUrl": url, "duration": "6"})
    api.poll(strict_fake, run["socketaccesstoken"])


def test_finding6_default_accepts_reused_nonce(mock_wiro: MockWiroServer, project: Project) -> None:
    api = Api(mock_wiro.base_url, SecondsOnce(project))
    for _ in range(3):
        assert api.post("Task/List", json={}).status_code == 200


@pytest.mark.parametrize("name", ["inputImage", "inputImageFirst"])
def test_finding7_image_names_as_arrays(
    name: str, mock_wiro: MockWiroServer, project: Project
) -> None:
    api, url = uploaded(mock_wiro, project)
    api.run(CLEAN, {name: [url]})


@pytest.mark.parametrize("name", ["inputImage", "inputImageFirst"])
@pytest.mark.parametrize("form", ["json", "urlencoded", "multipart-text", "multipart-file"])
def test_finding7_image_names_in_scalar_forms(
    name: str, form: str, mock_wiro: MockWiroServer, project: Project
) -> None:
    api, url = uploaded(mock_wiro, project)
    sent: dict[str, Any] = {
        "json": {"json": {name: url}},
        "urlencoded": {"data": {name: url}},
        "multipart-text": {"files": {name: (None, url)}},
        "multipart-file": {"files": {name: ("a.jpg", image_bytes(IMAGE))}},
    }[form]
    body = api.post(CLEAN, **sent).json()
    assert body["result"] is True, body


# --- bad input still gets the envelope and a clear message -------------------------


def assert_error(response: requests.Response, names: str, status: int = 200) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["result"] is False and len(body["errors"]) == 1, body
    error = body["errors"][0]
    assert error["code"] == 0 and names in error["message"], error
    message: str = error["message"]
    return message


@pytest.mark.parametrize(
    "value",
    [[["https://example.com/a.jpg"]], [1], [None], [{"url": "https://example.com/a.jpg"}]],
    ids=["nested", "int", "null", "object"],
)
def test_bad_array_values_get_the_envelope(
    value: Any, mock_wiro: MockWiroServer, project: Project
) -> None:
    api = Api(mock_wiro.base_url, MsMonotonic(project))
    assert_error(api.post(CLEAN, json={"inputImage": value}), "inputImage")


@pytest.mark.parametrize("path", ["Run/nobody/nothing", "Run/minimax/hailuo-9", "Run/minimax"])
def test_unknown_model_is_404_envelope(
    path: str, mock_wiro: MockWiroServer, project: Project
) -> None:
    api = Api(mock_wiro.base_url, MsMonotonic(project))
    response = api.post(path, json={"inputImageFirstUrl": "https://example.com/a.jpg"})
    assert response.status_code == 404
    assert response.json() == {
        "result": False,
        "errors": [{"code": 0, "message": "Error parsing url."}],
    }


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"inputImageFirstUrl": "https://example.com/a.jpg", "duration": 6}, "duration"),
        ({"inputImageFirstUrl": "https://example.com/a.jpg", "duration": "7"}, "duration"),
        ({"inputImageFirstUrl": "https://example.com/a.jpg", "resolution": "720P"}, "resolution"),
        ({"prompt": "no image"}, "inputImageFirst"),
    ],
    ids=["duration-number", "duration-7", "resolution-720P", "no-image"],
)
def test_client_mistakes_get_clear_messages(
    body: dict[str, Any], names: str, mock_wiro: MockWiroServer, project: Project
) -> None:
    """Values a client could send wrongly (a number for a string, a value outside the
    set, no image at all) are refused by name; a number for ``duration`` counts too."""
    api = Api(mock_wiro.base_url, MsMonotonic(project))
    response = api.post(CLEAN, json=body)
    result = response.json()
    if result.get("result") is True:  # the fake may coerce 6 → "6": that is fine too
        assert names == "duration" and body["duration"] == 6
        return
    assert_error(response, names)


def test_task_detail_without_an_id(mock_wiro: MockWiroServer, project: Project) -> None:
    api = Api(mock_wiro.base_url, MsMonotonic(project))
    assert_error(api.post("Task/Detail", json={}), "required")
