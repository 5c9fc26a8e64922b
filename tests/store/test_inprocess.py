"""The durable store from Python (``MockWiroServer(Settings(data_dir=...))`` and the
backend under it), closed and opened again in one process: the quota, deletions and a
reset are kept; a held task stays held; the id counters never go back."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from mock_wiro.engine.backend import Backend, TaskRef, Upload
from mock_wiro.engine.params import RunParams
from mock_wiro.engine.sqlite_store import SqliteStore
from mock_wiro.engine.store import MemoryStore
from mock_wiro.errors import ValidationError
from mock_wiro.http.wire import task_detail
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings


def _params(prompt: str = "waves") -> RunParams:
    return RunParams("https://example.com/a.jpg", prompt, True, "768P", "6", "")


@contextmanager
def _backend(data: Path, **settings: object) -> Iterator[Backend]:
    backend = Backend(Settings(clock_mode="manual", data_dir=str(data), **settings))  # type: ignore[arg-type]
    backend.start()
    try:
        yield backend
    finally:
        backend.close()


def test_a_data_dir_makes_the_store_durable_and_none_keeps_it_in_memory(tmp_path: Path) -> None:
    with _backend(tmp_path / "data") as durable:
        assert isinstance(durable.store, SqliteStore)
    memory = Backend(Settings(clock_mode="manual"))
    try:
        assert type(memory.store) is MemoryStore
    finally:
        memory.close()
    assert (tmp_path / "data").is_dir()  # a given data dir is never removed


def test_a_server_reopened_on_its_data_dir_answers_as_before(tmp_path: Path) -> None:
    settings = Settings(clock_mode="manual", data_dir=str(tmp_path / "data"))
    with MockWiroServer(settings) as server:
        project = server.create_project(balance="5")
        task = server.backend.run(project, _params())
        server.advance(600)
        server.wait_for_task(task.id)
        before = task_detail(task, server.backend.url_for)
        url = before["outputs"][0]["url"]
        video = requests.get(url, timeout=30).content
    with MockWiroServer(settings) as server:
        kept = server.task(task.id)
        after = task_detail(kept, server.backend.url_for)
        assert {k: v for k, v in after.items() if k != "outputs"} == {
            k: v for k, v in before.items() if k != "outputs"
        }
        # the port changed (port 0): the output is at the new address, same bytes
        new_url = after["outputs"][0]["url"]
        assert new_url.rsplit("/cdn/", 1)[1] == url.rsplit("/cdn/", 1)[1]
        assert requests.get(new_url, timeout=30).content == video
        (again,) = server.backend.projects()
        assert again.balance == project.balance


def test_the_quota_counts_the_uploads_kept_before_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with _backend(data, storage_quota_bytes=1000) as backend:
        project = backend.create_project()
        backend.upload(project, Upload("a.bin", io.BytesIO(b"a" * 700)))
    with _backend(data, storage_quota_bytes=1000) as backend:
        (project,) = backend.projects()
        assert backend.files.used_bytes(project) == 700
        with pytest.raises(ValidationError, match="quota"):
            backend.upload(project, Upload("b.bin", io.BytesIO(b"b" * 400)))
        backend.upload(project, Upload("c.bin", io.BytesIO(b"c" * 300)))


def test_deleted_files_and_a_reset_stay_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with _backend(data) as backend:
        project = backend.create_project()
        task = backend.run(project, _params())
        backend.settle()
        backend.advance(600)
        output = task.outputs[0]
        backend.input_output_delete(project, TaskRef(taskid=task.id))
        gone = backend.run(project, _params("forgotten by the reset"))
        (upload,) = backend.upload(project, Upload("x.txt", io.BytesIO(b"x")))
        upload_id = upload.id
    with _backend(data) as backend:
        kept = backend.task_by_id(task.id)
        assert kept is not None and kept.files_deleted
        assert backend.public_file("cdn", output.accesskey, output.name) is None
        assert backend.task_by_id(gone.id) is not None
        backend.reset()
    with _backend(data) as backend:
        assert backend.all_tasks() == []
        assert backend.store.files() == []
        assert not (data / "files" / upload_id).exists()
        (project,) = backend.projects()
        assert backend.store.folder(project.root_folder_id) is not None
        newer = backend.run(project, _params())
        assert int(newer.id) > int(gone.id)  # a reset never reuses an id, nor a restart


def test_a_held_task_stays_held_and_a_release_is_kept(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with _backend(data) as backend:
        project = backend.create_project()
        held = backend.run(project, _params("held"))
        released = backend.run(project, _params("released"))
        backend.hold(held, "task_start")
        backend.hold(released, "task_start")
        backend.settle()
        backend.advance(600)
        backend.release(released)
    with _backend(data) as backend:
        held_again = backend.task_by_id(held.id)
        released_again = backend.task_by_id(released.id)
        assert held_again is not None and released_again is not None
        assert held_again.hold_at == "task_start" and held_again.status == "task_assign"
        assert released_again.hold_at is None
        backend.advance(600)
        assert held_again.status == "task_assign"
        assert released_again.status == "task_postprocess_end"
        backend.release(held_again)
        backend.advance(600)
        assert held_again.status == "task_postprocess_end" and held_again.pexit == "0"


def test_a_bytes_file_no_record_names_is_removed_at_start(tmp_path: Path) -> None:
    """What a crash between writing a file and keeping its record leaves: removed, never
    served."""
    data = tmp_path / "data"
    with _backend(data) as backend:
        project = backend.create_project()
        (kept,) = backend.upload(project, Upload("kept.txt", io.BytesIO(b"kept")))
    (data / "files" / ("0" * 32)).write_bytes(b"never kept")
    (data / "files" / (kept.id + ".part")).write_bytes(b"half")
    with _backend(data) as backend:
        assert sorted(p.name for p in (data / "files").iterdir()) == [kept.id]
        found = backend.public_file("file", kept.accesskey, kept.name)
        assert found is not None and found.disk_path.read_bytes() == b"kept"
