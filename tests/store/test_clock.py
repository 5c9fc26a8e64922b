"""The fake clock over a restart (``Settings.restart_policy``): ``resume`` (default)
starts at the fake time the fake stopped at; ``catch-up`` also counts the time it was
down, at the clock's rate. A manual clock resumes at its fake time under either."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from mock_wiro.engine.backend import Backend
from mock_wiro.engine.params import RunParams
from mock_wiro.engine.sqlite_store import DB_NAME
from mock_wiro.settings import ClockMode, RestartPolicy, Settings
from tests.store.durable import Fake

DOWN_SECONDS = 1000.0


def _params() -> RunParams:
    return RunParams("https://example.com/a.jpg", "waves", True, "768P", "6", "")


def _stopped_long_ago(data: Path, mode: ClockMode) -> tuple[float, str]:
    """A data dir whose fake stopped DOWN_SECONDS (wall) ago with a task half-way: the
    fake time it stopped at, and the task's id."""
    backend = Backend(Settings(clock_mode=mode, speed=1.0, data_dir=str(data))).start()
    try:
        project = backend.create_project()
        task = backend.run(project, _params())
        backend.push(task, "task_start")
    finally:
        backend.close()
    with sqlite3.connect(data / DB_NAME) as db:
        (value,) = db.execute("SELECT value FROM meta WHERE key = 'clock'").fetchone()
        fake, wall = json.loads(value)
        db.execute(
            "UPDATE meta SET value = ? WHERE key = 'clock'",
            (json.dumps([fake, wall - DOWN_SECONDS]),),
        )
    db.close()
    return fake, task.id


@pytest.mark.parametrize(
    ("mode", "policy", "caught_up"),
    [
        ("realtime", "resume", False),
        ("realtime", "catch-up", True),
        ("manual", "resume", False),
        ("manual", "catch-up", False),
    ],
)
def test_the_restart_policy_decides_where_the_clock_starts(
    tmp_path: Path, mode: ClockMode, policy: RestartPolicy, caught_up: bool
) -> None:
    data = tmp_path / "data"
    stopped_at, taskid = _stopped_long_ago(data, mode)
    settings = Settings(clock_mode=mode, speed=1.0, data_dir=str(data), restart_policy=policy)
    backend = Backend(settings)  # not started: no step is applied while it is read
    try:
        expected = stopped_at + (DOWN_SECONDS if caught_up else 0.0)
        assert backend.clock.now() == pytest.approx(expected, abs=30.0)  # 30 s of slack
        task = backend.task_by_id(taskid)
        assert task is not None and task.status == "task_start"  # as it was
    finally:
        backend.close()


def test_a_realtime_fake_resumes_and_its_running_task_finishes_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    fake = Fake(tmp_path, data, "--clock", "realtime", "--speed", "20")
    try:
        taskid = fake.run()
        assert fake.wait(taskid, "task_start")["reached"] is True
    finally:
        assert fake.stop() == 0
    again = Fake(tmp_path, data, "--clock", "realtime", "--speed", "20")
    try:
        assert again.wait(taskid)["reached"] is True
        detail = again.detail(taskid)
        assert detail["status"] == "task_postprocess_end" and detail["pexit"] == "0"
        events = again.control("GET", f"/tasks/{taskid}")["events"]
    finally:
        assert again.stop() == 0
    types = [e["type"] for e in events]
    assert [t for t in set(types) if t != "task_output" and types.count(t) > 1] == []
    times = [e["time"] for e in events]
    assert times == sorted(times)  # fake time never went back over the restart
