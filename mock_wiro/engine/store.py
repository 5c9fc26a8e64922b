"""Where the fake's state lives: one interface, :class:`Store`, and its in-memory
implementation, :class:`MemoryStore`.

Every read and write of projects, tasks, files and folders goes through a
:class:`Store` method, so another implementation (a durable one) can stand in for
:class:`MemoryStore` without the engine's logic or the HTTP layer changing.

Threads: a store does no locking of its own. Its callers (the backend and its
collaborators) call it under the backend's one state lock, as they read and change
the records it returns under that lock. A store keeps records as they are handed in
(a :class:`~.models.Task` is a live object the engine moves along): ``save_task``
and ``save_project`` say when one has changed, for a store that writes them out.

Durability (:class:`~.sqlite_store.SqliteStore`): every change is committed when it is
made, except inside :meth:`Store.batch`, whose changes are committed together when the
outermost batch ends (or at an explicit :meth:`Store.commit`). The backend batches what
must never be half kept (a task and its first frame; a bill and the frame that ends the
task) and commits before any client can learn of a change.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from hashlib import blake2b
from typing import Any, Protocol

from ..settings import NONCE_WINDOW, TASK_ID_START
from .models import Folder, Project, StoredFile, Task

__all__ = ["FIRST_PROJECT_ID", "MemoryStore", "Store"]

_NO_BATCH: AbstractContextManager[None] = nullcontext()  # re-entrant, shared

FIRST_PROJECT_ID = 699


class Store(Protocol):
    """The operations on the fake's state. Called under the backend's state lock."""

    # projects
    def new_project_id(self) -> str:
        """A project id never handed out before."""

    def add_project(self, project: Project) -> None:
        """Keep a new project (its API key is not taken: the caller checked)."""

    def project(self, api_key: str) -> Project | None:
        """The project with this API key."""

    def project_by_id(self, project_id: str) -> Project | None:
        """The project with this id."""

    def projects(self) -> list[Project]:
        """Every project, oldest first."""

    def save_project(self, project: Project) -> None:
        """The project changed (its balance)."""

    def record_nonce(self, project: Project, nonce: str) -> bool:
        """Remember a nonce the project signed with; False if it is among the project's
        last ``NONCE_WINDOW`` nonces [A] (older ones are forgotten)."""

    # tasks
    def new_task_id(self) -> str:
        """A task id never handed out before (increasing)."""

    def add_task(self, task: Task) -> None:
        """Keep a new task, findable by id and token, and active."""

    def task(self, task_id: str) -> Task | None:
        """The task with this id."""

    def task_by_token(self, token: str) -> Task | None:
        """The task with this socketaccesstoken."""

    def tasks(self) -> list[Task]:
        """Every task, oldest first."""

    def tasks_of(self, project_id: str) -> list[Task]:
        """A project's tasks, oldest first."""

    def active_tasks(self) -> list[Task]:
        """The tasks that have not ended, oldest first."""

    def active_count(self, project_id: str) -> int:
        """How many of a project's tasks have not ended."""

    def deactivate(self, task: Task) -> None:
        """The task has ended: no longer active."""

    def forget_task(self, task: Task) -> None:
        """Forget, in memory only, a task whose creation could not be kept (a failed
        write rolled it back)."""

    def save_task(self, task: Task) -> None:
        """The task changed (a frame, its files deleted)."""

    def save_task_later(self, task: Task) -> None:
        """The task changed in a way that may wait for the next commit, whatever makes
        it (its image check or render done: redone at start if lost)."""

    # files and folders
    def add_file(self, stored: StoredFile) -> None:
        """Keep a file, findable by its access key."""

    def file(self, accesskey: str) -> StoredFile | None:
        """The file with this access key."""

    def drop_file(self, accesskey: str) -> None:
        """Forget a file (nothing if it is not kept)."""

    def files(self) -> list[StoredFile]:
        """Every file kept."""

    def forget_file(self, stored: StoredFile) -> None:
        """Forget, in memory only, a file whose keeping could not be written."""

    def add_folder(self, folder: Folder) -> None:
        """Keep a folder."""

    def folder(self, folder_id: str) -> Folder | None:
        """The folder with this id."""

    # callback deliveries
    def save_delivery(self, task_id: str, record: dict[str, Any]) -> None:
        """Keep a task's callback delivery record (:mod:`mock_wiro.push.callbacks`): its
        url, body, state, attempts and when its next attempt is due. A durable store
        writes it (committed now, or with the open batch); the in-memory one keeps nothing
        (the dispatcher has it)."""

    def kept_deliveries(self) -> list[tuple[str, dict[str, Any]]]:
        """The delivery records kept when the store was opened, as ``(task id, record)``
        by end order (none in memory). A durable store also keeps, in the same
        transaction as the frame that ends a task with a callback URL, a ``pending``
        record with no body yet, so a kept end always has its delivery."""

    # everything
    def reset(self) -> None:
        """Forget every task, file, folder and delivery; projects (and the id counters)
        stay."""

    def replace(self, source: MemoryStore) -> None:
        """Hold ``source``'s whole state instead of this one's (a snapshot loaded)."""

    # durability
    def batch(self) -> AbstractContextManager[None]:
        """Changes made inside are committed together when the outermost batch ends."""

    def commit(self) -> None:
        """Commit every change made so far, now (also inside a batch)."""

    def settled(self) -> bool:
        """Whether nothing waits for a commit (no write put off with
        :meth:`save_task_later`, none to redo after a failure): the engine may then skip a
        pass that has no task to step."""

    def save_clock(self, now: float) -> None:
        """The fake clock reads ``now`` (a durable store resumes the clock from it)."""

    def save_journal(self, entries: list[dict[str, Any]]) -> None:
        """Keep the journal's entries (at a clean stop) for :meth:`kept_journal`."""

    def kept_journal(self) -> list[dict[str, Any]]:
        """The journal kept at the last clean stop (once: it is then forgotten)."""

    def close(self) -> None:
        """Commit, and let go of whatever the store holds (files, locks)."""


class MemoryStore:
    """A :class:`Store` in dicts, as the fake has always kept its state."""

    def __init__(self) -> None:
        self._projects: dict[str, Project] = {}  # by API key
        self._project_ids: dict[str, Project] = {}
        self._tasks: dict[str, Task] = {}
        self._tokens: dict[str, str] = {}  # token -> task id
        self._active: dict[str, Task] = {}
        self._files: dict[str, StoredFile] = {}  # by accesskey
        self._folders: dict[str, Folder] = {}
        self._next_task_id = TASK_ID_START
        self._next_project_id = FIRST_PROJECT_ID

    def new_project_id(self) -> str:
        """A project id never handed out before."""
        self._next_project_id += 1
        return str(self._next_project_id - 1)

    def add_project(self, project: Project) -> None:
        """Keep a new project."""
        self._projects[project.api_key] = project
        self._project_ids[project.id] = project

    def project(self, api_key: str) -> Project | None:
        """The project with this API key."""
        return self._projects.get(api_key)

    def project_by_id(self, project_id: str) -> Project | None:
        """The project with this id."""
        return self._project_ids.get(project_id)

    def projects(self) -> list[Project]:
        """Every project, oldest first."""
        return list(self._projects.values())

    def save_project(self, project: Project) -> None:
        """Nothing to write: the project is kept as it is."""

    def record_nonce(self, project: Project, nonce: str) -> bool:
        """Remember a nonce; False if it is among the project's last ``NONCE_WINDOW``.
        Kept as a 16-byte digest, so a window's memory does not grow with the nonces'
        length; the oldest is forgotten when the window is full."""
        digest = blake2b(nonce.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        used = project.used_nonces
        if digest in used:
            return False
        used[digest] = None
        while len(used) > NONCE_WINDOW:
            used.popitem(last=False)
        return True

    def new_task_id(self) -> str:
        """A task id never handed out before."""
        self._next_task_id += 1
        return str(self._next_task_id - 1)

    def add_task(self, task: Task) -> None:
        """Keep a new task, by id and token, and active."""
        self._tasks[task.id] = task
        self._tokens[task.token] = task.id
        self._active[task.id] = task

    def task(self, task_id: str) -> Task | None:
        """The task with this id."""
        return self._tasks.get(task_id)

    def task_by_token(self, token: str) -> Task | None:
        """The task with this socketaccesstoken."""
        task_id = self._tokens.get(token)
        return self._tasks.get(task_id) if task_id else None

    def tasks(self) -> list[Task]:
        """Every task, oldest first."""
        return list(self._tasks.values())

    def tasks_of(self, project_id: str) -> list[Task]:
        """A project's tasks, oldest first."""
        return [t for t in self._tasks.values() if t.project_id == project_id]

    def active_tasks(self) -> list[Task]:
        """The tasks that have not ended, oldest first."""
        return list(self._active.values())

    def active_count(self, project_id: str) -> int:
        """How many of a project's tasks have not ended."""
        return sum(1 for t in self._active.values() if t.project_id == project_id)

    def deactivate(self, task: Task) -> None:
        """The task has ended."""
        self._active.pop(task.id, None)

    def forget_task(self, task: Task) -> None:
        """Forget a task (in memory)."""
        if self._tasks.get(task.id) is task:
            del self._tasks[task.id]
            self._tokens.pop(task.token, None)
            self._active.pop(task.id, None)

    def save_task(self, task: Task) -> None:
        """Nothing to write: the task is kept as it is."""

    def save_task_later(self, task: Task) -> None:
        """Nothing to write: the task is kept as it is."""

    def add_file(self, stored: StoredFile) -> None:
        """Keep a file by its access key."""
        self._files[stored.accesskey] = stored

    def file(self, accesskey: str) -> StoredFile | None:
        """The file with this access key."""
        return self._files.get(accesskey)

    def drop_file(self, accesskey: str) -> None:
        """Forget a file."""
        self._files.pop(accesskey, None)

    def files(self) -> list[StoredFile]:
        """Every file kept."""
        return list(self._files.values())

    def forget_file(self, stored: StoredFile) -> None:
        """Forget a file (in memory)."""
        if self._files.get(stored.accesskey) is stored:
            del self._files[stored.accesskey]

    def add_folder(self, folder: Folder) -> None:
        """Keep a folder."""
        self._folders[folder.id] = folder

    def folder(self, folder_id: str) -> Folder | None:
        """The folder with this id."""
        return self._folders.get(folder_id)

    def folders(self) -> list[Folder]:
        """Every folder kept."""
        return list(self._folders.values())

    def counters(self) -> tuple[int, int]:
        """The next task id and the next project id to hand out."""
        return self._next_task_id, self._next_project_id

    def replace(self, source: MemoryStore) -> None:
        """Hold ``source``'s state instead of this one's: every project, task, file and
        folder, and its id counters (loading a snapshot)."""
        self._projects = dict(source._projects)
        self._project_ids = dict(source._project_ids)
        self._tasks = dict(source._tasks)
        self._tokens = dict(source._tokens)
        self._active = dict(source._active)
        self._files = dict(source._files)
        self._folders = dict(source._folders)
        self._next_task_id, self._next_project_id = source.counters()

    def save_delivery(self, task_id: str, record: dict[str, Any]) -> None:
        """Nothing to keep: deliveries do not outlive the process."""

    def kept_deliveries(self) -> list[tuple[str, dict[str, Any]]]:
        """Nothing kept."""
        return []

    def reset(self) -> None:
        """Forget every task, file and folder."""
        self._tasks.clear()
        self._tokens.clear()
        self._active.clear()
        self._files.clear()
        self._folders.clear()

    def batch(self) -> AbstractContextManager[None]:
        """Nothing to commit: in memory, every change is kept as it is made (one shared
        no-op context, re-entrant: a batch is opened per step applied)."""
        return _NO_BATCH

    def commit(self) -> None:
        """Nothing to commit."""

    def settled(self) -> bool:
        """Always: nothing is ever put off."""
        return True

    def save_clock(self, now: float) -> None:
        """Nothing to keep: the clock does not outlive the process."""

    def save_journal(self, entries: list[dict[str, Any]]) -> None:
        """Nothing to keep: the journal does not outlive the process."""

    def kept_journal(self) -> list[dict[str, Any]]:
        """Nothing kept."""
        return []

    def close(self) -> None:
        """Nothing to let go of."""
