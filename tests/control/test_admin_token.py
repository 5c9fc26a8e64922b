"""The admin token: with one set, every ``/_mock`` request needs ``X-Admin-Token``."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings, is_loopback
from tests.helpers import REPO
from tests.helpers.wiro import Wiro

TOKEN = "s3cret-admin-token"
REFUSED = {"error": "admin token required: send X-Admin-Token"}


@pytest.fixture(scope="module")
def guarded() -> Iterator[MockWiroServer]:
    with MockWiroServer(Settings(clock_mode="manual", admin_token=TOKEN)) as server:
        yield server


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/_mock/health", None),
        ("GET", "/_mock/tasks", None),
        ("POST", "/_mock/clock/advance", {"seconds": 1}),
        ("POST", "/_mock/reset", None),
        ("POST", "/_mock/snapshot", None),
        ("GET", "/_mock/journal", None),
        ("GET", "/_mock/faults", None),  # another blueprint under /_mock
        ("GET", "/_mock/nothing-here", None),
    ],
)
def test_control_needs_the_token(
    guarded: MockWiroServer, method: str, path: str, body: dict[str, int] | None
) -> None:
    url = guarded.url + path
    for headers in ({}, {"X-Admin-Token": "wrong"}, {"X-Admin-Token": TOKEN + "x"}):
        response = requests.request(method, url, json=body, headers=headers, timeout=10)
        assert response.status_code == 401, (path, headers, response.text)
        assert response.json() == REFUSED


def test_the_right_token_passes(guarded: MockWiroServer) -> None:
    headers = {"X-Admin-Token": TOKEN}
    health = requests.get(guarded.url + "/_mock/health", headers=headers, timeout=10)
    assert health.status_code == 200 and health.json() == {"ok": True}
    advance = requests.post(
        guarded.url + "/_mock/clock/advance", json={"seconds": 2}, headers=headers, timeout=10
    )
    assert advance.status_code == 200, advance.text
    # the body checks still apply once the token is right
    form = requests.post(guarded.url + "/_mock/reset", data="x", headers=headers, timeout=10)
    assert form.status_code == 415


def test_the_api_is_unaffected(guarded: MockWiroServer) -> None:
    assert guarded.admin_token == TOKEN
    wiro = Wiro(guarded, guarded.create_project())
    task = wiro.run()
    assert wiro.detail(task["taskid"])["status"] == "task_queue"
    guarded.advance(600)  # the Python controls need no token
    guarded.wait_for_task(task["taskid"])
    [output] = wiro.detail(task["taskid"])["outputs"]
    assert requests.get(output["url"], timeout=10).status_code == 200


def test_no_token_no_check(server: MockWiroServer) -> None:
    assert server.admin_token is None
    assert requests.get(server.url + "/_mock/health", timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.10", False),
        ("example.test", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def _read_banner(process: subprocess.Popen[str], timeout: float = 30.0) -> str:
    """The banner, up to its last line; read on a thread (a text pipe's buffer hides
    lines from ``select``)."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stdout:
            lines.put(line)
            if line.startswith("Ctrl-C to stop."):
                return
        lines.put("")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if not line:
            break
        seen.append(line)
        if line.startswith("Ctrl-C to stop."):
            reader.join(timeout=5)
            return "".join(seen)
    raise AssertionError("no banner: " + "".join(seen))


def _serve(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_WIRO_")}
    return subprocess.Popen(
        [sys.executable, "-m", "mock_wiro", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=REPO,
    )


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    finally:
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_cli_generates_a_token_off_loopback() -> None:
    process = _serve("--host", "0.0.0.0")
    try:
        banner = _read_banner(process)
        found = re.search(r"X-Admin-Token: (\S+)", banner)
        assert found, banner
        token = found.group(1)
        port = re.search(r"control:\s+http://127\.0\.0\.1:(\d+)/_mock", banner)
        assert port, banner
        health = f"http://127.0.0.1:{port.group(1)}/_mock/health"
        assert requests.get(health, timeout=10).status_code == 401
        wrong = requests.get(health, headers={"X-Admin-Token": token[:-1]}, timeout=10)
        assert wrong.status_code == 401
        right = requests.get(health, headers={"X-Admin-Token": token}, timeout=10)
        assert right.status_code == 200 and right.json() == {"ok": True}
    finally:
        code = _stop(process)
    assert code == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_cli_on_loopback_needs_no_token_unless_given() -> None:
    process = _serve("--host", "127.0.0.1")
    try:
        banner = _read_banner(process)
        assert "X-Admin-Token" not in banner
        port = re.search(r"control:\s+http://127\.0\.0\.1:(\d+)/_mock", banner)
        assert port, banner
        health = f"http://127.0.0.1:{port.group(1)}/_mock/health"
        assert requests.get(health, timeout=10).status_code == 200
    finally:
        assert _stop(process) == 0

    process = _serve("--host", "127.0.0.1", "--admin-token", TOKEN)
    try:
        banner = _read_banner(process)
        assert TOKEN not in banner  # a given token is not echoed
        port = re.search(r"control:\s+http://127\.0\.0\.1:(\d+)/_mock", banner)
        assert port, banner
        health = f"http://127.0.0.1:{port.group(1)}/_mock/health"
        assert requests.get(health, timeout=10).status_code == 401
        ok = requests.get(health, headers={"X-Admin-Token": TOKEN}, timeout=10)
        assert ok.status_code == 200
    finally:
        assert _stop(process) == 0


def test_python_server_off_loopback_gets_a_token_too() -> None:
    from mock_wiro.server import MockWiroServer

    with MockWiroServer(host="0.0.0.0") as server:
        token = server.admin_token
        assert token
        url = f"http://127.0.0.1:{server.port}/_mock/reset"
        assert requests.post(url, timeout=10).status_code == 401
        ok = requests.post(url, headers={"X-Admin-Token": token}, timeout=10)
        assert ok.status_code == 200
    with MockWiroServer() as local:  # loopback: none needed
        assert local.admin_token is None
