"""The engine survives bugs around it; waits end when they can't succeed; servers start and
stop cleanly. (Found by review; each test fails without its fix.)"""

from __future__ import annotations

import socket
import time

import pytest

from mock_wiro.engine.models import Event, Task
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from tests.helpers.wiro import Wiro


def test_a_raising_listener_does_not_stall_the_lifecycle() -> None:
    with MockWiroServer(Settings(clock_mode="manual")) as server:
        calls: list[str] = []

        def broken(task: Task, event: Event) -> None:
            calls.append(event.type)
            raise RuntimeError("listener bug")

        server.backend.add_listener(broken)
        wiro = Wiro(server, server.backend.create_project(balance="10"))  # limit 1 task
        taskid = wiro.run()["taskid"]  # the listener raised on task_queue
        server.backend.advance(300)
        assert wiro.detail(taskid)["status"] == "task_postprocess_end"
        assert calls[0] == "task_queue" and calls[-1] == "task_postprocess_end"
        wiro.run()  # the slot was freed: no stuck task holds the concurrency limit


def test_wait_for_ends_when_the_status_can_no_longer_come(wiro: Wiro) -> None:
    backend = wiro.server.backend
    taskid = wiro.run()["taskid"]
    task = backend.task_by_id(taskid)
    assert task is not None
    wiro.ok("Task/Cancel", json={"taskid": taskid})
    start = time.monotonic()
    assert backend.wait_for(task, ["task_start"], timeout=30) is False
    assert time.monotonic() - start < 10  # woke on the cancel, not the timeout


def test_parameters_echo_the_field_that_carried_the_url(wiro: Wiro) -> None:
    url = "https://cdn.example.com/first.jpg"
    body = wiro.ok("Run/minimax/hailuo-2-3-fast", json={"inputImageFirst": url})
    params = wiro.detail(body["taskid"])["parameters"]
    assert params["inputImageFirst"] == url and params["inputImageFirstUrl"] == ""
    body = wiro.ok("Run/minimax/hailuo-2-3-fast", json={"inputImageFirstUrl": url})
    params = wiro.detail(body["taskid"])["parameters"]
    assert params["inputImageFirst"] == "" and params["inputImageFirstUrl"] == url


def test_instant_tasks_have_no_rate_for_zero_seconds() -> None:
    with MockWiroServer(Settings(clock_mode="instant")) as server:
        wiro = Wiro(server, server.backend.create_project())
        taskid = wiro.run()["taskid"]
        task = server.backend.task_by_id(taskid)
        assert task is not None and server.backend.wait_for(task, timeout=30)
        detail = wiro.detail(taskid)
        assert detail["elapsedseconds"] == "0.0000" and detail["cps"] == "0"
        assert float(detail["totalcost"]) == pytest.approx(0.19)


def test_an_upload_url_under_the_output_prefix_is_not_resolved(wiro: Wiro) -> None:
    from mock_wiro_fixtures import image_bytes

    files = {"file": ("a.jpg", image_bytes("landscape_16x9.jpg"))}
    url = wiro.ok("File/Upload", files=files)["list"][0]["url"]
    wrong = url.replace("/v1/File/", "/cdn/")
    taskid = wiro.ok("Run/minimax/hailuo-2-3-fast", json={"inputImageFirstUrl": wrong})["taskid"]
    wiro.server.backend.advance(300)
    detail = wiro.detail(taskid)
    assert detail["pexit"] != "0" and "404" in detail["debugerror"]


def test_port_in_use_raises_oserror_and_stop_without_start_returns() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="cannot listen"):
            MockWiroServer(port=taken.getsockname()[1])
    server = MockWiroServer()
    server.stop()  # never started: must not hang
    server.stop()  # idempotent
