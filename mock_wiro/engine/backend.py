"""The fake Wiro backend: one method per API action, over the collaborators that do the work.

Never touches a request. The HTTP layer (:mod:`mock_wiro.http.routes`) parses, calls a
method here, and serialises (:mod:`mock_wiro.http.wire`); errors are
:mod:`mock_wiro.errors` exceptions.

The collaborators share one state lock (``state_lock``, a re-entrant condition):
the :class:`~.store.Store` (all state), :class:`~.auth.Authenticator`,
:class:`~.files.FileStore` (files on disk and their URLs), :class:`~.preparer.Preparer`
(image checks and renders on a worker pool), :class:`~.stepper.Stepper` (frames,
outputs, billing) and :class:`~.scheduler.Scheduler` (the engine thread and waits).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path

from ..errors import (
    DataDirError,
    NotFoundError,
    StateError,
    StorageError,
    ValidationError,
)
from ..settings import (
    CANCELLABLE_STATUSES,
    DEFAULT_DEMO_BALANCE_USD,
    KILLED_PEXIT,
    AuthMode,
    Settings,
)
from .admission import TaskRef, check_can_run, concurrency_limit, interned
from .auth import Authenticator, check_credentials
from .clock import Clock
from .context import Context
from .files import FileStore, Upload, private_dir, safe_filename
from .journal import Journal
from .models import (
    DirectiveSource,
    Folder,
    ImageRef,
    NoDirectives,
    Project,
    StoredFile,
    Task,
    random_token,
)
from .params import RunParams
from .preparer import Preparer
from .scheduler import Scheduler
from .snapshot import LoadedSnapshot, install_blobs, read_snapshot, snapshot_bytes, write_file
from .sqlite_store import SqliteStore
from .stepper import FAILED_PEXIT, EventListener, Stepper
from .store import MemoryStore, Store
from .video import VideoRenderer

__all__ = ["FAILED_PEXIT", "Backend", "TaskRef", "Upload", "concurrency_limit", "safe_filename"]

_RENDER_CACHE_BYTES = 32 * 1024 * 1024


class Backend:
    """All state of one fake server, and one method per API action."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        renderer: VideoRenderer | None = None,
        workers: int = 2,
        scenarios: DirectiveSource | None = None,
        store: Store | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._own_data_dir = self.settings.data_dir is None
        self.data_dir = Path(self.settings.data_dir or tempfile.mkdtemp(prefix="mock-wiro-"))
        if not self.data_dir.exists():  # a data folder the fake creates is private (0700),
            try:  # like mkdtemp's; one the user made keeps its mode
                private_dir(self.data_dir)
            except OSError as exc:
                raise DataDirError(
                    f"the data dir {self.data_dir} cannot be used: {exc.strerror or exc} "
                    "(it could not be created); give a folder this user can write"
                ) from None
        self._cond = threading.Condition(threading.RLock())
        made_store = store is None
        if store is None:  # a data dir given: durable (docs/persistence.md); else in memory
            store = MemoryStore() if self._own_data_dir else SqliteStore(self.data_dir)
        self.store: Store = store
        try:
            if clock is None:
                start = None
                if isinstance(store, SqliteStore):  # the fake time the kept state resumes at
                    s = self.settings
                    start = store.resume_time(s.restart_policy, s.clock_mode, s.speed)
                clock = Clock(self.settings.clock_mode, self.settings.speed, start=start)
            self.clock = clock
            ctx = Context(self.settings, self.store, self._cond, self.clock, self.data_dir)
            self.files = FileStore(ctx)
            self.auth = Authenticator(ctx)
            # Rendered videos are kept on disk, so the renderer's in-memory cache can stay small.
            self.renderer = renderer or VideoRenderer(max_cached_bytes=_RENDER_CACHE_BYTES)
            self.preparer = Preparer(ctx, self.renderer, workers)
            self.stepper = Stepper(ctx, self.files, self.preparer)
            self.scheduler = Scheduler(ctx, self.stepper.apply)
            self.journal = Journal(self.clock.now)
            self.journal.restore(store.kept_journal())  # a durable fake's, at a clean stop
            self.scheduler.on_error = lambda data: self.journal.record("error", **data)
            self.scheduler.before_pump = self.stepper.retry_held
            self.scheduler.pass_batch = self.stepper.deferred
            self.scheduler.tidy = self.stepper.retire_ended
            self.preparer.touch = self.scheduler.touch
            self._closers: list[Callable[[], None]] = []
            self.scenarios: DirectiveSource = scenarios if scenarios is not None else NoDirectives()
            """Edge cases matched at Run time (a :class:`mock_wiro.chaos.scenarios.ScenarioBook`,
            handed in by whoever builds the fake, who also clears them on a reset)."""
            self._restore()
        except BaseException:  # a store this backend opened lets go of its data dir
            if made_store:
                store.close()
            raise

    def _restore(self) -> None:
        """Carry on over a kept state (a durable store's): the quota counts the kept
        uploads, bytes no kept file names are removed (a write a crash cut short), and
        every active task whose image check or render was not done is prepared again."""
        with self._cond:
            self.scheduler.rescan()  # every kept task is looked at
            self.files.recount()
            if not isinstance(self.store, SqliteStore):
                return
            self.files.remove_unkept()
            for task in self.store.active_tasks():
                self.preparer.resume(task)

    # ------------------------------------------------------------ life
    def start(self) -> Backend:
        """Start the engine thread (idempotent)."""
        self.scheduler.start()
        return self

    def close(self) -> None:
        """Stop the engine and workers; close the store (a durable one keeps the fake
        time it stopped at); remove the data folder if the backend made it."""
        self.scheduler.close()
        for action in self._closers:
            action()
        self.preparer.close()
        with self._cond:
            with contextlib.suppress(StorageError):  # logged; the store closes all the same
                self.store.save_clock(self.clock.now())
                self.store.save_journal(self.journal.dump())
            self.store.close()
        if self._own_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def on_close(self, action: Callable[[], None]) -> None:
        """Run ``action`` when the backend closes (before the workers stop)."""
        self._closers.append(action)

    def add_listener(
        self, listener: EventListener, *, flush: Callable[[], None] | None = None
    ) -> None:
        """Call ``listener(task, event)`` for every frame, under the state lock (never
        blocking); and ``flush()``, if given, once a group of frames has been told (the
        end of the engine's pass, or a frame told on its own), also under the lock."""
        self.stepper.add_listener(listener, flush=flush)

    @property
    def state_lock(self) -> threading.Condition:
        """The lock guarding all state (re-entrant); listeners run under it."""
        return self._cond

    # ------------------------------------------------------------ projects
    def create_project(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        auth_mode: AuthMode = "signature",
        balance: Decimal | str | float = DEFAULT_DEMO_BALANCE_USD,
        name: str = "",
    ) -> Project:
        """Create a project (random credentials when not given). A key that could never
        authenticate (CR, LF, a space at either end: ``CREDENTIAL_RULE``) is refused."""
        if auth_mode not in ("signature", "apikey"):
            raise ValidationError(f"auth mode must be signature or apikey, not {auth_mode!r}")
        check_credentials(api_key or None, api_secret or None)
        with self._cond:
            key = api_key or random_token(32)
            if self.store.project(key) is not None:
                raise ValidationError(f"a project with API key {key!r} already exists")
            with self.store.batch():  # the project and its root folder, or neither
                return self._new_project(key, api_secret, auth_mode, balance, name)

    def _new_project(
        self,
        key: str,
        api_secret: str | None,
        auth_mode: AuthMode,
        balance: Decimal | str | float,
        name: str,
    ) -> Project:
        project_id = self.store.new_project_id()
        project = Project(
            id=project_id,
            name=name or f"project-{project_id}",
            api_key=key,
            api_secret=api_secret or random_token(32),
            auth_mode=auth_mode,
            balance=Decimal(str(balance)),
        )
        self.store.add_project(project)
        self.files.add_root_folder(project)
        return project

    def projects(self) -> list[Project]:
        """Every project."""
        with self._cond:
            return self.store.projects()

    def set_balance(self, project: Project, balance: Decimal | str | float) -> None:
        """Change a project's balance (to reach codes 96 and 97 in tests)."""
        with self._cond:
            project.balance = Decimal(str(balance))
            self.store.save_project(project)

    def authenticate(self, api_key: str, nonce: str, signature: str) -> Project:
        """The project these headers prove, or :class:`~mock_wiro.errors.AuthError`."""
        return self.auth.authenticate(api_key, nonce, signature)

    # ------------------------------------------------------------ Run
    def run(
        self,
        project: Project,
        params: RunParams,
        upload: Upload | None = None,
        *,
        image: ImageRef | None = None,
        match: Mapping[str, str] | None = None,
    ) -> Task:
        """Queue a task (``Run/minimax/hailuo-2-3-fast``). Its image is ``upload`` (a file
        that came with the call), else ``image`` (the URL as the caller resolved it, see
        :meth:`FileStore.resolve_url`), else ``params.image_url`` resolved here. ``match``
        (the request's headers) is what header-matched scenarios look at."""
        params = interned(params)
        with self._cond:
            self._check_can_run(project)
        stored = (  # kept with the task (below): a crash in between leaves no file kept
            self.files.store_stream(project, upload, prefix="inputImageFirst", keep=False)
            if upload
            else None
        )
        made: list[Task] = []
        with self._cond:
            try:
                with self.store.batch():  # the task and its first frame, or neither
                    self._run_locked(project, params, stored, image, match, made)
            except StorageError:  # not kept: no task, no input file (memory as the disk)
                for task in made:
                    task.cursor = len(task.plan)
                    self.store.forget_task(task)
                if stored is not None:
                    self.files.forget(stored)
                raise
        return made[0]

    def _run_locked(
        self,
        project: Project,
        params: RunParams,
        stored: StoredFile | None,
        image: ImageRef | None,
        match: Mapping[str, str] | None,
        made: list[Task],
    ) -> None:
        """Run's part under the state lock, in the store's batch: ``made`` gets the task."""
        try:
            self._check_can_run(project)  # again, atomically with the insert
        except Exception:
            if stored is not None:
                self.files.drop(stored)
            raise
        if stored is not None:
            self.files.add(stored)
            image = ImageRef("file", self.files.url_for(stored), stored, owned=True)
        elif image is None:
            image = self.files.resolve_url(params.image_url)
        now = self.clock.now()
        task_id, token = self.store.new_task_id(), random_token()
        task = Task(
            task_id, str(uuid.uuid4()), token, project.id, params, image, "task_queue", [], now
        )
        task.scenario = self.scenarios.match(
            project.api_key, project.id, params.prompt, match or {}
        )
        self.store.add_task(task)
        made.append(task)
        self.preparer.begin(task)
        self.stepper.emit(task, "task_queue", now, None)
        self.scheduler.touch(task)  # a new task: the engine looks at it
        if task.scenario is not None:
            behaviour = task.scenario.behaviour()
            self.journal.record(
                "scenario", scenario=task.scenario.id, task=task.id, behaviour=behaviour
            )

    def _check_can_run(self, project: Project) -> None:
        active = [t.params for t in self.store.active_tasks() if t.project_id == project.id]
        check_can_run(project, active)

    # ------------------------------------------------------------ Task/*
    def find_task(self, project: Project, ref: TaskRef) -> Task:
        """The project's task named by ``ref`` (another project's is not found) [docs]."""
        with self._cond:
            self.scheduler.pump_locked()
            task = (
                self.store.task(ref.taskid)
                if ref.taskid
                else self.store.task_by_token(ref.tasktoken)
            )
            if task is None or task.project_id != project.id:
                raise NotFoundError("There is no task yet.")
            if ref.taskid and ref.tasktoken and task.token != ref.tasktoken:
                raise NotFoundError("There is no task yet.")
            return task

    def task_by_token(self, token: str) -> Task | None:
        """Any project's task by its socketaccesstoken (the socket's credential [docs])."""
        with self._cond:
            return self.store.task_by_token(token)

    def task_by_id(self, task_id: str) -> Task | None:
        """Any project's task (for the control surface)."""
        with self._cond:
            return self.store.task(task_id)

    def cancel(self, project: Project, ref: TaskRef) -> Task:
        """Task/Cancel: only a task still in the queue [docs]."""
        with self._cond:
            task = self.find_task(project, ref)
            refused = task.scenario is not None and task.scenario.cancel_refused
            if task.status not in CANCELLABLE_STATUSES or refused:
                raise StateError("Task is not in a cancellable state.")  # [docs]
            self.stepper.stop(task, pexit="0")
            self.scheduler.touch(task)  # ended: its entry in the engine's index goes
            return task

    def kill(self, project: Project, ref: TaskRef) -> Task:
        """Task/Kill: stop an active task; it ends at task_cancel [docs]."""
        with self._cond:
            task = self.find_task(project, ref)
            if task.terminal:
                what = "was cancelled" if task.status == "task_cancel" else "has already finished"
                raise StateError(f"Task could not be killed: the task {what} ({task.status}).")
            if task.scenario is not None and task.scenario.kill_refused is not None:
                raise StateError(f"Task could not be killed: {task.scenario.kill_refused}")
            self.stepper.stop(task, pexit=KILLED_PEXIT)
            self.scheduler.touch(task)  # ended: its entry in the engine's index goes
            return task

    def list_tasks(
        self, project: Project, *, start: int = 0, limit: int = 20, descending: bool = True
    ) -> tuple[int, list[Task]]:
        """Task/List: the project's tasks, newest first by default, and their total."""
        with self._cond:
            self.scheduler.pump_locked()
            mine = self.store.tasks_of(project.id)
            mine.sort(key=lambda t: int(t.id), reverse=descending)
            return len(mine), mine[start : start + limit]

    def input_output_delete(self, project: Project, ref: TaskRef) -> Task:
        """Task/InputOutputDelete: drop a finished task's files; idempotent [docs]."""
        with self._cond:
            task = self.find_task(project, ref)
            if not task.terminal:
                raise StateError(
                    f"Task is still running ({task.status}); its files can be deleted "
                    "once it has finished."
                )  # [A] message
            owned_input = [task.image.file] if task.image.owned and task.image.file else []
            with self.store.batch():
                for stored in [*task.outputs, *owned_input]:
                    self.files.drop(stored)
                task.files_deleted = True
                self.store.save_task(task)
            return task

    # ------------------------------------------------------------ files
    def folder_create(self, project: Project, name: str, parentid: str = "") -> Folder:
        """File/FolderCreate."""
        return self.files.create_folder(project, name, parentid)

    def upload(self, project: Project, upload: Upload, folderid: str = "") -> list[StoredFile]:
        """File/Upload: store a file (a ZIP is extracted [docs]); returns what was stored."""
        return self.files.upload(project, upload, folderid)

    def public_file(self, route: str, accesskey: str, name: str) -> StoredFile | None:
        """The file a public URL names, if it exists (the access key is the credential)."""
        return self.files.public_file(route, accesskey, name)

    def url_for(self, stored: StoredFile) -> str:
        """The public URL of a stored file."""
        return self.files.url_for(stored)

    # ------------------------------------------------------------ the clock and the engine
    def hold(self, task: Task, stage: str) -> Task:
        """Stop the task just before its next ``stage`` step until :meth:`release`."""
        return self.scheduler.hold(task, stage)

    def release(self, task: Task) -> str | None:
        """Let a held task go on; the stage it was held at (None: it was not held)."""
        return self.scheduler.release(task)

    def push(self, task: Task, stage: str, *, timeout: float = 30.0) -> Task:
        """Apply every step up to the task's next ``stage`` step now (:meth:`Scheduler.push`)."""
        return self.scheduler.push(task, stage, timeout=timeout)

    def call_at(self, fake_time: float, action: Callable[[], None]) -> None:
        """Run ``action`` (under the state lock; it must not block) at ``fake_time``."""
        self.scheduler.call_at(fake_time, action)

    def pump(self) -> None:
        """Apply every step that is due on the fake clock (and wake the engine)."""
        self.scheduler.pump()

    def pump_if_late(self) -> None:
        """Apply the due steps now if the engine is late for them
        (:meth:`Scheduler.pump_if_late`)."""
        self.scheduler.pump_if_late()

    def advance(self, seconds: float, *, timeout: float = 30.0) -> float:
        """Move the clock forward and apply everything due, waiting for background work
        that is due (image checks, renders), so that it takes no fake time. Returns now."""
        with self._cond:
            now = self.clock.advance(seconds)
            with contextlib.suppress(StorageError):  # kept in memory, written at the next commit
                self.store.save_clock(now)  # a manual clock resumes here after a restart
        self.scheduler.settle(timeout=timeout)
        return now

    def settle(self, *, timeout: float = 30.0) -> None:
        """Apply every due step, first waiting (bounded) for the background work they need."""
        self.scheduler.settle(timeout=timeout)

    def wait_for(
        self, task: Task, statuses: Iterable[str] | None = None, timeout: float = 30.0
    ) -> bool:
        """Block until the task reaches one of ``statuses`` (default: terminal), or False."""
        return self.scheduler.wait_for(task, statuses, timeout)

    # ------------------------------------------------------------ control
    def reset(self) -> None:
        """Forget every task, file and folder (projects stay)."""
        with self._cond, self.store.batch():
            for task in self.store.active_tasks():
                task.cursor = len(task.plan)
            self.files.reset()
            self.store.reset()
            for project in self.store.projects():
                self.files.add_root_folder(project)
            self.scheduler.clear_timers()
            self.scheduler.rescan()
            self.journal.clear()
            self._cond.notify_all()

    # ------------------------------------------------------------ snapshots
    def snapshot(self) -> bytes:
        """The whole state (projects, tasks with their frames, files with their bytes, the
        id counters, the fake time) as a snapshot file's bytes (:mod:`.snapshot`)."""
        with self._cond:
            self.scheduler.pump_locked()
            assert isinstance(self.store, MemoryStore)  # every store keeps it all in memory
            return snapshot_bytes(self.store, self.data_dir, self.clock.now())

    def save_snapshot(self, path: str | os.PathLike[str]) -> int:
        """Write :meth:`snapshot` to ``path`` (whole or not at all); its size in bytes."""
        data = self.snapshot()
        write_file(data, Path(path))
        return len(data)

    def read_snapshot(self, path: str | os.PathLike[str]) -> LoadedSnapshot:
        """Read and check a snapshot, changing nothing (a
        :class:`~mock_wiro.errors.SnapshotError` if it cannot be loaded)."""
        return read_snapshot(Path(path), self.data_dir)

    def load_snapshot(self, path: str | os.PathLike[str]) -> None:
        """Replace the whole state with a snapshot's (:meth:`read_snapshot`, then
        :meth:`install_snapshot`)."""
        self.install_snapshot(self.read_snapshot(path))

    def install_snapshot(self, loaded: LoadedSnapshot) -> None:
        """Replace the whole state with a snapshot read by :meth:`read_snapshot`: its
        projects, tasks, files (their bytes written first), id counters and fake time;
        the journal and every timer cleared. Active tasks go on from where the snapshot
        had them. With a durable store, the new state is committed as one transaction."""
        try:
            with self._cond:
                with self.store.batch():
                    for task in self.store.active_tasks():  # the old tasks stop here
                        task.cursor = len(task.plan)
                    install_blobs(loaded, self.data_dir, sync=not self._own_data_dir)
                    self.store.replace(loaded.store)
                    self.scheduler.clear_timers()
                    self.scheduler.rescan()  # the snapshot's tasks
                    self.journal.clear()
                    if loaded.fake_time is not None:
                        self.clock.set_time(loaded.fake_time)
                        self.store.save_clock(loaded.fake_time)
                self.files.remove_unkept()  # the old uploads' bytes
                self.files.recount()
                for task in self.store.active_tasks():
                    self.preparer.resume(task)
                self._cond.notify_all()
        finally:
            loaded.close()

    def all_tasks(self) -> list[Task]:
        """Every project's tasks, oldest first."""
        with self._cond:
            self.scheduler.pump_locked()
            return sorted(self.store.tasks(), key=lambda t: int(t.id))
