"""The ``hailuo`` console script's machine-facing edges: ``--json`` answers (one
array, a JSON error), exit codes for an unwritable ``--out`` (7) and a closed stdout
(141), run as a real subprocess against the plugin's manual-clock fake."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from hailuo_client import Client
from mock_wiro.engine.models import Project
from mock_wiro.server import MockWiroServer
from mock_wiro_fixtures import image_path
from tests.helpers.client import HAILUO, env_for, finished, hailuo
from tests.helpers.client import quick_client as make_client

IMAGE = "landscape_16x9.jpg"


@pytest.fixture
def client(mock_wiro: MockWiroServer, mock_wiro_project: Project) -> Iterator[Client]:
    made = make_client(mock_wiro, mock_wiro_project)
    yield made
    made.close()
    mock_wiro.clear_faults()


@pytest.mark.parametrize("count", [0, 2])
def test_cli_list_json_is_one_array(
    mock_wiro: MockWiroServer, mock_wiro_project: Project, client: Client, count: int
) -> None:
    made = [client.run(image_path(IMAGE), "p") for _ in range(count)]
    result = hailuo("list", "--json", env=env_for(mock_wiro, mock_wiro_project))
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert isinstance(listed, list)
    assert sorted(task["id"] for task in listed) == sorted(str(task.id) for task in made)


def test_cli_json_failure_is_a_json_error(
    mock_wiro: MockWiroServer, mock_wiro_project: Project
) -> None:
    result = hailuo("status", "999999", "--json", env=env_for(mock_wiro, mock_wiro_project))
    assert result.returncode == 5
    answer = json.loads(result.stdout)
    assert answer["exit"] == 5 and "There is no task yet." in answer["error"]
    assert set(answer) == {"error", "exit"}


def test_cli_unwritable_out_exits_7(
    mock_wiro: MockWiroServer, mock_wiro_project: Project, client: Client
) -> None:
    task = finished(mock_wiro, client)
    assert task.video is not None
    # A directory that cannot be made: the failure comes before the GET (a GET abandoned
    # mid-body would leave the fake's werkzeug server an open file, a stray ResourceWarning).
    out = "/proc/nope/"
    result = hailuo(
        "download", str(task.id), "--out", out, env=env_for(mock_wiro, mock_wiro_project)
    )
    assert result.returncode == 7, result.stderr
    assert "hailuo: " in result.stderr and "/proc/nope" in result.stderr
    assert "Traceback" not in result.stderr
    assert mock_wiro.journal.entries("request", path=urlsplit(task.video.url).path) == []


@pytest.mark.parametrize("unbuffered", [True, False], ids=["unbuffered", "buffered"])
def test_cli_broken_pipe_exits_141_quietly(
    mock_wiro: MockWiroServer, mock_wiro_project: Project, client: Client, unbuffered: bool
) -> None:
    for _ in range(2):
        client.run(image_path(IMAGE), "p")
    env = env_for(mock_wiro, mock_wiro_project)
    env.pop("PYTHONUNBUFFERED", None)
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    # the reader closes its end at once: hailuo's first write meets EPIPE
    script = 'set -o pipefail; "$0" list | (exec 0<&-; true)'
    result = subprocess.run(
        ["bash", "-c", script, str(HAILUO)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 141, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr
