"""The pytest plugin's snapshot option, as a user's suite gets it (the pytest11 entry
point, in a subprocess): each test starts from "a project with 3 finished tasks and one
running", whatever the test before it did."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONFTEST = """
import pytest, requests
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings

@pytest.fixture(scope="session")
def mock_wiro_snapshot(tmp_path_factory):
    path = tmp_path_factory.mktemp("seed") / "seed.snapshot"
    with MockWiroServer(Settings(clock_mode="manual")) as seed:
        seed.create_project("seed-key", "seed-secret", auth="apikey", balance="100")
        def run(prompt):
            return requests.post(
                seed.base_url + "/Run/minimax/hailuo-2-3-fast",
                data={"prompt": prompt, "inputImageFirstUrl": "https://example.com/a.jpg"},
                headers={"x-api-key": "seed-key"}, timeout=30,
            ).json()["taskid"]
        for i in range(3):
            run(f"finished {i}")
        seed.advance(600)
        for task in seed.tasks():
            seed.wait_for_task(task.id)
        run("running")
        seed.advance(10)
        seed.save_snapshot(path)
    return path
"""

TESTS = """
import pytest

def states(fake):
    return sorted(t.status for t in fake.tasks())

def test_first_finishes_the_running_one(mock_wiro):
    assert states(mock_wiro) == ["task_output"] + ["task_postprocess_end"] * 3
    (running,) = [t for t in mock_wiro.tasks() if not t.terminal]
    mock_wiro.advance(600)
    assert mock_wiro.wait_for_task(running.id).status == "task_postprocess_end"
    mock_wiro.create_project("made-in-a-test")

def test_second_starts_from_the_snapshot_again(mock_wiro):
    assert states(mock_wiro) == ["task_output"] + ["task_postprocess_end"] * 3
    assert [p.api_key for p in mock_wiro.backend.projects()] == ["seed-key"]
    assert mock_wiro.clock_mode == "manual"

@pytest.mark.mock_wiro_snapshot(None)
def test_the_marker_picks_none(mock_wiro):
    assert mock_wiro.tasks() == []
"""


def test_each_test_starts_from_the_snapshot(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_seeded=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=3)
