"""Scenarios (issue 4): matchers, behaviours, and steering one task (push, hold, release).

Everything goes through real HTTP (the signed API, the ``/_mock`` control surface,
output downloads with ``requests``) and the task socket; the clock is manual, so
nothing sleeps.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import requests
import websocket

from contract_tests.contract import FROM_END, UNTIL_START
from mock_wiro.chaos.scenarios import MODERATION_MESSAGE
from tests.helpers import REPO
from tests.helpers.wiro import Wiro

SUCCESS_TAIL = ["task_output_full", "task_end", "task_postprocess_start", "task_postprocess_end"]


def control(wiro: Wiro, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{wiro.server.url}/_mock/{path}", json=body, timeout=30)


def add(wiro: Wiro, **scenario: Any) -> dict[str, Any]:
    response = control(wiro, "POST", "scenarios", scenario)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def events(wiro: Wiro, taskid: str) -> list[dict[str, Any]]:
    response = control(wiro, "GET", f"tasks/{taskid}")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["events"]
    return found


def types(wiro: Wiro, taskid: str) -> list[str]:
    return [e["type"] for e in events(wiro, taskid)]


def finish(wiro: Wiro, taskid: str) -> dict[str, Any]:
    wiro.server.advance(300)
    task = wiro.detail(taskid)
    assert task["status"] == "task_postprocess_end", task["status"]
    return task


def frames(wiro: Wiro, token: str) -> list[dict[str, Any]]:
    """A finished task's frames from the socket (history replay)."""
    ws = websocket.create_connection(wiro.server.socket_url, timeout=30)
    try:
        ws.send(json.dumps({"type": "task_info", "tasktoken": token}))
        got: list[dict[str, Any]] = []
        while not got or got[-1]["type"] not in ("task_postprocess_end", "task_cancel"):
            got.append(json.loads(ws.recv()))
        return got
    finally:
        ws.close()


def run_with_headers(wiro: Wiro, headers: dict[str, str]) -> str:
    """Run (as :meth:`Wiro.run` does) with extra request headers; the task id."""
    from mock_wiro_fixtures import image_bytes

    data = {"inputImageFirstUrl": "", "prompt": "a test"}
    files = {"inputImageFirst": ("landscape_16x9.jpg", image_bytes("landscape_16x9.jpg"))}
    body = wiro.ok("Run/minimax/hailuo-2-3-fast", data=data, files=files, headers=headers)
    taskid: str = body["taskid"]
    return taskid


def scenario_entries(wiro: Wiro, taskid: str) -> list[dict[str, Any]]:
    response = control(wiro, "GET", f"journal?kind=scenario&task={taskid}")
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


# ------------------------------------------------------------ failures
def test_prompt_marker_fails_in_preprocessing(wiro: Wiro) -> None:
    scenario = add(
        wiro,
        id="pre",
        prompt_contains="[[fail:preprocess]]",
        fail_at="task_preprocess_start",
        pexit="137",
        debugerror="CUDA out of memory while loading the model",
        stderr=["Traceback (most recent call last):", "  File preprocess.py, line 3"],
    )
    assert scenario["id"] == "pre" and scenario["remaining"] is None
    plain = wiro.run()["taskid"]
    run = wiro.run(prompt="a cat [[fail:preprocess]] walking")
    task = finish(wiro, run["taskid"])
    assert task["pexit"] == "137"
    assert task["debugerror"] == (
        "Traceback (most recent call last):\n  File preprocess.py, line 3\n"
        "CUDA out of memory while loading the model"
    )
    assert task["outputs"] == [] and task["totalcost"] == "0"
    assert task["preprocessstarttime"] != "0" and task["preprocessendtime"] == "0"
    assert task["starttime"] == "0"
    assert types(wiro, run["taskid"]) == [
        "task_queue",
        "task_accept",
        "task_preprocess_start",
        "task_error",
        "task_error",
        "task_error",
        "task_output_full",
        "task_error_full",
        *FROM_END,
    ]
    socket = frames(wiro, run["socketaccesstoken"])
    assert [f["message"] for f in socket if f["type"] == "task_error"] == [
        "Traceback (most recent call last):",
        "  File preprocess.py, line 3",
        "CUDA out of memory while loading the model",
    ]
    full = next(f for f in socket if f["type"] == "task_error_full")
    assert full["message"] == {"raw": task["debugerror"]}
    stamps = [e["time"] for e in events(wiro, run["taskid"])]
    assert stamps == sorted(stamps)
    # the scenario touched only the marked run, and the journal says so
    assert finish(wiro, plain)["pexit"] == "0"
    [entry] = scenario_entries(wiro, run["taskid"])
    assert entry["scenario"] == "pre"
    assert entry["behaviour"]["fail_at"] == "task_preprocess_start"
    assert entry["behaviour"]["pexit"] == "137"
    assert scenario_entries(wiro, plain) == []


def test_fail_after_generation_started(wiro: Wiro) -> None:
    add(wiro, fail_at="task_output", stderr=["boom"])
    taskid = wiro.run()["taskid"]
    task = finish(wiro, taskid)
    assert task["pexit"] == "1" and task["outputs"] == []
    assert task["debugerror"].startswith("boom\nmock-wiro scenario ")
    order = types(wiro, taskid)
    assert order[:7] == [*UNTIL_START, "task_output"]
    assert order[7:] == [
        "task_error",
        "task_error",
        "task_output_full",
        "task_error_full",
        *FROM_END,
    ]


def test_moderation_failure(wiro: Wiro) -> None:
    add(wiro, moderation=True, prompt_contains="[[nsfw]]")
    taskid = wiro.run(prompt="[[nsfw]]")["taskid"]
    task = finish(wiro, taskid)
    assert task["pexit"] == "1"
    assert task["debugerror"] == MODERATION_MESSAGE
    assert task["starttime"] != "0" and task["outputs"] == []
    order = types(wiro, taskid)
    assert order[order.index("task_start") + 1] == "task_error"
    assert "task_output" not in order


def test_scenario_validation_errors(wiro: Wiro) -> None:
    for bad in (
        {"fail_at": "task_nowhere"},
        {"pexit": "0", "fail_at": "task_start"},
        {"times": 0},
        {"outputs": "gone"},
        {"timings": {"task_accept": -1}},
        {"header": "no-equals-sign"},
        {"surprise": True},
        {"moderation": True, "fail_at": "task_start"},
    ):
        response = control(wiro, "POST", "scenarios", bad)
        assert response.status_code == 400, bad
        assert "error" in response.json()
    assert control(wiro, "GET", "scenarios").json() == {"scenarios": []}


# ------------------------------------------------------------ matchers
def test_times_affects_exactly_that_many_runs(wiro: Wiro) -> None:
    add(wiro, id="twice", times=2, fail_at="task_start")
    ids = [wiro.run()["taskid"] for _ in range(3)]
    listed = control(wiro, "GET", "scenarios").json()["scenarios"]
    assert listed[0]["id"] == "twice" and listed[0]["remaining"] == 0
    wiro.server.advance(300)
    assert [wiro.detail(t)["pexit"] for t in ids] == ["1", "1", "0"]
    assert [len(scenario_entries(wiro, t)) for t in ids] == [1, 1, 0]


def test_header_matcher(wiro: Wiro) -> None:
    add(wiro, header={"X-Mock-Scenario": "fail"}, fail_at="task_assign")
    marked = run_with_headers(wiro, {"x-mock-scenario": "fail"})
    other = run_with_headers(wiro, {"X-Mock-Scenario": "something else"})
    plain = wiro.run()["taskid"]
    wiro.server.advance(300)
    assert wiro.detail(marked)["pexit"] == "1"
    assert wiro.detail(other)["pexit"] == "0" and wiro.detail(plain)["pexit"] == "0"


def test_header_matcher_as_name_equals_value(wiro: Wiro) -> None:
    add(wiro, header="X-Case=refuse-cancel", cancel_refused=True)
    taskid = run_with_headers(wiro, {"X-Case": "refuse-cancel"})
    wiro.error("Task/Cancel", 1, json={"taskid": taskid})


def test_project_matcher_by_key_and_by_id(wiro: Wiro) -> None:
    other = Wiro(wiro.server, wiro.server.create_project())
    add(wiro, project=other.project.api_key, fail_at="task_start")
    add(wiro, project=wiro.project.id, outputs="missing")
    failing = other.run()["taskid"]
    missing = wiro.run()["taskid"]
    wiro.server.advance(300)
    assert other.detail(failing)["pexit"] == "1"
    task = wiro.detail(missing)
    assert task["pexit"] == "0" and task["outputs"] == []


def test_first_match_wins_and_clear(wiro: Wiro) -> None:
    add(wiro, id="a", prompt_contains="[[x]]", fail_at="task_start", debugerror="from a")
    add(wiro, id="b", prompt_contains="[[x]]", fail_at="task_start", debugerror="from b")
    first = wiro.run(prompt="[[x]]")["taskid"]
    assert control(wiro, "DELETE", "scenarios/a").json() == {"ok": True}
    second = wiro.run(prompt="[[x]]")["taskid"]
    assert control(wiro, "POST", "scenarios/clear").json() == {"ok": True}
    third = wiro.run(prompt="[[x]]")["taskid"]
    wiro.server.advance(300)
    assert wiro.detail(first)["debugerror"] == "from a"
    assert wiro.detail(second)["debugerror"] == "from b"
    assert wiro.detail(third)["pexit"] == "0"
    add(wiro, fail_at="task_start")
    assert control(wiro, "DELETE", "scenarios").json() == {"ok": True}
    assert control(wiro, "GET", "scenarios").json() == {"scenarios": []}


def test_reset_clears_scenarios(wiro: Wiro) -> None:
    add(wiro, fail_at="task_start")
    wiro.server.reset()
    assert wiro.server.backend.scenarios.items() == []


# ------------------------------------------------------------ holding and timing
def test_stay_queued_then_release(wiro: Wiro) -> None:
    add(wiro, stay_queued=True)
    taskid = wiro.run()["taskid"]
    wiro.server.advance(600)
    assert wiro.detail(taskid)["status"] == "task_queue"
    released = control(wiro, "POST", f"tasks/{taskid}/release").json()
    assert released["released"] == "task_accept"
    now = wiro.server.backend.clock.now()
    task = wiro.detail(taskid)
    assert task["status"] == "task_accept" and task["accepttime"] == str(int(now))
    assert finish(wiro, taskid)["pexit"] == "0"


def test_hold_at_stage_from_a_scenario_and_from_control(wiro: Wiro) -> None:
    add(wiro, hold_at="task_start", times=1)
    held = wiro.run()["taskid"]
    wiro.server.advance(600)
    assert wiro.detail(held)["status"] == "task_assign"
    assert wiro.server.release(held) == "task_start"
    assert finish(wiro, held)["pexit"] == "0"

    running = wiro.run()["taskid"]
    response = control(wiro, "POST", f"tasks/{running}/hold", {"stage": "task_postprocess_end"})
    assert response.status_code == 200 and response.json()["held_at"] == "task_postprocess_end"
    wiro.server.advance(600)
    assert wiro.detail(running)["status"] == "task_postprocess_start"
    assert control(wiro, "POST", f"tasks/{running}/release").json()["released"] == (
        "task_postprocess_end"
    )
    assert wiro.detail(running)["status"] == "task_postprocess_end"
    stamps = [e["time"] for e in events(wiro, running)]
    assert stamps == sorted(stamps)
    # a stage already passed, a finished task, an unknown stage
    again = control(wiro, "POST", f"tasks/{running}/hold", {"stage": "task_end"})
    assert again.status_code == 409
    assert control(wiro, "POST", "tasks/999999/hold", {"stage": "task_end"}).status_code == 404
    fresh = wiro.run()["taskid"]
    assert control(wiro, "POST", f"tasks/{fresh}/hold", {"stage": "nope"}).status_code == 400


def test_timings_override_stage_delays(wiro: Wiro) -> None:
    add(wiro, timings={"task_accept": 30})
    taskid = wiro.run()["taskid"]
    wiro.server.advance(29)
    assert wiro.detail(taskid)["status"] == "task_queue"
    wiro.server.advance(1)
    assert wiro.detail(taskid)["status"] == "task_accept"


# ------------------------------------------------------------ push
def test_push_to_stage_now_with_ordered_timestamps(wiro: Wiro) -> None:
    taskid = wiro.run()["taskid"]
    now = wiro.server.backend.clock.now()
    response = control(wiro, "POST", f"tasks/{taskid}/push", {"stage": "task_start"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "task_start"
    task = wiro.detail(taskid)
    assert task["status"] == "task_start" and task["starttime"] == str(int(now))
    assert types(wiro, taskid) == list(UNTIL_START)
    wiro.server.advance(5)
    pushed = wiro.server.push(taskid, "task_postprocess_end")
    assert pushed.status == "task_postprocess_end"
    task = wiro.detail(taskid)
    assert task["pexit"] == "0" and len(task["outputs"]) == 1
    assert types(wiro, taskid)[-4:] == SUCCESS_TAIL
    stamps = [e["time"] for e in events(wiro, taskid)]
    assert stamps == sorted(stamps)
    # past the end: refused
    late = control(wiro, "POST", f"tasks/{taskid}/push", {"stage": "task_end"})
    assert late.status_code == 409


def test_push_passes_a_hold_and_refuses_a_stage_that_never_comes(wiro: Wiro) -> None:
    add(wiro, stay_queued=True, times=1)
    taskid = wiro.run()["taskid"]
    assert wiro.server.push(taskid, "task_accept").status == "task_accept"
    add(wiro, prompt_contains="[[early]]", fail_at="task_accept")
    failing = wiro.run(prompt="[[early]]")["taskid"]
    response = control(wiro, "POST", f"tasks/{failing}/push", {"stage": "task_start"})
    assert response.status_code == 409, response.text
    assert "will not reach task_start" in response.json()["error"]
    assert types(wiro, failing) == ["task_queue"]  # nothing was pushed


# ------------------------------------------------------------ cancel and kill refused
def test_kill_refused_with_reason(wiro: Wiro) -> None:
    add(wiro, kill_refused="the worker is not responding")
    taskid = wiro.run()["taskid"]
    wiro.server.advance(10)
    message = wiro.error("Task/Kill", 1, json={"taskid": taskid})
    assert message == "Task could not be killed: the worker is not responding"
    assert finish(wiro, taskid)["pexit"] == "0"


def test_cancel_refused(wiro: Wiro) -> None:
    add(wiro, cancel_refused=True, stay_queued=True)
    taskid = wiro.run()["taskid"]
    message = wiro.error("Task/Cancel", 1, json={"taskid": taskid})
    assert message == "Task is not in a cancellable state."
    assert wiro.detail(taskid)["status"] == "task_queue"
    wiro.ok("Task/Kill", json={"taskid": taskid})  # a kill still works
    assert wiro.detail(taskid)["status"] == "task_cancel"


# ------------------------------------------------------------ output faults
def test_outputs_missing(wiro: Wiro) -> None:
    add(wiro, outputs="missing")
    task = finish(wiro, wiro.run()["taskid"])
    assert task["pexit"] == "0" and task["outputs"] == [] and task["size"] == "0"


def test_outputs_empty(wiro: Wiro) -> None:
    add(wiro, outputs="empty")
    task = finish(wiro, wiro.run()["taskid"])
    [output] = task["outputs"]
    assert output["size"] == "0" and task["pexit"] == "0"
    response = requests.get(output["url"], timeout=30)
    assert response.status_code == 200 and response.content == b""


def test_outputs_download_404(wiro: Wiro) -> None:
    add(wiro, outputs="download_404")
    task = finish(wiro, wiro.run()["taskid"])
    [output] = task["outputs"]
    assert int(output["size"]) > 0
    assert requests.get(output["url"], timeout=30).status_code == 404


def test_outputs_truncated(wiro: Wiro) -> None:
    add(wiro, outputs="truncated", prompt_contains="[[truncate]]")
    plain = wiro.run()["taskid"]
    task = finish(wiro, wiro.run(prompt="[[truncate]]")["taskid"])
    [output] = task["outputs"]
    size = int(output["size"])
    body = requests.get(output["url"], timeout=30).content
    assert 0 < len(body) < size
    [whole] = wiro.detail(plain)["outputs"]
    full = requests.get(whole["url"], timeout=30).content
    assert len(full) == int(whole["size"]) == size and full.startswith(body)


# ------------------------------------------------------------ from Python
def test_python_api(wiro: Wiro) -> None:
    server = wiro.server
    scenario = server.add_scenario(prompt_contains="[[py]]", fail_at="task_accept", pexit=2)
    assert scenario.id.startswith("scenario-") and scenario.pexit == "2"
    taskid = wiro.run(prompt="[[py]]")["taskid"]
    task = finish(wiro, taskid)
    assert task["pexit"] == "2" and task["preprocessstarttime"] == "0"
    server.clear_scenarios()
    assert server.backend.scenarios.items() == []
    held = wiro.run()["taskid"]
    server.hold(held, "task_preprocess_start")
    server.advance(60)
    assert wiro.detail(held)["status"] == "task_accept"
    assert server.release(held) == "task_preprocess_start"
    assert server.release(held) is None
    with pytest.raises(KeyError):
        server.push("nope", "task_start")


def test_readme_example_runs() -> None:
    """The README's Scenarios example, executed so it cannot rot."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Scenarios\n", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md#scenarios", "exec"), {"__name__": "readme_scenarios"})


def test_every_control_is_a_python_method() -> None:
    from mock_wiro.server import MockWiroServer
    from mock_wiro.settings import Settings

    with MockWiroServer(Settings(clock_mode="manual")) as server:
        project = server.create_project(balance="25")
        server.set_balance(project, "0.40")
        assert project.balance == Decimal("0.40")
        assert server.clock_mode == "manual"
        before = server.now
        assert server.advance(5) == pytest.approx(before + 5) and server.now == pytest.approx(
            before + 5
        )
        rule = server.add_scenario(id="s-x", stay_queued=True)
        assert [s.id for s in server.scenarios()] == [rule.id]
        assert server.remove_scenario(rule.id) and server.scenarios() == []
        assert server.tasks() == []
