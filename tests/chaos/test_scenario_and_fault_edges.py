"""Regression tests for what the final review found in scenarios and faults."""

from __future__ import annotations

import threading

import pytest

from mock_wiro.chaos.scenarios import Scenario
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from mock_wiro.testing import signed_session

RUN = {"inputImageFirstUrl": "https://example.com/a.jpg"}


@pytest.mark.parametrize("stage", ["task_end", "task_postprocess_start"])
def test_failing_after_task_end_is_refused(stage: str) -> None:
    # stderr frames come before task_end in the lifecycle; a failure there can't keep order
    with pytest.raises(ValueError, match="fail_at"):
        Scenario.from_json({"fail_at": stage})


def test_hold_at_a_stage_the_task_will_not_reach_is_refused() -> None:
    from mock_wiro.errors import StateError

    with MockWiroServer(Settings(clock_mode="manual")) as server:
        server.add_scenario(fail_at="task_accept")
        api = signed_session(server.create_project(), server.base_url)
        taskid = api.post("Run/minimax/hailuo-2-3-fast", json=RUN).json()["taskid"]
        with pytest.raises(StateError, match="will not reach"):
            server.hold(taskid, "task_assign")


def test_scenario_json_keeps_the_fields_as_given() -> None:
    with MockWiroServer(Settings(clock_mode="manual")) as server:
        added = server.add_scenario(Scenario(moderation=True, debugerror="custom!", stderr=("l1",)))
        assert added.id and added.debugerror == "custom!" and added.stderr == ("l1",)
        again = Scenario.from_json(added.to_json())
        assert again == added


def test_a_bad_image_that_beats_the_scenario_keeps_the_usual_pexit() -> None:
    with MockWiroServer(Settings(clock_mode="manual", external_url_policy="fail")) as server:
        server.add_scenario(fail_at="task_start", pexit="137")
        api = signed_session(server.create_project(), server.base_url)
        taskid = api.post("Run/minimax/hailuo-2-3-fast", json=RUN).json()["taskid"]
        server.advance(300)
        task = api.post("Task/Detail", json={"taskid": taskid}).json()["tasklist"][0]
        assert task["pexit"] == "1" and "download" in task["debugerror"].lower()


def test_clearing_faults_frees_a_held_request() -> None:
    with MockWiroServer(Settings(clock_mode="manual")) as server:
        server.add_fault("/v1/Task/Detail", hang=True)
        api = signed_session(server.create_project(), server.base_url)
        done = threading.Event()

        def call() -> None:
            api.post("Task/Detail", json={"taskid": "1"}, timeout=60)
            done.set()

        threading.Thread(target=call, daemon=True).start()
        server.wait_for(lambda e: e.kind == "fault")  # the request is being held
        server.clear_faults()
        assert done.wait(timeout=10)  # freed at once, not after the hang's 300 s
