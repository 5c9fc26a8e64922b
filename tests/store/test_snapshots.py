"""Issue 13, snapshots: the whole state of a fake in one file, and a fake started from it.

In process (``MockWiroServer.save_snapshot/load_snapshot``, ``POST /_mock/snapshot``),
across stores (in memory and durable), and over real processes (``mock-wiro snapshot
save``, ``mock-wiro serve --load``). A file that is not a snapshot this mock-wiro can
load is refused with a message saying why, and the running state is left as it was."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mock_wiro.engine.sqlite_store import DB_NAME, SCHEMA_VERSION
from mock_wiro.errors import SnapshotError
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import RUN_PATH, Settings
from tests.helpers import REPO
from tests.helpers.serve import clean_env
from tests.store.durable import KEY, PUBLIC_URL, SECRET, Fake, comparable

TIMEOUT = 30


def _settings(**fields: Any) -> Settings:
    """A manual clock, and file URLs built on one public URL: the same in every fake."""
    return Settings(clock_mode="manual", public_url=PUBLIC_URL, **fields)


class Client:
    """An apikey project's calls to an in-process fake."""

    def __init__(self, server: MockWiroServer) -> None:
        self.server = server

    def post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = requests.post(
            f"{self.server.base_url}/{path}", headers={"x-api-key": KEY}, timeout=TIMEOUT, **kwargs
        )
        body: dict[str, Any] = answer.json()
        return body

    def run(self, prompt: str) -> str:
        data = {"prompt": prompt, "inputImageFirstUrl": "https://example.com/in.jpg"}
        made = self.post(RUN_PATH, data=data)
        assert made["result"] is True, made
        taskid: str = made["taskid"]
        return taskid

    def detail(self, taskid: str) -> dict[str, Any]:
        body = self.post("Task/Detail", data={"taskid": taskid})
        assert body["result"] is True, body
        item: dict[str, Any] = body["tasklist"][0]
        return item

    def get(self, url: str) -> bytes:
        """A file URL of the fake, fetched (its host part may name another fake)."""
        path = url.split("/", 3)[3]
        answer = requests.get(f"{self.server.url}/{path}", timeout=TIMEOUT)
        assert answer.status_code == 200, (url, answer.status_code)
        return answer.content


def _populate(server: MockWiroServer) -> dict[str, Any]:
    """'A project with 3 finished tasks and one running', plus one held, one cancelled,
    an upload and a second project: what a client can read of it."""
    server.create_project(KEY, SECRET, auth="apikey", balance="50")
    server.create_project("other-key", "other-secret", balance="3.25")
    client = Client(server)
    finished = [client.run(f"finished {i}") for i in range(3)]
    server.advance(600)
    for taskid in finished:
        server.wait_for_task(taskid)
    running = client.run("running")
    held = client.run("held")
    server.hold(held, "task_start")
    cancelled = client.run("cancelled")
    assert client.post("Task/Cancel", data={"taskid": cancelled})["result"] is True
    server.advance(10)
    server.wait_for_task(running, ["task_start", "task_output"])
    upload = client.post("File/Upload", files={"file": ("notes.txt", b"\x00snapshot\xff")})
    ids = {"finished": finished, "running": running, "held": held, "cancelled": cancelled}
    return {
        "ids": ids,
        "upload": upload["list"][0]["url"],
        "details": {t: comparable(client.detail(t)) for t in [*finished, running, held, cancelled]},
        "now": server.now,
        "projects": [
            (p.id, p.api_key, p.api_secret, p.auth_mode, p.balance)
            for p in server.backend.projects()
        ],
    }


def _read_back(server: MockWiroServer, seen: dict[str, Any]) -> None:
    """The fake holds exactly the state ``seen`` was read from, and goes on from it."""
    client = Client(server)
    assert server.now == seen["now"]
    got = [
        (p.id, p.api_key, p.api_secret, p.auth_mode, p.balance) for p in server.backend.projects()
    ]
    assert got == seen["projects"]
    for taskid, detail in seen["details"].items():
        assert comparable(client.detail(taskid)) == detail
    assert client.get(seen["upload"]) == b"\x00snapshot\xff"
    ids = seen["ids"]
    for taskid in ids["finished"]:
        (output,) = client.detail(taskid)["outputs"]
        assert client.get(output["url"])[4:8] == b"ftyp"  # an MP4's bytes, not a 404
    # the running task finishes, once; the held one stays held until released
    server.advance(600)
    assert server.wait_for_task(ids["running"]).status == "task_postprocess_end"
    assert server.task(ids["held"]).status == "task_assign"
    assert server.release(ids["held"]) == "task_start"
    server.advance(600)
    assert server.wait_for_task(ids["held"]).pexit == "0"
    kept = next(p for p in server.backend.projects() if p.api_key == KEY)
    assert float(kept.balance) == pytest.approx(float(seen["projects"][0][4]) - 2 * 0.19)
    # ids go on from the snapshot's counter
    assert int(client.run("after")) > int(ids["cancelled"])


@pytest.fixture
def source() -> Iterator[MockWiroServer]:
    with MockWiroServer(_settings()) as server:
        yield server


def test_save_and_load_in_process(source: MockWiroServer, tmp_path: Path) -> None:
    seen = _populate(source)
    path = tmp_path / "state.snapshot"
    size = source.save_snapshot(path)
    assert size == path.stat().st_size and not list(tmp_path.glob("*.part"))
    with MockWiroServer(_settings()) as target:
        target.load_snapshot(path)
        _read_back(target, seen)


def test_loading_again_starts_over(source: MockWiroServer, tmp_path: Path) -> None:
    """The same snapshot twice on one fake (the pytest fixture's use): the second load
    holds the snapshot's state again, not what the first one became."""
    seen = _populate(source)
    path = tmp_path / "state.snapshot"
    source.save_snapshot(path)
    with MockWiroServer(_settings()) as target:
        target.load_snapshot(path)
        _read_back(target, seen)
        target.add_scenario(prompt_contains="x", fail_at="task_start")
        target.load_snapshot(path)
        assert target.scenarios() == []  # rules go, as with a reset
        _read_back(target, seen)


def test_post_mock_snapshot_answers_the_file(source: MockWiroServer, tmp_path: Path) -> None:
    seen = _populate(source)
    answer = requests.post(source.url + "/_mock/snapshot", timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/vnd.sqlite3"
    assert answer.headers["Cache-Control"] == "no-store"
    path = tmp_path / "fetched.snapshot"
    path.write_bytes(answer.content)
    with MockWiroServer(_settings()) as target:
        target.load_snapshot(path)
        _read_back(target, seen)


def test_post_mock_snapshot_obeys_the_control_rules(tmp_path: Path) -> None:
    """It carries every secret: the admin token, and no cross-site request, as every
    /_mock route (docs/security.md)."""
    token = "snapshot-token"
    with MockWiroServer(_settings(admin_token=token)) as server:
        server.create_project(KEY, SECRET)
        url = server.url + "/_mock/snapshot"
        for headers in ({}, {"X-Admin-Token": "wrong"}):
            refused = requests.post(url, headers=headers, timeout=TIMEOUT)
            assert refused.status_code == 401 and SECRET not in refused.text
        for cross in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            refused = requests.post(url, headers={"X-Admin-Token": token, **cross}, timeout=TIMEOUT)
            assert refused.status_code == 403 and SECRET not in refused.text
        form = requests.post(url, headers={"X-Admin-Token": token}, data="x", timeout=TIMEOUT)
        assert form.status_code == 415
        got = requests.post(url, headers={"X-Admin-Token": token}, timeout=TIMEOUT)
        assert got.status_code == 200 and got.content.startswith(b"SQLite format 3\x00")


def test_durable_to_memory_and_memory_to_durable(tmp_path: Path) -> None:
    """A snapshot of a durable fake loads into an in-memory one and back; loaded into a
    durable fake it is committed: a restart carries on from it."""
    data = tmp_path / "data"
    with MockWiroServer(_settings(data_dir=str(data))) as durable:
        seen = _populate(durable)
        durable.save_snapshot(tmp_path / "durable.snapshot")
    with MockWiroServer(_settings()) as memory:
        memory.load_snapshot(tmp_path / "durable.snapshot")
        assert memory.now == seen["now"]
        memory.save_snapshot(tmp_path / "memory.snapshot")
    other = tmp_path / "other"
    with MockWiroServer(_settings(data_dir=str(other))) as target:
        target.create_project("gone-after-load")
        target.load_snapshot(tmp_path / "memory.snapshot")
    with MockWiroServer(_settings(data_dir=str(other))) as restarted:
        assert "gone-after-load" not in [p.api_key for p in restarted.backend.projects()]
        _read_back(restarted, seen)
        files = {p.name for p in (other / "files").iterdir()}
        assert not [n for n in files if n.endswith(".part")]
        assert len(files) == 1  # the upload (the input URLs were remote)


# ------------------------------------------------------------------ refusals
def _bad_snapshots(tmp: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """Files that must be refused, and a part of the message each must give."""
    made: dict[str, tuple[Path, str]] = {}
    garbage = tmp / "garbage.snapshot"
    garbage.write_bytes(b"not a database at all" * 100)
    made["garbage"] = (garbage, "not a SQLite database, or damaged")
    truncated = tmp / "truncated.snapshot"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    made["truncated"] = (truncated, "cannot be loaded as a mock-wiro snapshot")
    newer = tmp / "newer.snapshot"
    newer.write_bytes(good.read_bytes())
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    made["newer"] = (newer, f"schema version {SCHEMA_VERSION + 1}")
    foreign = tmp / "foreign.snapshot"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (x)")
    made["foreign"] = (foreign, "it is not one")
    escape = tmp / "escape.snapshot"
    escape.write_bytes(good.read_bytes())
    with sqlite3.connect(escape) as db:
        db.execute("UPDATE blobs SET path = '../../escaped' WHERE path LIKE 'files/%'")
    made["escape"] = (escape, "outside the data dir")
    over_db = tmp / "over-db.snapshot"  # a blob that would overwrite the data dir's database
    over_db.write_bytes(good.read_bytes())
    with sqlite3.connect(over_db) as db:
        db.execute(f"UPDATE blobs SET path = '{DB_NAME}' WHERE path LIKE 'files/%'")
    made["over the database"] = (over_db, "outside the data dir")
    elsewhere = tmp / "elsewhere.snapshot"  # another folder of the data dir
    elsewhere.write_bytes(good.read_bytes())
    with sqlite3.connect(elsewhere) as db:
        db.execute("UPDATE blobs SET path = 'other/x' WHERE path LIKE 'files/%'")
    made["another folder"] = (elsewhere, "outside the data dir")
    record = tmp / "record.snapshot"
    record.write_bytes(good.read_bytes())
    with sqlite3.connect(record) as db:
        (rec,) = db.execute("SELECT record FROM files LIMIT 1").fetchone()
        changed = json.loads(rec) | {"disk_path": "/etc/passwd"}
        db.execute("UPDATE files SET record = ?", (json.dumps(changed),))
    made["absolute record path"] = (record, "outside the data dir")
    missing = tmp / "missing.snapshot"
    missing.write_bytes(good.read_bytes())
    with sqlite3.connect(missing) as db:
        db.execute("DELETE FROM blobs WHERE path LIKE 'files/%'")
    made["bytes missing"] = (missing, "has no bytes in the snapshot")
    made["no such file"] = (tmp / "nowhere.snapshot", "there is no such file")
    return made


def test_a_file_that_cannot_be_loaded_is_refused_and_changes_nothing(
    source: MockWiroServer, tmp_path: Path
) -> None:
    _populate(source)
    good = tmp_path / "good.snapshot"
    source.save_snapshot(good)
    data = tmp_path / "durable"
    with MockWiroServer(_settings(data_dir=str(data))) as target:
        target.create_project("kept", "kept-secret")
        before = (
            json.dumps([(p.api_key, str(p.balance)) for p in target.backend.projects()]),
            target.now,
        )
        for name, (path, message) in _bad_snapshots(tmp_path, good).items():
            with pytest.raises(SnapshotError) as refused:
                target.load_snapshot(path)
            assert message in refused.value.message, (name, refused.value.message)
            assert str(path) in refused.value.message
            after = json.dumps([(p.api_key, str(p.balance)) for p in target.backend.projects()])
            assert (after, target.now) == before, name
        assert not (data / "escaped").exists() and not (tmp_path / "escaped").exists()


def test_a_data_dirs_database_is_not_a_snapshot(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with MockWiroServer(_settings(data_dir=str(data))) as server:
        server.create_project(KEY)
    with (
        MockWiroServer(_settings()) as target,
        pytest.raises(SnapshotError, match="a data dir's database, not a snapshot"),
    ):
        target.load_snapshot(data / DB_NAME)


# ------------------------------------------------------------------ real processes
def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mock_wiro", *args],
        cwd=REPO,
        env=clean_env(tmp),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_snapshot_save_and_serve_load_over_real_processes(tmp_path: Path) -> None:
    fake = Fake(tmp_path, tmp_path / "first")
    try:
        finished = fake.run("finished")
        fake.finish(finished)
        running = fake.run("running")
        fake.advance(10)
        upload = fake.upload("kept.bin", bytes(range(256)) * 40)
        saved = _cli(
            tmp_path, "snapshot", "save", str(tmp_path / "s"), "--url", fake.served.control
        )
        assert saved.returncode == 0, saved.stderr
        details = {t: comparable(fake.detail(t)) for t in (finished, running)}
        now = fake.now()
        # a running fake's data dir is refused (its lock is held)
        busy = _cli(
            tmp_path, "snapshot", "save", str(tmp_path / "x"), "--data-dir", str(tmp_path / "first")
        )
        assert busy.returncode == 2 and "in use by another mock-wiro" in busy.stderr
    finally:
        assert fake.stop() == 0
    # from the stopped data dir too: the same state
    offline = _cli(
        tmp_path, "snapshot", "save", str(tmp_path / "o"), "--data-dir", str(tmp_path / "first")
    )
    assert offline.returncode == 0, offline.stderr

    for snapshot, data_dir in (("s", "second"), ("o", "third")):
        again = Fake(tmp_path, tmp_path / data_dir, "--load", str(tmp_path / snapshot))
        try:
            assert again.now() == now
            assert {t: comparable(again.detail(t)) for t in details} == details
            assert again.download(upload["url"]).content == bytes(range(256)) * 40
            assert again.finish(running)["pexit"] == "0"
        finally:
            assert again.stop() == 0
    # a data dir that already holds a state carries on: --load does not seed it again
    kept = Fake(tmp_path, tmp_path / "second", "--load", str(tmp_path / "s"))
    try:
        assert kept.detail(running)["status"] == "task_postprocess_end"
        assert "--load" in kept.served.stderr()
    finally:
        assert kept.stop() == 0


def test_serve_load_refuses_a_bad_snapshot(tmp_path: Path) -> None:
    bad = tmp_path / "bad.snapshot"
    bad.write_bytes(b"\x00" * 4096)
    done = _cli(tmp_path, "serve", "--port", "0", "--load", str(bad))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "cannot be loaded as a mock-wiro snapshot" in done.stderr
    assert "serving the Wiro API" not in done.stdout
    nobody = _cli(
        tmp_path, "snapshot", "save", str(tmp_path / "n"), "--url", "http://127.0.0.1:9/_mock"
    )
    assert nobody.returncode == 2 and "no fake answered" in nobody.stderr
    assert not (tmp_path / "n").exists()
