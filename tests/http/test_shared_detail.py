"""A finished task's tasklist item is built and encoded once while it stays the same
(``wire.task_detail_shared``, ``FastApi.encode``): the answers are the same bytes as
built afresh, and anything that changes the item (its files deleted, another fake with
the same task id) gets a fresh one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from mock_wiro.engine.models import Project
from mock_wiro.http import wire
from mock_wiro.http.fast import FAST_PATH_EXTENSION, FastApi
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import RUN_PATH, Settings
from mock_wiro.testing import signed_session

RUN = {"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "waves"}


@pytest.fixture
def served() -> Iterator[tuple[MockWiroServer, Project, requests.Session]]:
    with MockWiroServer(Settings(clock_mode="manual")) as server:
        project = server.create_project(balance="100")
        yield server, project, signed_session(project, server.base_url)


def _finished(server: MockWiroServer, api: requests.Session, n: int = 1) -> list[str]:
    ids = [api.post(RUN_PATH, json=RUN).json()["taskid"] for _ in range(n)]
    server.advance(300)
    for taskid in ids:
        task = server.backend.task_by_id(taskid)
        assert task is not None and task.packed is not None  # retired: shared from now on
    return ids


def _fast(server: MockWiroServer) -> FastApi:
    found = server.app.extensions[FAST_PATH_EXTENSION]
    assert isinstance(found, FastApi)
    return found


def _raw(api: requests.Session, path: str, body: dict[str, Any]) -> bytes:
    answer = api.post(path, json=body)
    assert answer.status_code == 200
    return answer.content


def test_a_finished_task_is_built_and_encoded_once(
    served: tuple[MockWiroServer, Project, requests.Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _, api = served
    [taskid] = _finished(server, api)
    built: list[str] = []
    encoded: list[str] = []
    real_build, fast = wire.task_detail, _fast(server)
    real_dumps = fast._dumps
    monkeypatch.setattr(wire, "task_detail", lambda t, u: built.append(t.id) or real_build(t, u))
    monkeypatch.setattr(
        fast,
        "_dumps",
        lambda o: (encoded.append(o["id"]) if "id" in o else None) or real_dumps(o),
    )
    served_before = fast.served
    first = _raw(api, "Task/Detail", {"taskid": taskid})
    again = [_raw(api, "Task/Detail", {"taskid": taskid}) for _ in range(3)]
    assert fast.served == served_before + 4  # the fast path answered them all
    assert built == [taskid] and encoded == [taskid]
    assert again == [first] * 3


def test_the_answers_are_the_bytes_flask_writes(
    served: tuple[MockWiroServer, Project, requests.Session],
) -> None:
    """Spliced answers (Detail, Cancel and Kill of finished tasks, a List of several, a
    List mixing a running task) against the same calls through Flask, which encodes the
    whole answer itself."""
    server, _, api = served
    ids = _finished(server, api, 3)
    running = api.post(RUN_PATH, json=RUN).json()["taskid"]
    calls = [
        ("Task/Detail", {"taskid": ids[0]}),
        ("Task/Cancel", {"taskid": ids[1]}),
        ("Task/Kill", {"taskid": ids[2]}),
        ("Task/List", {"limit": "3", "order": "ASC"}),
        ("Task/List", {"limit": "10"}),
        ("Task/Detail", {"taskid": running}),
    ]
    fast = _fast(server)
    for path, body in calls:
        spliced = _raw(api, path, body)
        fast.enabled = False
        try:
            whole = _raw(api, path, body)
        finally:
            fast.enabled = True
        assert spliced == whole, path


def test_deleting_the_files_changes_the_shared_item(
    served: tuple[MockWiroServer, Project, requests.Session],
) -> None:
    server, _, api = served
    [taskid] = _finished(server, api)
    before = api.post("Task/Detail", json={"taskid": taskid}).json()["tasklist"][0]
    assert before["outputs"] and before["size"] != "0"
    deleted = api.post("Task/InputOutputDelete", json={"taskid": taskid}).json()
    assert deleted["result"] is True
    after = api.post("Task/Detail", json={"taskid": taskid}).json()["tasklist"][0]
    assert after["outputs"] == [] and after["size"] == "0"


def test_two_fakes_with_the_same_task_id_share_nothing() -> None:
    """Two fakes in one process number their tasks alike: each answer is its own."""
    answers = []
    for _ in range(2):
        with MockWiroServer(Settings(clock_mode="manual")) as server:
            project = server.create_project(balance="100")
            api = signed_session(project, server.base_url)
            [taskid] = _finished(server, api)
            item = api.post("Task/Detail", json={"taskid": taskid}).json()["tasklist"][0]
            answers.append((taskid, item, server.base_url))
    (id_a, a, url_a), (id_b, b, url_b) = answers
    assert id_a == id_b  # the case that matters
    assert a["uuid"] != b["uuid"] and a["socketaccesstoken"] != b["socketaccesstoken"]
    assert a["outputs"][0]["url"].startswith(url_a.rsplit("/v1", 1)[0])
    assert b["outputs"][0]["url"].startswith(url_b.rsplit("/v1", 1)[0])


def test_a_new_base_url_gives_new_output_urls(
    served: tuple[MockWiroServer, Project, requests.Session],
) -> None:
    """The same finished task, its files named under another base URL (a public URL set
    later): the shared item is not the one kept for the old URLs."""
    server, _, api = served
    [taskid] = _finished(server, api)
    task = server.backend.task_by_id(taskid)
    assert task is not None
    with server.backend.state_lock:
        first = wire.task_detail_shared(task, lambda o: f"http://a.test/{o.name}")
        again = wire.task_detail_shared(task, lambda o: f"http://a.test/{o.name}")
        moved = wire.task_detail_shared(task, lambda o: f"http://b.test/{o.name}")
    assert again is first  # unchanged: shared
    assert first["outputs"][0]["url"].startswith("http://a.test/")
    assert moved["outputs"][0]["url"].startswith("http://b.test/")
