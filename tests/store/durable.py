"""A durable ``mock-wiro serve`` over real HTTP: start it on a data dir, talk to it, stop
or kill it, start it again. Waits are the server's own (``/_mock/tasks/<id>/wait``, the
manual clock's ``advance``): no sleeps."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import requests

from mock_wiro.settings import RUN_PATH
from mock_wiro_fixtures import image_bytes
from tests.helpers.frames import connect, read_until_terminal, subscribe
from tests.helpers.serve import Served, start_serve

KEY, SECRET = "durable-key", "durable-secret"
PUBLIC_URL = "http://127.0.0.1:9"
"""File URLs are built from this, so they read the same after a restart on another port."""
TIMEOUT = 30


class Fake:
    """One ``mock-wiro serve --data-dir`` process, and calls to it."""

    def __init__(self, tmp: Path, data: Path, *args: str) -> None:
        self.served: Served = start_serve(
            tmp,
            "--data-dir",
            str(data),
            "--clock",
            "manual",
            "--api-key",
            KEY,
            "--api-secret",
            SECRET,
            "--auth",
            "apikey",
            "--public-url",
            PUBLIC_URL,
            *args,
        )
        self.base = self.served.control.removesuffix("/_mock")

    # ------------------------------------------------------------ /v1
    def post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = requests.post(
            f"{self.base}/v1/{path}", headers={"x-api-key": KEY}, timeout=TIMEOUT, **kwargs
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def run(self, prompt: str = "waves", **fields: str) -> str:
        data = {"prompt": prompt, "inputImageFirstUrl": "https://example.com/in.jpg", **fields}
        made = self.post(RUN_PATH, data=data)
        assert made["result"] is True, made
        taskid: str = made["taskid"]
        return taskid

    def run_with_upload(self, prompt: str = "from a file") -> str:
        image = image_bytes("landscape_16x9.jpg")
        made = self.post(
            RUN_PATH,
            files={"inputImageFirst": ("in.jpg", image)},
            data={"prompt": prompt, "inputImageFirstUrl": ""},
        )
        assert made["result"] is True, made
        taskid: str = made["taskid"]
        return taskid

    def detail(self, taskid: str) -> dict[str, Any]:
        body = self.post("Task/Detail", data={"taskid": taskid})
        assert body["result"] is True, body
        item: dict[str, Any] = body["tasklist"][0]
        return item

    def list_tasks(self) -> dict[str, Any]:
        return self.post("Task/List", data={"limit": "100"})

    def upload(self, name: str, data: bytes) -> dict[str, Any]:
        body = self.post("File/Upload", files={"file": (name, data)})
        assert body["result"] is True, body
        item: dict[str, Any] = body["list"][0]
        return item

    def download(self, url: str) -> requests.Response:
        """A file URL (built on ``PUBLIC_URL``), fetched from this process."""
        assert url.startswith(PUBLIC_URL), url
        return requests.get(self.base + url.removeprefix(PUBLIC_URL), timeout=TIMEOUT)

    # ------------------------------------------------------------ /_mock
    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = requests.request(
            method, f"{self.served.control}{path}", json=body, timeout=TIMEOUT + 30
        )
        assert answer.status_code < 300, answer.text
        return answer.json()

    def advance(self, seconds: float) -> float:
        now: float = self.control("POST", "/clock/advance", {"seconds": seconds})["now"]
        return now

    def now(self) -> float:
        now: float = self.control("GET", "/clock")["now"]
        return now

    def wait(self, taskid: str, status: str | list[str] = "terminal") -> dict[str, Any]:
        waited: dict[str, Any] = self.control(
            "POST", f"/tasks/{taskid}/wait", {"status": status, "timeout": TIMEOUT}
        )
        return waited

    def finish(self, taskid: str) -> dict[str, Any]:
        """Advance far enough for any task to end, and wait until it has."""
        self.advance(600)
        waited = self.wait(taskid)
        assert waited["reached"] is True, waited
        return self.detail(taskid)

    def projects(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.control("GET", "/projects")["projects"]
        return found

    def balance(self) -> str:
        (mine,) = [p for p in self.projects() if p["api_key"] == KEY]
        balance: str = mine["balance"]
        return balance

    def frames(self, token: str) -> list[dict[str, Any]]:
        """A late subscriber's replay of a finished task's frames, over the socket."""
        with connect(self.served.fields["WebSocket"]) as ws:
            subscribe(ws, token)
            return read_until_terminal(ws)

    # ------------------------------------------------------------ life
    def stop(self) -> int:
        return self.served.stop(signal.SIGTERM)

    def kill(self) -> int:
        return self.served.stop(signal.SIGKILL)


def comparable(detail: dict[str, Any]) -> str:
    """A Task/Detail item as canonical JSON (for 'identical' comparisons)."""
    return json.dumps(detail, sort_keys=True)
