"""A data dir the fake must not use is refused at start, with a message that says why
and what to do, and nothing in it is changed: one taken by another fake (the lock
file), one written by a newer mock-wiro (the schema version), and a database that is
not one (corrupt, truncated, someone else's)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mock_wiro.engine.sqlite_store import DB_NAME, SCHEMA_VERSION, SqliteStore
from mock_wiro.errors import DataDirError
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from tests.helpers import REPO
from tests.helpers.serve import clean_env
from tests.store.durable import Fake

REFUSAL_TIMEOUT = 60


def _serve_refused(tmp: Path, data: Path) -> str:
    """``mock-wiro serve --data-dir DATA``, which must exit 2 before its banner: stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "mock_wiro", "serve", "--port", "0", "--data-dir", str(data)],
        cwd=REPO,
        env=clean_env(tmp),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=REFUSAL_TIMEOUT,
    )
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "serving the Wiro API" not in done.stdout
    return done.stderr


def _kept_state(tmp: Path, data: Path) -> str:
    """A data dir with one finished task in it: its id."""
    fake = Fake(tmp, data)
    try:
        taskid = fake.run()
        fake.finish(taskid)
    finally:
        assert fake.stop() == 0
    return taskid


def test_a_second_fake_on_the_same_data_dir_refuses_to_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = Fake(tmp_path, data)
    try:
        taskid = first.run()
        message = _serve_refused(tmp_path, data)
        assert "in use by another mock-wiro" in message, message
        assert f"pid {first.served.proc.pid}" in message, message
        assert str(data / "mock-wiro.lock") in message, message
        # the first goes on, untouched
        assert first.detail(taskid)["status"] == "task_queue"
    finally:
        assert first.stop() == 0
    # once the first has stopped (or died: the lock goes with its process), it starts
    again = Fake(tmp_path, data)
    try:
        assert again.detail(taskid)["status"] == "task_queue"
    finally:
        assert again.kill() == -9
    third = Fake(tmp_path, data)
    assert third.stop() == 0


def test_in_one_process_a_second_server_on_the_data_dir_is_refused(tmp_path: Path) -> None:
    settings = Settings(clock_mode="manual", data_dir=str(tmp_path / "data"))
    with (
        MockWiroServer(settings),
        pytest.raises(DataDirError, match="in use by another mock-wiro"),
    ):
        MockWiroServer(settings)
    MockWiroServer(settings).stop()  # free again once the first stopped


def test_a_data_dir_from_a_newer_mock_wiro_is_refused_naming_both_versions(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    taskid = _kept_state(tmp_path, data)
    newer = SCHEMA_VERSION + 7
    with sqlite3.connect(data / DB_NAME) as db:
        db.execute(f"PRAGMA user_version = {newer}")
    db.close()
    before = (data / DB_NAME).read_bytes()
    message = _serve_refused(tmp_path, data)
    assert f"schema version {newer}" in message, message
    assert f"(schema version {SCHEMA_VERSION})" in message, message
    assert "written by mock-wiro" in message and "newer" in message, message
    assert (data / DB_NAME).read_bytes() == before  # nothing written to it
    # back to this version's: everything is there
    with sqlite3.connect(data / DB_NAME) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.close()
    fake = Fake(tmp_path, data)
    try:
        assert fake.detail(taskid)["pexit"] == "0"
    finally:
        assert fake.stop() == 0


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign", "record"])
def test_a_database_that_cannot_be_read_is_refused_and_left_as_it_is(
    tmp_path: Path, damage: str
) -> None:
    data = tmp_path / "data"
    db_path = data / DB_NAME
    if damage == "foreign":
        data.mkdir()
        with sqlite3.connect(db_path) as db:
            db.execute("CREATE TABLE notes (text TEXT)")
        db.close()
    else:
        _kept_state(tmp_path, data)
        whole = db_path.read_bytes()
        if damage == "garbage":
            db_path.write_bytes(b"this is not a database at all\n" * 200)
        elif damage == "truncated":
            db_path.write_bytes(whole[: len(whole) // 2])
        else:  # a valid database with one task's record damaged
            with sqlite3.connect(db_path) as db:
                db.execute("UPDATE tasks SET record = '{\"uuid\": '")
            db.close()
    before = db_path.read_bytes()
    message = _serve_refused(tmp_path, data)
    assert str(db_path) in message, message
    if damage == "foreign":
        assert "not one of mock-wiro's" in message, message
    elif damage == "record":
        assert "holds a record this mock-wiro cannot read" in message, message
    else:
        assert "cannot be read as a mock-wiro database" in message, message
    assert "Traceback" not in message, message
    assert db_path.read_bytes() == before
    # the lock went with the refused process: the dir is free to be looked at again
    with pytest.raises(DataDirError):
        SqliteStore(data)


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "not-a-folder"
    data.write_bytes(b"a file")
    message = _serve_refused(tmp_path, data)
    assert f"the data dir {data} cannot be used: Not a directory" in message, message
    assert "Traceback" not in message, message
    assert data.read_bytes() == b"a file"
