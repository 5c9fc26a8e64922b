"""The seed's own browser JavaScript, run in headless Chromium against ``mock-wiro serve``.

The seed page's "Get Task Process Information and Results with Socket Connection"
``<script>`` (``WebSocketConnect``) and its "Prepare UI Elements Inside Body Tag"
divs are cut out of the seed page text verbatim and put in a bare HTML page. Two
literals change, nothing else: the socket URL ``wss://socket.wiro.ai/v1`` becomes
the fake's ``ws://127.0.0.1:PORT/v1`` and the sample token becomes the
``socketaccesstoken`` of a task made by a signed multipart Run.

The page is written to ``tmp_path`` and opened as ``file://``: no second server,
no second port, and the WebSocket handshake carries ``Origin: null``, the least
friendly origin a browser sends (a fake that checked origins would fail here).

The server runs as a real subprocess on the manual clock, so every frame happens
when the test says: the page first receives the queued task's past frame (the
history replay on registration), then a first clock advance brings live frames
up to ``task_start``, then a second one runs the task to its end. Waits are
WebDriverWait conditions on the DOM; nothing sleeps.

The snippet's ``ws.onclose`` calls ``alert()``. The connection stays open until
the server stops; the test then sees that alert (the server's SIGTERM closed the
socket) and accepts it. The session's unhandled-prompt behaviour is ``dismiss``,
so a stray alert can never wedge a WebDriver command either.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from contract_tests.contract import FROM_END, UNTIL_START
from mock_wiro_fixtures import image_bytes, seed_page_text
from tests.helpers.browser import chromium
from tests.helpers.serve import STOP_TIMEOUT, Served, start_serve

SEED = seed_page_text()
SEED_SOCKET = "wss://socket.wiro.ai/v1"
SEED_TOKEN = "eDcCm5yyUfIvMFspTwww49OUfgXkQt"
KEY = "browserKey4Fh8Qrs"
SECRET = "browserSecret2Lm7Tuv"
IMAGE = "landscape_16x9.jpg"
WAIT = 60.0  # generous: only a hang fails it
FRAME_KEYS = {"type", "id", "tasktoken", "message", "result"}  # the contract's frame shape
# a successful task's frame types, consecutive repeats (task_output) collapsed [docs]
SUCCESS_TYPES = [*UNTIL_START, "task_output", "task_output_full", *FROM_END]
_nonces = itertools.count(int(time.time()))


# ---------------------------------------------------------------- cutting the seed
def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, (old, text)
    return text.replace(old, new)


def seed_script() -> str:
    """The seed's ``<script type="text/javascript">`` ... ``</script>`` block, verbatim."""
    lines = SEED.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("<script")]
    ends = [i for i, line in enumerate(lines) if line == "</script>"]
    assert len(starts) == 1 and len(ends) == 1 and starts[0] < ends[0], (starts, ends)
    assert lines[starts[0] - 1] == "Get Task Process Information and Results with Socket Connection"
    block = "\n".join(lines[starts[0] : ends[0] + 1]) + "\n"
    assert "function WebSocketConnect(accessTokenFromAPI)" in block
    return block


def seed_divs() -> str:
    """The lines under "Prepare UI Elements Inside Body Tag", verbatim."""
    lines = SEED.splitlines()
    at = lines.index("Prepare UI Elements Inside Body Tag")
    divs = lines[at + 1 : at + 3]
    assert divs == ['<div id="files"></div>', '<pre id="debug"></pre>'], divs
    return "\n".join(divs) + "\n"


def seed_page(socket_url: str, token: str) -> str:
    """The seed's divs and script in a bare page; only the socket URL and token changed."""
    assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/v1", socket_url), socket_url
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token), token  # safe inside the JS '...' literal
    script = replace_once(seed_script(), f'"{SEED_SOCKET}"', f'"{socket_url}"')
    script = replace_once(script, f"'{SEED_TOKEN}'", f"'{token}'")
    return "<html><body>\n" + seed_divs() + script + "</body></html>\n"


def test_page_is_the_seed_with_two_literals_changed() -> None:
    page = seed_page("ws://127.0.0.1:1/v1", "TOKEN")
    original = "<html><body>\n" + seed_divs() + seed_script() + "</body></html>\n"
    changed = [
        (a, b) for a, b in zip(original.splitlines(), page.splitlines(), strict=True) if a != b
    ]
    assert changed == [
        (
            "var SocketAccessToken = 'eDcCm5yyUfIvMFspTwww49OUfgXkQt';",
            "var SocketAccessToken = 'TOKEN';",
        ),
        (
            'var ws = new WebSocket("wss://socket.wiro.ai/v1");',
            'var ws = new WebSocket("ws://127.0.0.1:1/v1");',
        ),
    ]


# ---------------------------------------------------------------- the fake, signed by hand
class Client:
    """Signed REST calls (hmac here, not the fake's code) and control calls, no proxies."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.session = requests.Session()
        self.session.trust_env = False

    def headers(self) -> dict[str, str]:
        nonce = str(next(_nonces))
        signature = hmac.new(KEY.encode(), (SECRET + nonce).encode(), hashlib.sha256)
        return {"x-api-key": KEY, "x-nonce": nonce, "x-signature": signature.hexdigest()}

    def ok(self, path: str, **kwargs: Any) -> dict[str, Any]:
        url = f"{self.served.rest}/{path}"
        response = self.session.post(url, headers=self.headers(), timeout=30, **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["result"] is True and body["errors"] == [], body
        return body

    def run(self) -> tuple[str, str]:
        """The seed's Run, multipart with a fixture image: (taskid, socketaccesstoken)."""
        data = {
            "inputImageFirstUrl": "",
            "prompt": "a browser test",
            "promptOptimizer": "true",
            "resolution": "768P",
            "duration": "6",
        }
        files = {"inputImageFirst": (IMAGE, image_bytes(IMAGE), "image/jpeg")}
        body = self.ok("Run/minimax/hailuo-2-3-fast", data=data, files=files)
        return body["taskid"], body["socketaccesstoken"]

    def detail(self, taskid: str) -> dict[str, Any]:
        task: dict[str, Any] = self.ok("Task/Detail", json={"taskid": taskid})["tasklist"][0]
        return task

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.session.request(method, self.served.control + path, json=body, timeout=120)
        assert response.status_code == 200, response.text
        return response.json()


# ---------------------------------------------------------------- fixtures
@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """``mock-wiro serve --port 0 --clock manual`` as a subprocess. The test stops it
    with SIGTERM; this only makes sure it is gone if the test failed first."""
    served = start_serve(tmp_path, "--api-key", KEY, "--api-secret", SECRET, "--clock", "manual")
    try:
        yield served
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(timeout=STOP_TIMEOUT)
        served.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Debian Chromium through Debian's chromedriver (no selenium-manager)."""
    with chromium(tmp_path, wait=WAIT) as driver:
        yield driver


# ---------------------------------------------------------------- reading the page
def debug_lines(driver: WebDriver) -> list[str]:
    """``#debug``'s text: the snippet writes ``"\\n" + frame`` per frame."""
    text: str = driver.execute_script("return document.getElementById('debug').textContent;")
    return text.split("\n")


def frame_types(driver: WebDriver) -> list[str]:
    types = []
    for line in debug_lines(driver)[1:]:
        try:
            types.append(json.loads(line).get("type"))
        except ValueError:
            types.append(None)
    return types


def image_sources(driver: WebDriver) -> list[str]:
    """The ``src`` attribute (as written, not resolved) of every ``#files <img>``."""
    return [
        img.get_dom_attribute("src") or ""
        for img in driver.find_elements(By.CSS_SELECTOR, "#files img")
    ]


def wait_until(driver: WebDriver, what: str, condition: Any) -> Any:
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(condition)
    except TimeoutException:
        raise AssertionError(
            f"timed out waiting for {what}; #debug: {debug_lines(driver)!r}; "
            f"#files: {image_sources(driver)!r}"
        ) from None


# ---------------------------------------------------------------- the test
def test_seed_websocket_snippet_in_headless_chromium(
    served: Served, browser: WebDriver, tmp_path: Path
) -> None:
    client = Client(served)
    socket_url = served.fields["WebSocket"]
    taskid, token = client.run()
    assert client.detail(taskid)["status"] == "task_queue"  # manual clock: nothing moves

    page = tmp_path / "seed-socket.html"
    page.write_text(seed_page(socket_url, token), encoding="utf-8")
    browser.get(page.as_uri())

    # registered: the queued task's past frame arrives (history replay)
    wait_until(browser, "the replayed task_queue frame", lambda d: frame_types(d) == ["task_queue"])

    # live frames, in two steps driven by the fake clock
    client.control("POST", "/clock/advance", {"seconds": 10})
    wait_until(browser, "live frames up to task_start", lambda d: "task_start" in frame_types(d))
    assert image_sources(browser) == []
    client.control("POST", "/clock/advance", {"seconds": 600})
    waited = client.control("POST", f"/tasks/{taskid}/wait", {"timeout": 60})
    assert waited == {"reached": True, "status": "task_postprocess_end"}

    task = client.detail(taskid)
    assert task["status"] == "task_postprocess_end" and task["pexit"] == "0", task
    assert len(task["outputs"]) == 1, task["outputs"]
    output_url = task["outputs"][0]["url"]
    assert output_url.startswith(served.fields["REST"].removesuffix("/v1") + "/")
    wait_until(browser, "the output <img>", lambda d: output_url in image_sources(d))
    assert image_sources(browser) == [output_url]

    # #debug: "\n" + one JSON frame per line, exactly the task's frames, in lifecycle order
    lines = debug_lines(browser)
    assert lines[0] == "", lines
    frames = [json.loads(line) for line in lines[1:]]
    for frame in frames:
        assert frame["id"] == taskid and frame["tasktoken"] == token, frame
        assert set(frame) == FRAME_KEYS and frame["result"] is True, frame
    types = [frame["type"] for frame in frames]
    collapsed = [t for i, t in enumerate(types) if i == 0 or t != types[i - 1]]
    assert collapsed == SUCCESS_TYPES, types
    events = client.control("GET", f"/tasks/{taskid}")["events"]
    assert [(f["type"], f["message"]) for f in frames] == [
        (e["type"], e["message"]) for e in events
    ]
    progress = [f["message"] for f in frames if isinstance(f["message"], dict)]
    assert any(p.get("type") == "progressGenerate" for p in progress), progress
    assert frames[-1]["message"] == task["outputs"], (frames[-1], task["outputs"])

    # the snippet's own console.log calls ran (headless Chromium keeps the console log)
    console = [entry["message"] for entry in browser.get_log("browser")]
    assert any('"Outputs: "' in message for message in console), console
    assert any("Your task postprocess has been completed." in message for message in console)
    assert not any('"e: "' in message for message in console), console  # no JS exception

    # SIGTERM with the page still connected: exit 0, and the page sees the socket close
    started = time.monotonic()
    code = served.stop(signal.SIGTERM)
    assert code == 0, served.stderr()
    assert time.monotonic() - started < STOP_TIMEOUT
    alert = wait_until(browser, "the onclose alert", expected_conditions.alert_is_present())
    assert alert.text == "Connection is closed..."
    alert.accept()
