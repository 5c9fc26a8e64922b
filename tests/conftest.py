"""Shared fixtures: the fake on a real loopback port, and a small signed HTTP helper.

The helper signs with ``hmac`` on its own (the fake's signing code is never
imported), and the golden vectors in ``fixtures/`` check both.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from mock_wiro.engine.models import Project
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings

_nonces = itertools.count(1_700_000_000)


class Wiro:
    """Signed requests to one project of the fake, over real HTTP."""

    def __init__(self, server: MockWiroServer, project: Project) -> None:
        self.server = server
        self.project = project
        self.base = server.base_url
        self.session = requests.Session()

    def headers(self, nonce: str | None = None) -> dict[str, str]:
        headers = {"x-api-key": self.project.api_key}
        if self.project.auth_mode == "signature":
            nonce = nonce or str(next(_nonces))
            message = (self.project.api_secret + nonce).encode()
            signature = hmac.new(self.project.api_key.encode(), message, hashlib.sha256)
            headers |= {"x-nonce": nonce, "x-signature": signature.hexdigest()}
        return headers

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return self.session.post(f"{self.base}/{path}", headers=headers, timeout=30, **kwargs)

    def call(self, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.post(path, **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def ok(self, path: str, **kwargs: Any) -> dict[str, Any]:
        body = self.call(path, **kwargs)
        assert body["result"] is True and body["errors"] == [], body
        return body

    def error(self, path: str, code: int, **kwargs: Any) -> str:
        body = self.call(path, **kwargs)
        assert body["result"] is False, body
        assert len(body["errors"]) == 1 and body["errors"][0]["code"] == code, body
        message: str = body["errors"][0]["message"]
        return message

    def run(self, image: str = "landscape_16x9.jpg", **fields: str) -> dict[str, Any]:
        """Run with a fixture image as a multipart file (the seed's way)."""
        from fixtures import image_bytes

        data = {"inputImageFirstUrl": "", "prompt": "a test", **fields}
        files = {"inputImageFirst": (image, image_bytes(image))}
        return self.ok("Run/minimax/hailuo-2-3-fast", data=data, files=files)

    def detail(self, taskid: str) -> dict[str, Any]:
        task: dict[str, Any] = self.ok("Task/Detail", json={"taskid": taskid})["tasklist"][0]
        return task


@pytest.fixture(scope="session")
def server() -> Iterator[MockWiroServer]:
    """One fake for the session, on a free loopback port, manual clock."""
    with MockWiroServer(Settings(clock_mode="manual")) as srv:
        yield srv


@pytest.fixture
def fake(server: MockWiroServer) -> Iterator[MockWiroServer]:
    """The session's fake, reset and in manual mode for this test."""
    server.reset()
    server.backend.clock.set_mode("manual")
    yield server
    server.reset()


@pytest.fixture
def wiro(fake: MockWiroServer) -> Wiro:
    """A fresh signature project on the session's fake, balance $100."""
    return Wiro(fake, fake.backend.create_project())


def make_server(**settings: Any) -> MockWiroServer:
    """A separate fake with other settings (start it with ``with``)."""
    return MockWiroServer(Settings(**settings))


def require_tool(name: str) -> str:
    """The path of an external tool (ffprobe, curl, openssl): skip without it, except in
    CI (``MOCK_WIRO_REQUIRE_TOOLS=1``), where its absence fails the test."""
    import os
    import shutil

    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed"
        if os.environ.get("MOCK_WIRO_REQUIRE_TOOLS") == "1":
            pytest.fail(reason + " (required: MOCK_WIRO_REQUIRE_TOOLS=1)")
        pytest.skip(reason)
    return path


@pytest.fixture
def callback_posts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs the fake's callback dispatcher POSTs to, in order (a spy around the
    ``requests.post`` it calls; the POSTs still go out)."""
    posted: list[str] = []
    real_post = requests.post

    def spy(target: str, *args: Any, **kwargs: Any) -> requests.Response:
        posted.append(target)
        return real_post(target, *args, **kwargs)

    monkeypatch.setattr("mock_wiro.push.callbacks.requests.post", spy)
    return posted
