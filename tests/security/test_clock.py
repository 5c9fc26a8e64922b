"""Issue 18, hole 5: the clock can't brick the fake, and the engine survives a step that
raises.

Over real HTTP against a real ``mock-wiro serve`` (manual clock): absurd speeds, times and
advances are refused with a 400 naming the range, and the fake keeps answering (Task/Detail,
Task/List, a valid-JSON ``GET /_mock/clock``, a task that still finishes). In-process: a step
that raises is journalled as kind ``error``, the other tasks go on, and the failing step is
retried after a back-off, never in a hot loop.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from mock_wiro import MockWiroServer, Settings
from mock_wiro.cli import _settings, build_parser
from mock_wiro.engine.clock import Clock
from mock_wiro.engine.lifecycle import Step
from mock_wiro.engine.models import Task
from mock_wiro.engine.scheduler import RETRY_MAX_SECONDS, RETRY_MIN_SECONDS
from mock_wiro.settings import (
    CLOCK_MAX_ADVANCE_SECONDS,
    CLOCK_MAX_SPEED,
    CLOCK_MAX_TIME,
    CLOCK_MIN_SPEED,
    RUN_PATH,
)
from tests.helpers.serve import Served, start_serve

KEY, SECRET = "clock-key", "clock-secret"
TIMEOUT = 30


def _strict_json(text: str) -> Any:
    """JSON as a strict parser reads it: ``Infinity`` and ``NaN`` are not JSON."""

    def refuse(name: str) -> Any:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("clock")
    server = start_serve(
        tmp, "--clock", "manual", "--api-key", KEY, "--api-secret", SECRET, "--auth", "apikey"
    )
    try:
        yield server
    finally:
        server.stop()


def _base(served: Served) -> str:
    return served.control.removesuffix("/_mock")


def _api(served: Served, path: str, **json_body: Any) -> requests.Response:
    return requests.post(
        f"{_base(served)}/v1/{path}", headers={"x-api-key": KEY}, json=json_body, timeout=TIMEOUT
    )


def _raw_post(served: Served, path: str, text: str) -> requests.Response:
    """POST a JSON text as is (``Infinity``, ``NaN`` and ``1e999`` included)."""
    return requests.post(
        f"{_base(served)}{path}",
        data=text.encode(),
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )


ABSURD_CLOCK_BODIES = [
    '{"mode": "realtime", "speed": 1e308}',
    '{"mode": "realtime", "speed": 1e999}',
    '{"mode": "realtime", "speed": Infinity}',
    '{"mode": "realtime", "speed": NaN}',
    '{"mode": "realtime", "speed": -1}',
    '{"mode": "realtime", "speed": 0}',
    '{"mode": "realtime", "speed": "1e308"}',
    f'{{"mode": "realtime", "speed": {CLOCK_MAX_SPEED * 1.001}}}',
    f'{{"speed": {CLOCK_MIN_SPEED / 2}}}',
]
ABSURD_ADVANCES = [
    '{"seconds": 1e308}',
    '{"seconds": 1e999}',
    '{"seconds": Infinity}',
    '{"seconds": NaN}',
    '{"seconds": -5}',
    f'{{"seconds": {CLOCK_MAX_ADVANCE_SECONDS + 1}}}',
]


def test_absurd_clock_is_refused_and_the_fake_keeps_working(served: Served) -> None:
    made = _api(served, RUN_PATH, inputImageFirstUrl="https://example.com/a.jpg", prompt="p")
    assert made.status_code == 200 and made.json()["result"] is True, made.text
    taskid = made.json()["taskid"]
    before = _strict_json(requests.get(served.control + "/clock", timeout=TIMEOUT).text)

    for text in ABSURD_CLOCK_BODIES:
        answer = _raw_post(served, "/_mock/clock", text)
        assert answer.status_code == 400, (text, answer.status_code, answer.text)
        message = answer.json()["error"]
        assert "speed" in message and "finite" in message, (text, message)
    for text in ABSURD_ADVANCES:
        answer = _raw_post(served, "/_mock/clock/advance", text)
        assert answer.status_code == 400, (text, answer.status_code, answer.text)
        assert "finite" in answer.json()["error"], (text, answer.text)

    # nothing changed: still manual, same speed, time unmoved, all of it valid JSON
    after = _strict_json(requests.get(served.control + "/clock", timeout=TIMEOUT).text)
    assert (after["mode"], after["speed"], after["now"]) == (
        before["mode"],
        before["speed"],
        before["now"],
    )
    # the documented top speed is accepted, then the manual clock again (no wall time passes
    # between the two that the test relies on)
    top = _raw_post(served, "/_mock/clock", f'{{"mode": "realtime", "speed": {CLOCK_MAX_SPEED}}}')
    assert top.status_code == 200 and top.json()["speed"] == CLOCK_MAX_SPEED, top.text
    assert _raw_post(served, "/_mock/clock", '{"mode": "manual"}').status_code == 200

    # the fake keeps working: the task finishes on the manual clock, reads answer 200
    assert _raw_post(served, "/_mock/clock/advance", '{"seconds": 600}').status_code == 200
    waited = requests.post(
        f"{served.control}/tasks/{taskid}/wait", json={"timeout": TIMEOUT}, timeout=TIMEOUT + 5
    ).json()
    assert waited == {"reached": True, "status": "task_postprocess_end"}, waited
    detail = _api(served, "Task/Detail", taskid=taskid)
    listed = _api(served, "Task/List")
    assert detail.status_code == 200 and detail.json()["tasklist"][0]["pexit"] == "0"
    assert listed.status_code == 200 and int(listed.json()["total"]) >= 1
    clock = _strict_json(requests.get(served.control + "/clock", timeout=TIMEOUT).text)
    assert math.isfinite(clock["now"]) and clock["now"] <= CLOCK_MAX_TIME


@pytest.mark.parametrize("speed", ["1e308", "inf", "nan", "-1", "1001", "0.0001"])
def test_serve_refuses_an_absurd_speed(speed: str) -> None:
    args = build_parser().parse_args(["serve", "--speed", speed])
    with pytest.raises(SystemExit, match="--speed must be 0"):
        _settings(args)


def test_serve_speed_range_and_zero_still_mean_what_they_did() -> None:
    fast = _settings(build_parser().parse_args(["serve", "--speed", str(CLOCK_MAX_SPEED)]))
    assert (fast.clock_mode, fast.speed) == ("realtime", CLOCK_MAX_SPEED)
    instant = _settings(build_parser().parse_args(["serve", "--speed", "0"]))
    assert instant.clock_mode == "instant"


@pytest.mark.parametrize("speed", [1e308, math.inf, math.nan, -1.0, 0.0, CLOCK_MAX_SPEED * 2])
def test_settings_and_python_handles_refuse_an_absurd_speed(speed: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        Settings(speed=speed)
    with pytest.raises(ValueError, match="finite"):
        Clock("realtime", speed)
    with MockWiroServer(Settings(clock_mode="manual")) as server:
        with pytest.raises(ValueError, match="finite"):
            server.set_clock("realtime", speed)
        assert server.clock_mode == "manual"


@pytest.mark.parametrize("start", [math.inf, -1.0, CLOCK_MAX_TIME + 1])
def test_clock_refuses_an_absurd_start(start: float) -> None:
    with pytest.raises(ValueError, match="start"):
        Clock("manual", start=start)


def test_a_running_clock_never_passes_its_maximum() -> None:
    wall = [0.0]
    clock = Clock("realtime", CLOCK_MAX_SPEED, start=CLOCK_MAX_TIME - 10, monotonic=lambda: wall[0])
    wall[0] = 1e12  # far beyond what any run lasts
    assert clock.now() == CLOCK_MAX_TIME
    assert clock.wall_seconds_until(CLOCK_MAX_TIME + 1) is None  # never: not a busy wait
    clock.set_mode("realtime", CLOCK_MAX_SPEED)  # a mode switch keeps it there, finite
    assert clock.now() == CLOCK_MAX_TIME


# ---------------------------------------------------------------- the engine survives
def _run_over_http(server: MockWiroServer, api_key: str) -> str:
    made = requests.post(
        f"{server.url}/v1/{RUN_PATH}",
        headers={"x-api-key": api_key},
        json={"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "p"},
        timeout=TIMEOUT,
    ).json()
    assert made["result"] is True, made
    return str(made["taskid"])


def test_a_raising_step_is_journalled_and_the_engine_goes_on() -> None:
    with MockWiroServer(Settings(clock_mode="manual")) as server:
        backend = server.backend
        scheduler = backend.scheduler
        wall = [0.0]
        scheduler._monotonic = lambda: wall[0]  # the back-off's clock, moved by hand
        project = backend.create_project(auth_mode="apikey")
        broken = server.task(_run_over_http(server, project.api_key))
        healthy = server.task(_run_over_http(server, project.api_key))
        real_apply = scheduler._apply
        attempts: list[str] = []
        failing = [True]

        def apply(task: Task, step: Step, when: float) -> None:
            if task.id == broken.id and step.type == "task_start":
                attempts.append(step.type)
                if failing[0]:
                    raise OverflowError("a step that raises")
            real_apply(task, step, when)

        scheduler._apply = apply
        server.advance(600)  # no exception reaches the caller

        assert server.task(healthy.id).status == "task_postprocess_end"  # the others go on
        stuck = server.task(broken.id)
        assert not stuck.terminal and attempts == ["task_start"]
        errors = server.journal.entries("error")
        assert len(errors) == 1, errors
        entry = errors[0]
        assert (entry.get("where"), entry.get("task"), entry.get("step")) == (
            "step",
            broken.id,
            "task_start",
        )
        assert "OverflowError" in entry.get("error") and entry.get("retry_in") == RETRY_MIN_SECONDS
        assert scheduler._thread is not None and scheduler._thread.is_alive()

        # no hot loop: while the back-off runs, pumps (and reads) don't try it again
        for _ in range(50):
            backend.pump()
            server.advance(1)
        assert attempts == ["task_start"]
        # after the back-off: one more attempt (failing again, backed off twice as long)
        wall[0] += RETRY_MIN_SECONDS
        backend.pump()
        assert attempts == ["task_start"] * 2
        assert [e.get("retry_in") for e in server.journal.entries("error")] == [1.0, 2.0]
        assert RETRY_MAX_SECONDS >= 2.0

        # once the step works, the task finishes from where it was
        failing[0] = False
        wall[0] += RETRY_MAX_SECONDS
        server.advance(600)
        done = server.task(broken.id)
        assert done.status == "task_postprocess_end" and done.pexit == "0"
        assert [e.type for e in done.events].count("task_start") == 1
        assert len(server.journal.entries("error")) == 2


def test_a_raising_step_leaves_reads_answering() -> None:
    """Over HTTP: Task/Detail and Task/List answer 200 while a step keeps raising."""
    with MockWiroServer(Settings(clock_mode="manual")) as server:
        project = server.backend.create_project(auth_mode="apikey")
        scheduler = server.backend.scheduler
        real_apply = scheduler._apply

        def apply(task: Task, step: Step, when: float) -> None:
            if step.type == "task_output":
                raise RuntimeError("every output line fails")
            real_apply(task, step, when)

        scheduler._apply = apply
        taskid = _run_over_http(server, project.api_key)
        server.advance(600)
        for path, body in (("Task/Detail", {"taskid": taskid}), ("Task/List", {})):
            answer = requests.post(
                f"{server.url}/v1/{path}",
                headers={"x-api-key": project.api_key},
                json=body,
                timeout=TIMEOUT,
            )
            assert answer.status_code == 200 and answer.json()["result"] is True, answer.text
        assert server.journal.entries("error")
