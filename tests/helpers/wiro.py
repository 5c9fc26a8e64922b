"""Signed requests to the fake from a test, and separate fakes with other settings.

:class:`Wiro` signs through :func:`mock_wiro.testing.signed_headers` (checked against the
openssl-made golden vectors in ``tests/http/test_auth.py``, which signs with ``hmac`` on
its own: the fake's verification is judged by code that shares nothing with it).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from mock_wiro.engine.models import Project
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from mock_wiro.testing import signed_headers


class Wiro:
    """Signed requests to one project of the fake, over real HTTP."""

    def __init__(self, server: MockWiroServer, project: Project) -> None:
        self.server = server
        self.project = project
        self.base = server.base_url
        self.session = requests.Session()

    def headers(self, nonce: str | None = None) -> dict[str, str]:
        return signed_headers(self.project, nonce)

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
        from mock_wiro_fixtures import image_bytes

        data = {"inputImageFirstUrl": "", "prompt": "a test", **fields}
        files = {"inputImageFirst": (image, image_bytes(image))}
        return self.ok("Run/minimax/hailuo-2-3-fast", data=data, files=files)

    def detail(self, taskid: str) -> dict[str, Any]:
        task: dict[str, Any] = self.ok("Task/Detail", json={"taskid": taskid})["tasklist"][0]
        return task


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
