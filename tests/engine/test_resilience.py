"""The engine survives bugs around it; waits end when they can't succeed. (Found by review;
each test fails without its fix.)"""

from __future__ import annotations

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


def test_instant_tasks_have_no_rate_for_zero_seconds() -> None:
    with MockWiroServer(Settings(clock_mode="instant")) as server:
        wiro = Wiro(server, server.backend.create_project())
        taskid = wiro.run()["taskid"]
        task = server.backend.task_by_id(taskid)
        assert task is not None and server.backend.wait_for(task, timeout=30)
        detail = wiro.detail(taskid)
        assert detail["elapsedseconds"] == "0.0000" and detail["cps"] == "0"
        assert float(detail["totalcost"]) == pytest.approx(0.19)
