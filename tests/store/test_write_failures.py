"""Issue 13: a data dir that cannot be written, at start or while the fake runs (a full
disk, a filesystem gone read-only). Each is a real filesystem: a tiny tmpfs mounted for
the test (root only: skipped where ``mount`` is not allowed).

At start: a clear refusal. At run time: the request gets the API's error envelope
(HTTP 503, code 0), nothing of it is kept, the server stays up, what was stored before
is intact, and once the disk is back everything goes on (a restart included).

A filesystem cannot be made read-only while the fake runs: the kernel refuses to
remount a filesystem read-only (even a bind mount) while a file on it is open for
writing, as the database is. The full disk is the failing write at run time; a
read-only filesystem is tested at start."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mock_wiro.errors import STORAGE_ERROR_HTTP_STATUS, DataDirError
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import RUN_PATH, Settings

KEY = "full-disk-key"
PUBLIC_URL = "http://127.0.0.1:9"
"""File URLs are built on this: the same after a restart on another port."""
TIMEOUT = 30
FS_BYTES = 4 * 1024 * 1024
"""The tmpfs: room for the database, one rendered video and a little more."""


class TinyFs:
    """A tmpfs of :data:`FS_BYTES` at ``path``: filled, freed, made read-only and back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> None:
        with open(self.filler, "ab", buffering=0) as out:
            for size in (65536, 4096, 512, 1):  # to the last byte the filesystem has
                try:
                    while True:
                        out.write(b"\0" * size)
                except OSError:
                    continue

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def remount(self, mode: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.path)], check=True)


@pytest.fixture
def tinyfs(tmp_path: Path) -> Iterator[TinyFs]:
    path = tmp_path / "fs"
    path.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={FS_BYTES},mode=0700", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        pytest.skip("no mount command here")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}): needs root")
    try:
        yield TinyFs(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


class Api:
    def __init__(self, server: MockWiroServer) -> None:
        self.server = server

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(
            f"{self.server.base_url}/{path}", headers={"x-api-key": KEY}, timeout=TIMEOUT, **kwargs
        )

    def run(self, prompt: str = "waves") -> requests.Response:
        data = {"prompt": prompt, "inputImageFirstUrl": "https://example.com/in.jpg"}
        return self.post(RUN_PATH, data=data)

    def run_with_upload(self) -> requests.Response:
        from mock_wiro_fixtures import image_bytes

        files = {"inputImageFirst": ("in.jpg", image_bytes("landscape_16x9.jpg"))}
        return self.post(RUN_PATH, files=files, data={"prompt": "p", "inputImageFirstUrl": ""})

    def upload(self, data: bytes) -> requests.Response:
        return self.post("File/Upload", files={"file": ("f.bin", data)})

    def fetch(self, url: str) -> requests.Response:
        """A file URL (built on ``PUBLIC_URL``), from this fake."""
        return requests.get(self.server.url + url.removeprefix(PUBLIC_URL), timeout=TIMEOUT)

    def detail(self, taskid: str) -> dict[str, Any]:
        body: dict[str, Any] = self.post("Task/Detail", data={"taskid": taskid}).json()
        return body

    def task_ids(self) -> list[str]:
        listed = self.post("Task/List", data={"limit": "100"}).json()
        return sorted(t["id"] for t in listed["tasklist"])


def _refused(answer: requests.Response) -> None:
    """The API's error envelope, saying what happened."""
    assert answer.status_code == STORAGE_ERROR_HTTP_STATUS, answer.text
    body = answer.json()
    assert body["result"] is False and body["errors"][0]["code"] == 0, body
    assert "could not write its data dir" in body["errors"][0]["message"]


def _serve(data: Path) -> MockWiroServer:
    settings = Settings(clock_mode="manual", data_dir=str(data), public_url=PUBLIC_URL)
    server = MockWiroServer(settings).start()
    if not server.backend.projects():
        server.create_project(KEY, "secret", auth="apikey", balance="100")
    return server


def _finished_task(api: Api) -> tuple[str, str]:
    """A task run to its end (its video rendered): its id and Detail."""
    taskid: str = api.run("before").json()["taskid"]
    api.server.advance(600)
    api.server.wait_for_task(taskid)
    return taskid, api.detail(taskid)["tasklist"][0]


def _files(data: Path) -> list[str]:
    return sorted(p.name for p in (data / "files").iterdir())


def test_a_full_disk_refuses_what_it_cannot_keep_and_loses_nothing(tinyfs: TinyFs) -> None:
    data = tinyfs.path / "data"
    server = _serve(data)
    try:
        api = Api(server)
        kept, kept_detail = _finished_task(api)
        kept_upload = api.upload(b"kept bytes").json()["list"][0]
        files_before = _files(data)
        balance = str(server.backend.projects()[0].balance)
        tinyfs.fill()

        _refused(api.upload(os.urandom(300_000)))  # the bytes: no room
        _refused(api.run("no room"))  # the record: no room
        _refused(api.run_with_upload())
        assert _files(data) == files_before  # no half file, no file without a record
        assert api.task_ids() == [kept]  # the refused Runs made no task
        # the server is up and what it had is intact
        assert api.detail(kept)["tasklist"][0] == kept_detail
        assert api.fetch(kept_upload["url"]).content == b"kept bytes"

        tinyfs.free()
        again = api.run("room again")
        assert again.status_code == 200 and again.json()["result"] is True, again.text
        newer = again.json()["taskid"]
    finally:
        server.stop()
    restarted = _serve(data)
    try:
        api = Api(restarted)
        assert api.task_ids() == sorted([kept, newer])  # nothing refused came back
        assert api.detail(kept)["tasklist"][0] == kept_detail
        assert str(restarted.backend.projects()[0].balance) == balance
        assert api.fetch(kept_upload["url"]).content == b"kept bytes"
        video = api.fetch(kept_detail["outputs"][0]["url"])
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    finally:
        restarted.stop()


def test_frames_that_could_not_be_kept_go_out_once_the_disk_is_back(tinyfs: TinyFs) -> None:
    """A task whose frames cannot be committed does not move on twice: it ends once,
    billed once, when the disk has room again, and its frames reach the journal then."""
    data = tinyfs.path / "data"
    server = _serve(data)
    try:
        api = Api(server)
        _finished_task(api)  # its video is rendered: the next task needs no new file
        taskid = api.run("through a full disk").json()["taskid"]
        server.wait_for_task(taskid, ["task_queue"])
        balance = server.backend.projects()[0].balance
        told: list[str] = []
        server.backend.add_listener(lambda task, event: told.append(event.type))
        tinyfs.fill()
        server.advance(600)  # every step is due; each one's commit fails
        assert told == [] and len(server.task(taskid).events) > 1  # not told: not kept
        tinyfs.free()
        server.advance(1)  # the engine tries again
        done = server.wait_for_task(taskid)
        assert done.status == "task_postprocess_end" and done.pexit == "0"
        types = [e.type for e in done.events]
        repeated = [t for t in set(types) if t != "task_output" and types.count(t) > 1]
        assert not repeated, types  # no step applied twice: ended once, billed once
        assert told == types[1:]  # every frame after task_queue, told once, in order
        assert server.backend.projects()[0].balance == balance - done.totalcost
    finally:
        server.stop()
    restarted = _serve(data)
    try:
        task = restarted.task(taskid)
        assert [e.type for e in task.events] == types  # all of it kept
        assert restarted.backend.projects()[0].balance == balance - done.totalcost
    finally:
        restarted.stop()


def test_a_read_only_data_dir_is_refused_at_start(tinyfs: TinyFs) -> None:
    data = tinyfs.path / "data"
    _serve(data).stop()  # a kept state
    tinyfs.remount("ro")
    with pytest.raises(DataDirError, match="cannot be used: Read-only file system"):
        MockWiroServer(Settings(clock_mode="manual", data_dir=str(data)))
    with pytest.raises(DataDirError, match="cannot be used: Read-only file system"):
        MockWiroServer(Settings(clock_mode="manual", data_dir=str(tinyfs.path / "new")))
