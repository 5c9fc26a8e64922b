"""The task lifecycle on the fake's clock: success, failure, cancel, kill, clock modes.

Time is driven with the manual clock (``backend.advance``) or waited on with
``backend.wait_for`` (woken by the engine); nothing here sleeps.
"""

from __future__ import annotations

import pytest
import requests

from contract_tests.contract import FROM_END, UNTIL_START
from mock_wiro.engine.lifecycle import PROGRESS_STEPS
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from mock_wiro_fixtures import INVALID_IMAGES, image_bytes
from tests.helpers.frames import PROGRESS_KEYS
from tests.helpers.wiro import Wiro

SUCCESS_ORDER = [
    *UNTIL_START,
    *["task_output"] * (PROGRESS_STEPS + 2),
    "task_output_full",
    *FROM_END,
]
TIME_FIELDS = [
    "createtime",
    "accepttime",
    "preprocessstarttime",
    "preprocessendtime",
    "assigntime",
    "starttime",
    "endtime",
    "postprocessstarttime",
    "postprocessendtime",
]


def event_types(wiro: Wiro, taskid: str) -> list[str]:
    task = wiro.server.backend.task_by_id(taskid)
    assert task is not None
    return [e.type for e in task.events]


def test_success_path_in_order_with_clock_timestamps(wiro: Wiro) -> None:
    backend = wiro.server.backend
    start = backend.clock.now()
    taskid = wiro.run()["taskid"]
    task = wiro.detail(taskid)
    assert task["status"] == "task_queue"
    assert task["createtime"] == str(int(start))
    assert task["accepttime"] == "0" and task["pexit"] == "0" and task["outputs"] == []

    backend.advance(1.0)  # task_accept is due 1 s after the queue [stage table]
    assert wiro.detail(taskid)["status"] == "task_accept"
    backend.advance(120)
    task = wiro.detail(taskid)
    assert task["status"] == "task_postprocess_end"
    assert event_types(wiro, taskid) == SUCCESS_ORDER
    stamps = [int(task[f]) for f in TIME_FIELDS]
    assert stamps == sorted(stamps) and stamps[0] == int(start)
    assert all(int(start) <= s <= int(start) + 120 for s in stamps)
    assert task["canceltime"] == "0"
    assert task["pexit"] == "0" and task["debugerror"] == ""
    assert len(task["outputs"]) == 1
    output = task["outputs"][0]
    assert output["contenttype"] == "video/mp4" and output["name"] == "0.mp4"
    assert output["uuid"] == task["uuid"] and task["size"] == output["size"]
    assert float(task["elapsedseconds"]) > 30  # realistic fake seconds, not wall time
    assert float(task["totalcost"]) == pytest.approx(0.19)
    assert float(task["cps"]) * float(task["elapsedseconds"]) == pytest.approx(0.19, rel=1e-6)
    # every field a string (or the seed's nulls and ispublic 0)
    for key, value in task.items():
        if key in ("guestid", "marketplaceid"):
            assert value is None
        elif key not in ("parameters", "outputs"):
            assert isinstance(value, str), (key, value)


def test_progress_frames_and_full_logs(wiro: Wiro) -> None:
    taskid = wiro.run()["taskid"]
    wiro.server.backend.advance(200)
    task = wiro.server.backend.task_by_id(taskid)
    assert task is not None
    progress = [
        e.message for e in task.events if isinstance(e.message, dict) and "stepTotal" in e.message
    ]
    assert len(progress) == PROGRESS_STEPS
    assert [p["percentage"] for p in progress] == [str(10 * i) for i in range(1, 11)]
    first = progress[0]
    assert first["type"] == "progressGenerate" and first["task"] == "Generate"
    assert set(first) == PROGRESS_KEYS
    assert all(isinstance(v, str) for v in first.values())
    full = next(e.message for e in task.events if e.type == "task_output_full")
    assert isinstance(full, dict) and set(full) == {"raw"} and "Hailuo" in full["raw"]
    outputs = next(e.message for e in task.events if e.type == "task_postprocess_end")
    assert outputs == wiro.detail(taskid)["outputs"]


@pytest.mark.parametrize(("image", "rule"), sorted(INVALID_IMAGES.items()))
def test_bad_image_fails_the_task_naming_the_rule(wiro: Wiro, image: str, rule: str) -> None:
    taskid = wiro.run(image)["taskid"]  # Run accepts [A]
    wiro.server.backend.advance(200)
    task = wiro.detail(taskid)
    assert task["status"] == "task_postprocess_end"
    assert task["pexit"] != "0" and task["outputs"] == [] and task["totalcost"] == "0"
    assert f"rule: {rule}" in task["debugerror"], task["debugerror"]
    types = event_types(wiro, taskid)
    assert types[-5:] == [
        "task_output_full",
        "task_error_full",
        "task_end",
        "task_postprocess_start",
        "task_postprocess_end",
    ]
    assert "task_error" in types


def test_oversized_image_fails_on_size(wiro: Wiro) -> None:
    from mock_wiro_fixtures import oversized_png_bytes

    files = {"inputImageFirst": ("big.png", oversized_png_bytes())}
    taskid = wiro.ok("Run/minimax/hailuo-2-3-fast", files=files)["taskid"]
    wiro.server.backend.advance(200)
    task = wiro.detail(taskid)
    assert task["pexit"] != "0" and "rule: size" in task["debugerror"]


def test_only_successful_tasks_are_billed(wiro: Wiro) -> None:
    backend = wiro.server.backend
    before = wiro.project.balance
    wiro.run("too_wide_3x1.jpg")
    wiro.run(resolution="1080P")
    backend.advance(300)
    assert wiro.project.balance == before - backend_price("1080P", "6")


def backend_price(resolution: str, duration: str) -> object:
    from mock_wiro.settings import PRICE_TABLE_USD

    return PRICE_TABLE_USD[(resolution, duration)]


def test_cancel_queued_task(wiro: Wiro) -> None:
    taskid = wiro.run()["taskid"]
    body = wiro.ok("Task/Cancel", json={"taskid": taskid})
    assert body["tasklist"][0]["status"] == "task_cancel"
    assert body["tasklist"][0]["canceltime"] != "0"
    wiro.server.backend.advance(300)
    assert wiro.detail(taskid)["status"] == "task_cancel"  # stays cancelled
    assert event_types(wiro, taskid) == ["task_queue", "task_cancel"]


def test_cancel_after_queue_is_refused(wiro: Wiro) -> None:
    taskid = wiro.run()["taskid"]
    wiro.server.backend.advance(1.0)
    message = wiro.error("Task/Cancel", 1, json={"taskid": taskid})
    assert message == "Task is not in a cancellable state."
    assert wiro.detail(taskid)["status"] == "task_accept"


@pytest.mark.parametrize("key", ["taskid", "tasktoken", "socketaccesstoken"])
def test_kill_running_task(wiro: Wiro, key: str) -> None:
    run = wiro.run()
    wiro.server.backend.advance(10)  # generating by now
    assert wiro.detail(run["taskid"])["status"] == "task_output"
    value = run["taskid"] if key == "taskid" else run["socketaccesstoken"]
    body = wiro.ok("Task/Kill", json={key: value})
    killed = body["tasklist"][0]
    assert killed["status"] == "task_cancel" and killed["outputs"] == []
    assert killed["pexit"] != "0"
    wiro.server.backend.advance(300)
    types = event_types(wiro, run["taskid"])
    assert types[-1] == "task_cancel" and "task_postprocess_end" not in types
    assert wiro.project.balance == 100  # not billed


def test_kill_finished_task_is_refused(wiro: Wiro) -> None:
    taskid = wiro.run()["taskid"]
    wiro.server.backend.advance(300)
    message = wiro.error("Task/Kill", 1, json={"taskid": taskid})
    assert message.startswith("Task could not be killed: ")
    assert wiro.error("Task/Cancel", 1, json={"taskid": taskid}) == (
        "Task is not in a cancellable state."
    )


def test_instant_clock_finishes_without_advancing() -> None:
    with MockWiroServer(Settings(clock_mode="instant")) as srv:
        project = srv.backend.create_project()
        wiro = Wiro(srv, project)
        taskid = wiro.run()["taskid"]
        task = srv.backend.task_by_id(taskid)
        assert task is not None
        assert srv.backend.wait_for(task, timeout=30)
        detail = wiro.detail(taskid)
        assert detail["status"] == "task_postprocess_end" and detail["pexit"] == "0"
        assert detail["createtime"] == detail["postprocessendtime"] or (
            int(detail["postprocessendtime"]) - int(detail["createtime"]) <= 2
        )


def test_realtime_speed_runs_the_table_faster() -> None:
    # speed 1000: ~50 fake seconds take ~0.05 wall seconds; waited on, never slept
    with MockWiroServer(Settings(clock_mode="realtime", speed=1000)) as srv:
        wiro = Wiro(srv, srv.backend.create_project())
        taskid = wiro.run()["taskid"]
        task = srv.backend.task_by_id(taskid)
        assert task is not None
        assert srv.backend.wait_for(task, timeout=60)
        detail = wiro.detail(taskid)
        assert detail["status"] == "task_postprocess_end"
        assert float(detail["elapsedseconds"]) > 30  # fake seconds follow the table


def test_control_endpoint_advances_and_waits(wiro: Wiro) -> None:
    url = wiro.server.url + "/_mock"
    taskid = wiro.run()["taskid"]
    clock = requests.get(url + "/clock", timeout=10).json()
    assert clock["mode"] == "manual"
    reply = requests.post(url + "/clock/advance", json={"seconds": 300}, timeout=30).json()
    assert reply["now"] == pytest.approx(clock["now"] + 300)
    waited = requests.post(url + f"/tasks/{taskid}/wait", json={"timeout": 10}, timeout=30)
    assert waited.json() == {"reached": True, "status": "task_postprocess_end"}
    bad = requests.post(url + "/clock/advance", json={"seconds": "soon"}, timeout=10)
    assert bad.status_code == 400 and "seconds" in bad.json()["error"]


def test_manual_clock_holds_still(wiro: Wiro) -> None:
    taskid = wiro.run()["taskid"]
    task = wiro.server.backend.task_by_id(taskid)
    assert task is not None
    # a wait with a timeout returns False: nothing moves without advance
    assert not wiro.server.backend.wait_for(task, ["task_accept"], timeout=0.2)
    assert wiro.detail(taskid)["status"] == "task_queue"


def test_image_bytes_of_run_are_served_back(wiro: Wiro) -> None:
    taskid = wiro.run("square.webp")["taskid"]
    url = wiro.detail(taskid)["parameters"]["inputImageFirst"]
    assert url.startswith(wiro.server.url + "/v1/File/")
    assert requests.get(url, timeout=10).content == image_bytes("square.webp")


def test_the_engine_walks_the_contracts_lifecycle() -> None:
    """The implementation's order (:mod:`mock_wiro.engine.lifecycle`) is the contract's
    (:mod:`contract_tests.contract`, the golden copy), but for the steps the contract
    lists apart: ``task_error`` (interim, may repeat) and ``task_cancel`` (terminal)."""
    from contract_tests import contract
    from mock_wiro.engine import lifecycle

    apart = {"task_error", "task_cancel"}
    assert tuple(s for s in lifecycle.LIFECYCLE if s not in apart) == contract.LIFECYCLE
    assert lifecycle.TERMINAL_STATUSES == contract.TERMINAL
