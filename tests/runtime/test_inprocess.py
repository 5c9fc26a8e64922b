"""The in-process mode: ``requests`` to https://api.wiro.ai answered without a socket."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import re
import threading
import time
from typing import Any

import pytest
import requests
import responses

from mock_wiro.inprocess import intercept
from mock_wiro.settings import Settings
from mock_wiro_fixtures import image_bytes
from tests.helpers import REPO

# ---------------------------------------------------------------- "user code", unchanged
WIRO = "https://api.wiro.ai/v1"


def _headers(api_key: str, api_secret: str, nonce: str) -> dict[str, str]:
    signature = hmac.new(api_key.encode(), (api_secret + nonce).encode(), hashlib.sha256)
    return {"x-api-key": api_key, "x-nonce": nonce, "x-signature": signature.hexdigest()}


def user_run(api_key: str, api_secret: str, image: bytes) -> dict[str, Any]:
    """A client with the real URL hard-coded: Run with a multipart image."""
    response = requests.post(
        "https://api.wiro.ai/v1/Run/minimax/hailuo-2-3-fast",
        headers=_headers(api_key, api_secret, "1700000001"),
        data={"inputImageFirstUrl": "", "prompt": "a calm sea", "resolution": "768P"},
        files={"inputImageFirst": ("photo.jpg", image, "image/jpeg")},
        timeout=30,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def user_detail(api_key: str, api_secret: str, taskid: str) -> dict[str, Any]:
    response = requests.post(
        "https://api.wiro.ai/v1/Task/Detail",
        headers=_headers(api_key, api_secret, "1700000002"),
        json={"taskid": taskid},
        timeout=30,
    )
    task: dict[str, Any] = response.json()["tasklist"][0]
    return task


def user_download(url: str) -> bytes:
    with requests.get(url, timeout=30, stream=True) as response:
        response.raise_for_status()
        return b"".join(response.iter_content(65536))


# ---------------------------------------------------------------- tests
def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def _wait_no_new_threads(before: set[threading.Thread], timeout: float = 5.0) -> set[str]:
    deadline = time.monotonic() + timeout
    extra = _threads() - before
    while extra and time.monotonic() < deadline:
        for thread in extra:
            thread.join(timeout=0.1)
        extra = {t for t in _threads() - before if t.is_alive()}
    return {t.name for t in extra}


def test_hard_coded_client_runs_unchanged() -> None:
    before = _threads()
    with intercept() as fake:
        run = user_run(fake.api_key, fake.api_secret, image_bytes("landscape_16x9.jpg"))
        assert run["result"] is True, run
        taskid = run["taskid"]
        assert user_detail(fake.api_key, fake.api_secret, taskid)["status"] == "task_queue"

        fake.advance(600)
        fake.wait_for_task(taskid)
        task = user_detail(fake.api_key, fake.api_secret, taskid)
        assert task["status"] == "task_postprocess_end", task
        [output] = task["outputs"]
        assert output["url"].startswith("https://api.wiro.ai/cdn/"), output

        video = user_download(output["url"])
        assert len(video) == int(output["size"])
        head = requests.head(output["url"], timeout=30)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["Content-Length"] == output["size"]
        assert head.headers["Content-Type"] == "video/mp4"
        ranged = requests.get(output["url"], headers={"Range": "bytes=0-7"}, timeout=30)
        assert ranged.status_code == 206 and ranged.content == video[:8]
        assert video[4:8] == b"ftyp"
        # the input upload is served at an intercepted URL too
        assert fake.backend.files.public_url == "https://api.wiro.ai"
        paths = [e.data["path"] for e in fake.journal.entries("request")]
        assert "/v1/Run/minimax/hailuo-2-3-fast" in paths
        assert fake.frames(taskid)[-1]["type"] == "task_postprocess_end"
    assert _wait_no_new_threads(before) == set()


def test_query_head_and_status_are_forwarded() -> None:
    with intercept() as fake:
        health = requests.get("https://api.wiro.ai/_mock/health?x=1", timeout=5)
        assert health.status_code == 200 and health.json() == {"ok": True}
        tasks = requests.get("https://api.wiro.ai/_mock/journal?kind=request", timeout=5)
        assert tasks.json()["entries"] == []
        missing = requests.post("https://api.wiro.ai/v1/Nope", timeout=5)
        assert missing.status_code == 404
        assert missing.json()["errors"][0]["message"] == "Error parsing url."
        unsigned = requests.post(f"{WIRO}/Task/List", json={}, timeout=5)
        assert unsigned.status_code == 401
        assert requests.head("https://api.wiro.ai/cdn/nope/0.mp4", timeout=5).status_code == 404
        assert fake.base_url == WIRO


def test_other_urls_are_refused_unless_passed_through() -> None:
    with intercept():
        with pytest.raises(requests.ConnectionError):
            requests.get("https://example.invalid/", timeout=5)
        with pytest.raises(requests.ConnectionError):  # not the same host
            requests.get("https://api.wiro.ai.example.invalid/v1", timeout=5)


def test_other_origins_and_credentials() -> None:
    with intercept(
        base_urls=("https://wiro.test", "https://api.wiro.ai"), api_key="k", api_secret="s"
    ) as fake:
        assert (fake.api_key, fake.api_secret) == ("k", "s")
        run = user_run("k", "s", image_bytes("landscape_16x9.jpg"))
        fake.advance(600)
        fake.wait_for_task(run["taskid"])
        [output] = user_detail("k", "s", run["taskid"])["outputs"]
        assert output["url"].startswith("https://wiro.test/cdn/")
        assert requests.get(output["url"], timeout=5).status_code == 200


def test_callbacks_are_recorded_in_process() -> None:
    with intercept() as fake:
        run = requests.post(
            f"{WIRO}/Run/minimax/hailuo-2-3-fast",
            headers=_headers(fake.api_key, fake.api_secret, "1700000003"),
            data={"inputImageFirstUrl": "", "prompt": "x", "callbackUrl": "https://me.test/hook"},
            files={"inputImageFirst": ("a.jpg", image_bytes("landscape_16x9.jpg"))},
            timeout=30,
        ).json()
        fake.advance(600)
        fake.wait_for_task(run["taskid"])
        assert fake.callbacks.wait_for(run["taskid"], timeout=10)
        [post] = fake.callback_posts
        assert post.url == "https://me.test/hook" and post.attempt == 1
        assert post.body["tasklist"][0]["id"] == run["taskid"]


def test_callbacks_over_the_network() -> None:
    received: list[bytes] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver) as receiver:
        thread = threading.Thread(target=receiver.serve_forever, daemon=True)
        thread.start()
        try:
            hook = f"http://127.0.0.1:{receiver.server_port}/hook"
            with intercept(callbacks="network", passthrough=(hook,)) as fake:
                # a passthrough prefix reaches the real network, for user code too
                assert requests.post(hook, data=b"{}", timeout=10).status_code == 204
                run = requests.post(
                    f"{WIRO}/Run/minimax/hailuo-2-3-fast",
                    headers=_headers(fake.api_key, fake.api_secret, "1700000004"),
                    data={"inputImageFirstUrl": "", "prompt": "x", "callbackUrl": hook},
                    files={"inputImageFirst": ("a.jpg", image_bytes("landscape_16x9.jpg"))},
                    timeout=30,
                ).json()
                fake.advance(600)
                assert fake.callbacks.wait_for(run["taskid"], timeout=10)
                delivery = fake.callbacks.delivery(run["taskid"])
                assert delivery is not None and delivery.state == "delivered"
                assert fake.callback_posts == []
        finally:
            receiver.shutdown()
            thread.join(timeout=5)
    body = received[-1]
    assert len(received) == 2
    assert json.loads(body)["tasklist"][0]["id"] == run["taskid"]


def test_inside_an_existing_responses_mock() -> None:
    with responses.RequestsMock() as rsps:
        rsps.get("https://other.test/x", json={"mine": True})
        with intercept(mock=rsps) as fake:
            assert requests.get("https://other.test/x", timeout=5).json() == {"mine": True}
            assert requests.get(f"{fake.url}/_mock/health", timeout=5).status_code == 200
        with pytest.raises(requests.ConnectionError):  # the fake's routes are gone
            requests.get("https://api.wiro.ai/_mock/health", timeout=5)


def test_a_reset_fault_is_a_connection_error() -> None:
    with intercept():
        rule = {"path": "/v1/Task/List", "reset": True, "times": 1}
        assert requests.post(f"{WIRO[:-3]}/_mock/faults", json=rule, timeout=5).status_code == 201
        with pytest.raises(requests.ConnectionError, match="action=reset"):
            requests.post(f"{WIRO}/Task/List", json={}, timeout=5)
        assert requests.post(f"{WIRO}/Task/List", json={}, timeout=5).status_code == 401


def test_realtime_settings_and_clean_exit() -> None:
    send = requests.adapters.HTTPAdapter.send
    before = _threads()
    with intercept(Settings(clock_mode="instant")) as fake:
        run = user_run(fake.api_key, fake.api_secret, image_bytes("landscape_16x9.jpg"))
        task = fake.wait_for_task(run["taskid"], timeout=30)
        assert task.status == "task_postprocess_end"
        data_dir = fake.backend.data_dir
    assert not data_dir.exists()
    assert _wait_no_new_threads(before) == set()
    assert requests.adapters.HTTPAdapter.send is send  # requests is restored


def test_the_readme_example_runs() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## In-process mode (responses)", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)
    before = _threads()
    exec(compile(code, "README.md#in-process", "exec"), {"__name__": "readme_inprocess"})
    assert _wait_no_new_threads(before) == set()


def test_in_process_mode_unpatches_requests_even_if_closing_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mock_wiro.engine.backend import Backend
    from mock_wiro.inprocess import intercept

    real_close = Backend.close

    def failing_close(self: Backend) -> None:
        real_close(self)
        raise RuntimeError("close failed")

    monkeypatch.setattr(Backend, "close", failing_close)
    send_before = requests.adapters.HTTPAdapter.send
    with pytest.raises(RuntimeError, match="close failed"), intercept():
        pass
    assert requests.adapters.HTTPAdapter.send is send_before
