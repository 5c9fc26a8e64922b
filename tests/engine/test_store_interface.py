"""The :class:`~mock_wiro.engine.store.Store` interface is the only path to the fake's
state: a backend on a second implementation (lists, searched linearly) runs the whole
lifecycle, and none of the backend's collaborators keeps a record of its own."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pytest

from mock_wiro.engine.backend import Backend, TaskRef, Upload
from mock_wiro.engine.models import Folder, Project, StoredFile, Task
from mock_wiro.engine.params import RunParams
from mock_wiro.engine.store import MemoryStore, Store
from mock_wiro.engine.video import VideoRenderer
from mock_wiro.settings import TASK_ID_START, Settings

RECORDS = (Task, Project, StoredFile, Folder)


class ListStore:
    """A second :class:`Store`: every record in a list; a log of every call."""

    def __init__(self) -> None:
        self.projects_: list[Project] = []
        self.tasks_: list[Task] = []
        self.ended: list[str] = []
        self.files_: list[StoredFile] = []
        self.folders: list[Folder] = []
        self.nonces: list[tuple[str, str]] = []
        self.ids = [TASK_ID_START, 1]
        self.calls: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if callable(value) and not name.startswith("_"):
            object.__getattribute__(self, "calls").append(name)
        return value

    def new_project_id(self) -> str:
        self.ids[1] += 1
        return str(self.ids[1])

    def add_project(self, project: Project) -> None:
        self.projects_.append(project)

    def project(self, api_key: str) -> Project | None:
        return next((p for p in self.projects_ if p.api_key == api_key), None)

    def project_by_id(self, project_id: str) -> Project | None:
        return next((p for p in self.projects_ if p.id == project_id), None)

    def projects(self) -> list[Project]:
        return list(self.projects_)

    def save_project(self, project: Project) -> None:
        pass

    def record_nonce(self, project: Project, nonce: str) -> bool:
        if (project.id, nonce) in self.nonces:
            return False
        self.nonces.append((project.id, nonce))
        return True

    def new_task_id(self) -> str:
        self.ids[0] += 1
        return str(self.ids[0] - 1)

    def add_task(self, task: Task) -> None:
        self.tasks_.append(task)

    def task(self, task_id: str) -> Task | None:
        return next((t for t in self.tasks_ if t.id == task_id), None)

    def task_by_token(self, token: str) -> Task | None:
        return next((t for t in self.tasks_ if t.token == token), None)

    def tasks(self) -> list[Task]:
        return list(self.tasks_)

    def tasks_of(self, project_id: str) -> list[Task]:
        return [t for t in self.tasks_ if t.project_id == project_id]

    def active_tasks(self) -> list[Task]:
        return [t for t in self.tasks_ if t.id not in self.ended]

    def active_count(self, project_id: str) -> int:
        return len([t for t in self.active_tasks() if t.project_id == project_id])

    def deactivate(self, task: Task) -> None:
        self.ended.append(task.id)

    def save_task(self, task: Task) -> None:
        pass

    def add_file(self, stored: StoredFile) -> None:
        self.files_.append(stored)

    def file(self, accesskey: str) -> StoredFile | None:
        return next((f for f in self.files_ if f.accesskey == accesskey), None)

    def drop_file(self, accesskey: str) -> None:
        self.files_ = [f for f in self.files_ if f.accesskey != accesskey]

    def files(self) -> list[StoredFile]:
        return list(self.files_)

    def add_folder(self, folder: Folder) -> None:
        self.folders.append(folder)

    def folder(self, folder_id: str) -> Folder | None:
        return next((f for f in self.folders if f.id == folder_id), None)

    def reset(self) -> None:
        self.tasks_, self.ended, self.files_, self.folders = [], [], [], []

    def batch(self) -> AbstractContextManager[None]:
        return nullcontext()

    def commit(self) -> None:
        pass

    def settled(self) -> bool:
        return True

    def save_clock(self, now: float) -> None:
        pass

    def close(self) -> None:
        pass

    def save_task_later(self, task: Task) -> None:
        pass

    def forget_task(self, task: Task) -> None:
        self.tasks_ = [t for t in self.tasks_ if t is not task]

    def forget_file(self, stored: StoredFile) -> None:
        self.files_ = [f for f in self.files_ if f is not stored]

    def replace(self, source: MemoryStore) -> None:
        self.projects_, self.tasks_ = source.projects(), source.tasks()
        self.files_, self.folders = source.files(), source.folders()
        self.ended = [t.id for t in self.tasks_ if t.terminal]

    def save_journal(self, entries: list[dict[str, Any]]) -> None:
        pass

    def kept_journal(self) -> list[dict[str, Any]]:
        return []


class _Quick(VideoRenderer):
    def render(self, width: int, height: int, duration_seconds: int) -> bytes:
        return b"\0\0\0\x18ftypmp42" + bytes(100)


def _store_is_a_store(store: ListStore) -> Store:
    return store  # mypy: ListStore satisfies the protocol


@pytest.fixture
def backend() -> Iterator[tuple[Backend, ListStore]]:
    store = ListStore()
    b = Backend(Settings(clock_mode="manual"), store=_store_is_a_store(store), renderer=_Quick())
    try:
        yield b, store
    finally:
        b.close()


def _params(url: str = "https://example.com/a.jpg") -> RunParams:
    return RunParams(url, "waves", True, "768P", "6", "")


def _records_outside_the_store(backend: Backend) -> list[str]:
    """Every attribute of the backend and its collaborators that holds a record."""
    found = []
    owners = {"backend": backend, **{k: v for k, v in vars(backend).items() if k != "store"}}
    for owner_name, owner in owners.items():
        for name, value in (vars(owner) if hasattr(owner, "__dict__") else {}).items():
            if isinstance(value, dict):
                values: list[object] = [*value.keys(), *value.values()]
            elif isinstance(value, list | set | tuple):
                values = list(value)
            else:
                values = [value]
            if any(isinstance(v, RECORDS) for v in values):
                found.append(f"{owner_name}.{name}")
    return found


def test_a_backend_on_a_second_store_runs_the_whole_lifecycle(
    backend: tuple[Backend, ListStore],
) -> None:
    b, store = backend
    project = b.create_project(balance="10")
    assert b.authenticate(project.api_key, "1", _sign(project, "1")) is project
    task = b.run(project, _params())
    b.settle()
    b.advance(300)
    assert task.status == "task_postprocess_end" and task.pexit == "0"
    assert task.outputs and b.public_file("cdn", task.outputs[0].accesskey, "0.mp4")
    assert store.project_by_id(project.id) is project and project.balance < 10
    assert b.find_task(project, TaskRef(tasktoken=task.token)) is task
    assert b.list_tasks(project) == (1, [task])

    (uploaded,) = b.upload(project, Upload("in.png", io.BytesIO(b"png")))
    assert store.file(uploaded.accesskey) is uploaded
    again = b.run(project, _params(b.url_for(uploaded)))
    assert again.image.file is uploaded
    b.cancel(project, TaskRef(taskid=again.id))
    assert again.status == "task_cancel" and store.active_tasks() == []
    b.input_output_delete(project, TaskRef(taskid=task.id))
    assert store.file(task.outputs[0].accesskey) is None

    assert _records_outside_the_store(b) == []
    b.reset()
    assert store.tasks() == [] and store.files() == [] and b.all_tasks() == []
    assert store.folder(project.root_folder_id) is not None  # the root folder comes back
    used = {"add_task", "task", "task_by_token", "tasks_of", "active_tasks", "deactivate"}
    used |= {"add_file", "file", "drop_file", "add_folder", "folder", "project", "reset"}
    assert used <= set(store.calls), used - set(store.calls)


def test_the_memory_store_keeps_nothing_anywhere_else() -> None:
    b = Backend(Settings(clock_mode="manual"), renderer=_Quick())
    try:
        assert isinstance(b.store, MemoryStore)
        project = b.create_project()
        b.run(project, _params())
        b.settle()
        b.advance(300)
        assert _records_outside_the_store(b) == []
    finally:
        b.close()


def _sign(project: Project, nonce: str) -> str:
    import hashlib
    import hmac

    message = (project.api_secret + nonce).encode()
    return hmac.new(project.api_key.encode(), message, hashlib.sha256).hexdigest()
