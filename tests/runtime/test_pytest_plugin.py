"""The pytest plugin, as a user's project gets it: through the pytest11 entry point."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

EXAMPLE = """
import hashlib, hmac, requests

def sign(project, nonce="1"):
    sig = hmac.new(project.api_key.encode(), (project.api_secret + nonce).encode(), hashlib.sha256)
    return {"x-api-key": project.api_key, "x-nonce": nonce, "x-signature": sig.hexdigest()}

def test_run_and_finish(mock_wiro, mock_wiro_project):
    body = requests.post(
        mock_wiro.base_url + "/Run/minimax/hailuo-2-3-fast",
        json={"inputImageFirstUrl": "https://example.com/a.jpg"},
        headers=sign(mock_wiro_project), timeout=30,
    ).json()
    assert body["result"] is True
    assert mock_wiro.task(body["taskid"]).status == "task_queue"   # manual clock
    mock_wiro.advance(300)
    assert mock_wiro.wait_for_task(body["taskid"]).status == "task_postprocess_end"

def test_each_test_starts_clean(mock_wiro):
    assert mock_wiro.backend.all_tasks() == []

def test_one_server_per_session(mock_wiro_server, mock_wiro):
    assert mock_wiro is mock_wiro_server
"""


def test_plugin_fixtures_work_in_a_users_project(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=EXAMPLE)
    # a subprocess: the plugin must load through the installed entry point, not our conftest
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=3)
