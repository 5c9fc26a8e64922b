"""Issue 14's lean hot path: a retired task's Task/Detail fields are decompressed once per
change, not once per read (``wire.RETIRED_CACHE_SIZE``), and the journal takes a Run's
task id from the route instead of parsing the answer it just serialised."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mock_wiro.app import create_app
from mock_wiro.engine import models
from mock_wiro.engine.backend import Backend
from mock_wiro.engine.models import Project
from mock_wiro.http import wire
from mock_wiro.settings import RUN_PATH, Settings

_nonces = itertools.count(1)


@pytest.fixture
def served() -> Iterator[tuple[Backend, FlaskClient, Project]]:
    backend = Backend(Settings(clock_mode="instant"))
    app: Flask = create_app(backend=backend)
    backend.start()
    try:
        yield backend, app.test_client(), backend.create_project(balance="100")
    finally:
        backend.close()


def _post_raw(client: FlaskClient, project: Project, path: str, body: dict[str, Any]) -> Any:
    nonce = str(next(_nonces))
    digest = hmac.new(
        project.api_key.encode(), (project.api_secret + nonce).encode(), hashlib.sha256
    ).hexdigest()
    headers = {"x-api-key": project.api_key, "x-nonce": nonce, "x-signature": digest}
    return client.post(f"/v1/{path}", headers=headers, json=body)


def _post(client: FlaskClient, project: Project, path: str, body: dict[str, Any]) -> Any:
    return _post_raw(client, project, path, body).get_json()


def test_a_retired_task_is_decompressed_once_per_change(
    served: tuple[Backend, FlaskClient, Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, client, project = served
    run = _post(client, project, RUN_PATH, {"inputImageFirstUrl": "https://example.com/a.jpg"})
    task = backend.task_by_id(run["taskid"])
    assert task is not None and backend.wait_for(task, timeout=30)
    with backend.state_lock:
        task.retire()
    assert task.packed is not None

    unpacked: list[bytes] = []
    real = models._unpack

    def counting(packed: bytes) -> Any:
        unpacked.append(packed)
        return real(packed)

    monkeypatch.setattr(models, "_unpack", counting)
    first = _post(client, project, "Task/Detail", {"taskid": task.id})
    again = [_post(client, project, "Task/Detail", {"taskid": task.id}) for _ in range(5)]
    assert len(unpacked) == 1, "a retired task was decompressed on every read"
    assert all(a == first for a in again)
    assert first["tasklist"][0]["debugoutput"] and first["tasklist"][0]["outputs"]

    # what is not in the packed history is read fresh: outputs deleted show at once
    assert _post(client, project, "Task/InputOutputDelete", {"taskid": task.id})["result"]
    after = _post(client, project, "Task/Detail", {"taskid": task.id})["tasklist"][0]
    assert after["outputs"] == [] and after["debugoutput"] == first["tasklist"][0]["debugoutput"]

    # a change to the packed history (a new packed object) is decompressed again
    with backend.state_lock:
        task._history = bytes(task.packed)  # equal bytes, a new object: a change
    _post(client, project, "Task/Detail", {"taskid": task.id})
    assert len(unpacked) == 2


def test_the_cache_is_bounded(
    served: tuple[Backend, FlaskClient, Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, client, project = served
    monkeypatch.setattr(wire, "RETIRED_CACHE_SIZE", 2)
    ids = []
    for _ in range(4):
        run = _post(client, project, RUN_PATH, {"inputImageFirstUrl": "https://example.com/a.jpg"})
        task = backend.task_by_id(run["taskid"])
        assert task is not None and backend.wait_for(task, timeout=30)
        with backend.state_lock:
            task.retire()
        ids.append(task.id)
        _post(client, project, "Task/Detail", {"taskid": task.id})
    assert len(wire._retired) <= 2 and set(wire._retired) <= set(ids[-2:])


def test_the_journal_names_a_runs_task_without_parsing_the_answer(
    served: tuple[Backend, FlaskClient, Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, client, project = served
    parsed: list[object] = []
    real = json.loads

    def spying(text: Any, *args: Any, **kwargs: Any) -> Any:
        parsed.append(text)
        return real(text, *args, **kwargs)

    run = _post(client, project, RUN_PATH, {"inputImageFirstUrl": "https://example.com/a.jpg"})
    since = backend.journal.entries()[-1].seq
    with monkeypatch.context() as spied:
        spied.setattr(json, "loads", spying)
        raw = _post_raw(
            client, project, RUN_PATH, {"inputImageFirstUrl": "https://b.example/b.jpg"}
        )
    run2 = raw.get_json()  # the test's own parse, after the spy
    [entry] = backend.journal.entries("request", since=since, path="/Run/")
    assert entry.get("task") == run2["taskid"] != run["taskid"]
    # the answer (the only text holding a socketaccesstoken) was parsed by no one
    assert not [
        p
        for p in parsed
        if b"socketaccesstoken" in (p if isinstance(p, bytes) else str(p).encode())
    ]


class _FakeWs:
    """What ``_next_message`` reads of simple-websocket's ``Server``: its input buffer,
    connected flag and event (each wait recorded)."""

    def __init__(self) -> None:
        self.input_buffer: list[str] = []
        self.connected = True
        self.close_reason = self.close_message = None
        self.waits: list[float | None] = []
        self.event = self

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return True

    def clear(self) -> None:
        pass


def test_an_idle_socket_waits_on_its_event_not_a_one_second_poll() -> None:
    from mock_wiro.push.hub import Subscriber
    from mock_wiro.push.route import IDLE_CHECK_SECONDS, _next_message

    ws, sub = _FakeWs(), Subscriber(8)
    ws.input_buffer.append('{"type": "ping"}')
    assert _next_message(ws, sub) == '{"type": "ping"}' and ws.waits == []  # no wait
    sub.close()  # the writer ends and sets the event: the reader loop stops
    assert _next_message(ws, sub) is None
    woken = Subscriber(8)

    def close_on_wait(timeout: float | None = None) -> bool:
        ws.waits.append(timeout)
        woken.close()  # what the writer's end does, through the event
        return True

    ws.wait = close_on_wait  # type: ignore[method-assign]
    assert _next_message(ws, woken) is None
    assert ws.waits == [IDLE_CHECK_SECONDS] and IDLE_CHECK_SECONDS >= 10
