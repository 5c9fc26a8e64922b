"""The durable :class:`~.store.Store`: :class:`SqliteStore`, used when the fake has a data
dir (``mock-wiro serve --data-dir DIR``, ``Settings(data_dir=...)``).

It is a :class:`~.store.MemoryStore` (every read is answered from memory, as fast as
ever) that writes every change through to a SQLite database in the data dir
(``mock-wiro.db``) and reads it all back when a fake starts on that dir again.

- **What is kept**: projects (keys, secrets, auth modes, balances, root folders), the
  nonce record of ``--reject-reused-nonces``, every task with every field, its plan and
  its whole frame history (one row per frame, appended), files and folders (the bytes
  stay files under the data dir), the id counters, and the fake clock's time.
- **When**: each change is committed when it is made, or, inside :meth:`SqliteStore.batch`,
  with the batch (see :mod:`.store`). The backend commits a change before any client can
  learn of it, so whatever a client was told survives ``kill -9``.
- **WAL, ``synchronous=NORMAL``**: a commit is one append to the write-ahead log, made
  without an ``fsync``; the log is synced at each checkpoint. A commit the fake made
  survives the fake's process dying at any instant (``kill -9``: the log is in the
  operating system's cache). What ``NORMAL`` gives up, against ``FULL``, is the last
  transactions before a power cut or a kernel crash (the database stays consistent);
  ``FULL`` would cost an ``fsync`` on every frame of every task.
- **The schema version** is the database's ``PRAGMA user_version``
  (:data:`SCHEMA_VERSION`): a database from a newer mock-wiro is refused, naming both.
- **One fake per data dir**: the lock file ``mock-wiro.lock`` is held (``flock``) while
  the store is open; a second store on the same dir refuses to open, naming the pid.

Threads: like every store, called under the backend's state lock; it also has a lock of
its own around its connection (always the innermost lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Self

from .._version import __version__
from ..errors import DataDirError, StorageError
from ..settings import CLOCK_MAX_TIME, NONCE_WINDOW, TASK_ID_START, ClockMode, RestartPolicy
from .directives import KeptDirectives
from .images import ImageInfo
from .lifecycle import OUTPUTS, Step
from .models import Event, Folder, ImageRef, Project, RenderResult, StoredFile, Task
from .params import RunParams
from .store import FIRST_PROJECT_ID, MemoryStore

__all__ = [
    "DB_NAME",
    "LOCK_NAME",
    "SCHEMA_VERSION",
    "STORE_FILES",
    "KeptPaths",
    "SqliteStore",
    "create_schema",
]

log = logging.getLogger("mock_wiro")

SCHEMA_VERSION: Final = 2
"""The layout of the database this mock-wiro writes (``PRAGMA user_version``): 2 added the
``deliveries`` table (a version 1 database is migrated when opened)."""
DB_NAME: Final = "mock-wiro.db"
LOCK_NAME: Final = "mock-wiro.lock"
STORE_FILES: Final = (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", LOCK_NAME)
"""The files the store keeps at the top of the data dir (the WAL's two come and go)."""

_DELIVERIES: Final = "CREATE TABLE deliveries (task_id TEXT PRIMARY KEY, record TEXT NOT NULL)"
_MIGRATIONS: Final = {1: (_DELIVERIES,)}
"""The statements that bring a database of schema version N to version N + 1."""
_SCHEMA: Final = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE projects (id TEXT PRIMARY KEY, record TEXT NOT NULL)",
    "CREATE TABLE nonces (project_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " digest BLOB NOT NULL, PRIMARY KEY (project_id, seq))",
    "CREATE TABLE folders (id TEXT PRIMARY KEY, record TEXT NOT NULL)",
    "CREATE TABLE files (id TEXT PRIMARY KEY, accesskey TEXT NOT NULL, record TEXT NOT NULL)",
    "CREATE TABLE tasks (id TEXT PRIMARY KEY, record TEXT NOT NULL)",
    "CREATE TABLE plans (task_id TEXT PRIMARY KEY, steps TEXT NOT NULL)",
    "CREATE TABLE events (task_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,"
    " time REAL NOT NULL, message TEXT NOT NULL, PRIMARY KEY (task_id, seq))",
    _DELIVERIES,
)
_UPSERT = (
    "INSERT INTO {table} (id, record) VALUES (?, ?) "
    "ON CONFLICT(id) DO UPDATE SET record = excluded.record"
)


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _storage_error(exc: sqlite3.Error) -> StorageError:
    return StorageError(
        f"The fake could not write its data dir ({exc}); nothing of this request was "
        "kept. Free some space or make the data dir writable, and try again."
    )


# ---------------------------------------------------------------------- the lock file
def _take_lock(data_dir: Path) -> int:
    """Hold the data dir's lock file (``flock``, released when the process dies, even by
    ``kill -9``), or :class:`DataDirError` naming the pid that holds it."""
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise DataDirError(
            f"the data dir {data_dir} is in use by another mock-wiro (pid {holder}): one "
            f"data dir serves one fake at a time (lock file {path}); stop that fake or "
            "give this one another --data-dir"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _drop_lock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    with contextlib.suppress(OSError):
        os.close(fd)


# ---------------------------------------------------------------------- opening
def _open(path: Path) -> sqlite3.Connection:
    """The database at ``path``, created (0600: its WAL files take its mode) with the
    schema if new; :class:`DataDirError` if it is from a newer mock-wiro or not one."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        version = _schema_version(db, path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        if version == 0:
            create_schema(db)
        elif version < SCHEMA_VERSION:
            _migrate(db, version)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise DataDirError(
            f"{path} cannot be read as a mock-wiro database ({exc}); move it away to start "
            "afresh, or give another --data-dir"
        ) from None
    except BaseException:
        db.close()
        raise
    return db


def create_schema(db: sqlite3.Connection, *extra: str) -> None:
    """Create the tables (and ``extra`` statements) in an empty database, in one
    transaction, and record the schema version."""
    db.execute("BEGIN IMMEDIATE")
    for statement in (*_SCHEMA, *extra):
        db.execute(statement)
    db.execute("INSERT INTO meta (key, value) VALUES ('created_by', ?)", (_dumps(__version__),))
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.execute("COMMIT")


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring a database of an older schema version to :data:`SCHEMA_VERSION`, in one
    transaction."""
    db.execute("BEGIN IMMEDIATE")
    for step in range(version, SCHEMA_VERSION):
        for statement in _MIGRATIONS[step]:
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.execute("COMMIT")


def _schema_version(db: sqlite3.Connection, path: Path) -> int:
    """The database's schema version: 0 for a new (empty) one."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        written = db.execute(
            "SELECT value FROM meta WHERE key = 'written_by'"
        ).fetchone()  # the table exists in every version so far
        by = f" (written by mock-wiro {json.loads(written[0])})" if written else ""
        raise DataDirError(
            f"{path} has schema version {version}{by}, newer than this mock-wiro "
            f"{__version__} reads (schema version {SCHEMA_VERSION}): run a mock-wiro at "
            "least as new as the one that wrote it, or give another --data-dir"
        )
    if version == 0:
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables:
            raise DataDirError(
                f"{path} is a SQLite database, but not one of mock-wiro's (no schema "
                "version); move it away, or give another --data-dir"
            )
    return version


# ---------------------------------------------------------------------- records
class KeptPaths:
    """Paths kept relative to the data dir (so a moved data dir still works)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def keep(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def read(self, text: str) -> Path:
        path = Path(text)
        return path if path.is_absolute() else self.root / path


def _project_record(project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "api_key": project.api_key,
        "api_secret": project.api_secret,
        "auth_mode": project.auth_mode,
        "balance": str(project.balance),
        "root_folder_id": project.root_folder_id,
    }


def _project(record: dict[str, Any]) -> Project:
    return Project(
        id=record["id"],
        name=record["name"],
        api_key=record["api_key"],
        api_secret=record["api_secret"],
        auth_mode=record["auth_mode"],
        balance=Decimal(record["balance"]),
        root_folder_id=record["root_folder_id"],
    )


def _folder_record(folder: Folder) -> dict[str, Any]:
    return {
        "id": folder.id,
        "project_id": folder.project_id,
        "name": folder.name,
        "parentid": folder.parentid,
        "addedtime": folder.addedtime,
    }


def _folder(record: dict[str, Any]) -> Folder:
    return Folder(
        record["id"], record["project_id"], record["name"], record["parentid"], record["addedtime"]
    )


def _step_record(step: Step) -> list[Any]:
    outputs = step.message is OUTPUTS
    return [step.type, step.delay, None if outputs else step.message, step.gate, outputs]


def _step(record: list[Any]) -> Step:
    type_, delay, message, gate, outputs = record
    return Step(type_, delay, OUTPUTS if outputs else message, gate)


class SqliteStore(MemoryStore):
    """A :class:`~.store.Store` kept in ``data_dir/mock-wiro.db`` (module docs)."""

    def __init__(self, data_dir: Path) -> None:
        self._setup(data_dir, data_dir / DB_NAME, KeptPaths(data_dir))
        try:
            self._lock_fd = _take_lock(data_dir)
        except OSError as exc:  # not a folder, not writable, ...
            raise DataDirError(
                f"the data dir {data_dir} cannot be used: {exc.strerror or exc} "
                f"({LOCK_NAME} could not be opened there); give a folder this user can write"
            ) from None
        self._keeps_deliveries = True
        try:
            self._db = _open(self.path)
            try:
                self._load()
                self._load_deliveries()
                self._write_meta("written_by", __version__)
                self.commit()
            except BaseException:
                self._db.close()
                raise
        except sqlite3.DatabaseError as exc:
            _drop_lock(self._lock_fd)
            raise DataDirError(
                f"{self.path} cannot be read as a mock-wiro database ({exc}); move it away "
                "to start afresh, or give another --data-dir"
            ) from None
        except (ValueError, KeyError, TypeError, IndexError) as exc:  # a damaged record
            _drop_lock(self._lock_fd)
            raise DataDirError(
                f"{self.path} holds a record this mock-wiro cannot read ({exc!r}); move it "
                "away to start afresh, or give another --data-dir"
            ) from None
        except BaseException:
            _drop_lock(self._lock_fd)
            raise

    def _setup(self, data_dir: Path, path: Path, paths: KeptPaths) -> None:
        MemoryStore.__init__(self)
        self.data_dir = data_dir
        self.path = path
        self._paths = paths
        self._mutex = threading.RLock()
        self._depth = 0  # open batches
        self._in_transaction = False
        self._saved_events: dict[str, int] = {}  # task id -> frames already written
        self._saved_plans: dict[str, tuple[int, int]] = {}  # task id -> (id, len) of its plan
        self._nonce_seq: dict[str, int] = {}  # project id -> its last nonce's number
        self._clock: tuple[float, float] | None = None  # (fake time, wall time) kept
        self._closed = False
        self._resync = False  # a write failed: the next transaction rewrites everything
        self._broken: sqlite3.Error | None = None  # a write of the open batch failed
        self._dirty: dict[str, Task] = {}  # tasks changed in the open batch, written at commit
        self._lock_fd = -1
        self._journal: list[dict[str, Any]] = []  # the journal kept at the last clean stop
        # callback deliveries (a data dir's store only: not a snapshot's)
        self._keeps_deliveries = False
        self._settled: set[str] = set()  # ended tasks with a callback URL: delivery kept
        self._new_settled: list[str] = []  # those added in the open transaction
        self._deliveries: list[tuple[str, dict[str, Any]]] = []  # as kept at the start

    @classmethod
    def attached(cls, db: sqlite3.Connection, root: Path, paths: KeptPaths | None = None) -> Self:
        """A store over an open database ``db`` (no lock file, nothing read yet): a
        snapshot being written or read (:mod:`.snapshot`), its paths relative to ``root``."""
        store = cls.__new__(cls)
        store._setup(root, Path(":memory:"), paths or KeptPaths(root))
        store._db = db
        return store

    # ------------------------------------------------------------ transactions
    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        if self._broken is not None:  # a write of this batch failed: the commit says so
            return
        try:
            if not self._in_transaction:
                self._db.execute("BEGIN IMMEDIATE")
                self._in_transaction = True
                if self._resync:  # a write failed before: memory is the truth, all of it
                    self._resync = False
                    self._rewrite()
            self._db.execute(sql, args)
        except sqlite3.Error as exc:  # disk full, read-only, I/O error, ...
            self._roll_back(exc)
            if self._depth == 0:
                raise _storage_error(exc) from None
            self._broken = exc  # the batch goes on in memory; its commit raises

    def _roll_back(self, exc: sqlite3.Error) -> None:
        """A write failed: roll back what this transaction wrote. The next transaction
        rewrites the whole state from memory (the caller undoes in memory what a client
        was to be told of and was not: a Run, an upload)."""
        with contextlib.suppress(sqlite3.Error):
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        self._in_transaction = False
        self._resync = True
        self._dirty.clear()  # the rewrite writes them
        self._settled.difference_update(self._new_settled)  # written again by the rewrite
        self._new_settled.clear()
        log.error("mock-wiro: a write to %s failed: %s", self.path, exc)

    def _rewrite(self) -> None:
        """Write the whole state again (inside the open transaction). The deliveries
        table stays as it is: a delivery rolled back is written again with its task."""
        self._saved_events.clear()
        self._saved_plans.clear()
        self._nonce_seq.clear()
        for table in ("projects", "nonces", "tasks", "plans", "events", "files", "folders"):
            self._db.execute(f"DELETE FROM {table}")
        self.write_all()
        if self._clock is not None:
            self._write_meta("clock", list(self._clock))

    def _done(self) -> None:
        """A change is complete: commit it unless a batch is open."""
        if self._depth == 0:
            self.commit()

    @contextmanager
    def _batch(self) -> Iterator[None]:
        with self._mutex:
            self._depth += 1
        failed = False
        try:
            yield
        except StorageError:  # its commit failed inside: not committed again on the way out
            failed = True
            raise
        finally:
            with self._mutex:
                self._depth -= 1
                if self._depth == 0 and not failed:
                    self.commit()

    def batch(self) -> AbstractContextManager[None]:
        """Changes inside are committed together when the outermost batch ends."""
        return self._batch()

    def settled(self) -> bool:
        """Whether no write waits for a commit (none put off, none to redo)."""
        with self._mutex:
            return not self._dirty and not self._resync and not self._in_transaction

    def commit(self) -> None:
        """Commit every change made so far (after a failed write: the whole state);
        :class:`StorageError` if that fails."""
        with self._mutex:
            if self._resync and not self._in_transaction and not self._closed:
                self._dirty.clear()  # the whole state is written: they are in it
                self._exec("SELECT 1")  # a transaction that rewrites the whole state
            self._flush()
            if self._broken is not None:  # a write inside the batch failed: rolled back
                exc, self._broken = self._broken, None
                raise _storage_error(exc)
            if self._in_transaction:
                try:
                    self._db.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._roll_back(exc)
                    raise _storage_error(exc) from None
                self._in_transaction = False
                self._new_settled.clear()

    def _write_meta(self, key: str, value: object) -> None:
        self._exec(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, _dumps(value)),
        )

    def _upsert(self, table: str, key: str, record: dict[str, Any]) -> None:
        self._exec(_UPSERT.format(table=table), (key, _dumps(record)))

    # ------------------------------------------------------------ projects
    def new_project_id(self) -> str:
        """A project id never handed out before (the counter is kept)."""
        with self._mutex:
            project_id = super().new_project_id()
            self._write_meta("next_project_id", self._next_project_id)
            self._done()
            return project_id

    def add_project(self, project: Project) -> None:
        """Keep a new project."""
        with self._mutex:
            super().add_project(project)
            self._upsert("projects", project.id, _project_record(project))
            self._done()

    def save_project(self, project: Project) -> None:
        """Write the project (its balance) out."""
        with self._mutex:
            self._upsert("projects", project.id, _project_record(project))
            self._done()

    def record_nonce(self, project: Project, nonce: str) -> bool:
        """Remember a nonce, in memory and on disk; False if it is among the project's
        last ``NONCE_WINDOW``."""
        with self._mutex:
            if not super().record_nonce(project, nonce):
                return False
            digest = next(reversed(project.used_nonces))  # the one just recorded
            seq = self._nonce_seq.get(project.id, 0) + 1
            self._nonce_seq[project.id] = seq
            self._exec(
                "INSERT INTO nonces (project_id, seq, digest) VALUES (?, ?, ?)",
                (project.id, seq, digest),
            )
            self._exec(
                "DELETE FROM nonces WHERE project_id = ? AND seq <= ?",
                (project.id, seq - NONCE_WINDOW),
            )
            self._done()
            return True

    # ------------------------------------------------------------ tasks
    def new_task_id(self) -> str:
        """A task id never handed out before (the counter is kept)."""
        with self._mutex:
            task_id = super().new_task_id()
            self._write_meta("next_task_id", self._next_task_id)
            self._done()
            return task_id

    def add_task(self, task: Task) -> None:
        """Keep a new task, and write it out (inside a batch: at the commit)."""
        with self._mutex:
            super().add_task(task)
            self._saved_events[task.id] = 0
            self._save(task)

    def save_task(self, task: Task) -> None:
        """Write the task out: its fields, and the frames not written yet. A task the
        store does not keep (forgotten by a reset) is not written. Inside a batch it is
        written once, at the commit, however many times it changed (a pass of the engine
        over many steps: one record written, each new frame appended)."""
        with self._mutex:
            if self._tasks.get(task.id) is not task:
                return
            self._save(task)

    def save_task_later(self, task: Task) -> None:
        """Write the task with the next commit (no commit of its own): what may wait,
        as it is redone at start when lost (an image check's result, a render's)."""
        with self._mutex:
            if self._tasks.get(task.id) is task:
                self._dirty[task.id] = task

    def _save(self, task: Task) -> None:
        if self._depth:
            self._dirty[task.id] = task
            return
        self._write_task(task)
        self._done()

    def _flush(self) -> None:
        """Write the tasks changed in the open batch (before its commit)."""
        while self._dirty:
            _, task = self._dirty.popitem()
            if self._tasks.get(task.id) is task:
                self._write_task(task)

    def _write_task(self, task: Task) -> None:
        params, image, history = task.snapshot()
        record = self._task_record(task, params, image, history.times)
        record["stdout"], record["stderr"] = history.stdout, history.stderr
        self._upsert("tasks", task.id, record)
        self._write_plan(task)
        events = history.events
        saved = self._saved_events.get(task.id, 0)
        for seq in range(saved, len(events)):
            event = events[seq]
            self._exec(
                "INSERT INTO events (task_id, seq, type, time, message) VALUES (?, ?, ?, ?, ?)",
                (task.id, seq, event.type, event.time, _dumps(event.message)),
            )
        self._saved_events[task.id] = len(events)
        url = task.params.callback_url
        if url and task.terminal and self._keeps_deliveries and task.id not in self._settled:
            # its delivery, pending, in the same transaction as its end
            self._settled.add(task.id)
            self._new_settled.append(task.id)
            record = {"url": url, "body": None, "state": "pending", "attempts": []}
            self._exec(
                "INSERT INTO deliveries (task_id, record) VALUES (?, ?) "
                "ON CONFLICT(task_id) DO NOTHING",
                (task.id, _dumps(record)),
            )

    def _write_plan(self, task: Task) -> None:
        """The plan of an active task, written only when it changed (a plan is only ever
        extended, or replaced): its own row, so a frame does not rewrite it."""
        plan = task.plan
        if task.terminal:
            if self._saved_plans.pop(task.id, None) is not None:
                self._exec("DELETE FROM plans WHERE task_id = ?", (task.id,))
            return
        key = (id(plan), len(plan))
        if self._saved_plans.get(task.id) == key:
            return
        self._exec(
            "INSERT INTO plans (task_id, steps) VALUES (?, ?) "
            "ON CONFLICT(task_id) DO UPDATE SET steps = excluded.steps",
            (task.id, _dumps([_step_record(s) for s in plan])),
        )
        self._saved_plans[task.id] = key

    def _file_record(self, stored: StoredFile) -> dict[str, Any]:
        return {
            "id": stored.id,
            "project_id": stored.project_id,
            "name": stored.name,
            "contenttype": stored.contenttype,
            "size": stored.size,
            "parentid": stored.parentid,
            "accesskey": stored.accesskey,
            "addedtime": stored.addedtime,
            "disk_path": self._paths.keep(stored.disk_path),
            "route": stored.route,
            "deleted": stored.deleted,
        }

    def _stored_file(self, record: dict[str, Any]) -> StoredFile:
        return StoredFile(
            id=record["id"],
            project_id=record["project_id"],
            name=record["name"],
            contenttype=record["contenttype"],
            size=record["size"],
            parentid=record["parentid"],
            accesskey=record["accesskey"],
            addedtime=record["addedtime"],
            disk_path=self._paths.read(record["disk_path"]),
            route=record["route"],
            deleted=record["deleted"],
        )

    def _task_record(
        self, task: Task, params: RunParams, image: ImageRef, times: dict[str, float]
    ) -> dict[str, Any]:
        info, render, scenario = task.image_info, task.render, task.scenario
        return {
            "uuid": task.uuid,
            "token": task.token,
            "project_id": task.project_id,
            "params": list(params.values()),
            "image": {
                "kind": image.kind,
                "url": image.url,
                "file": None if image.file is None else self._file_record(image.file),
                "reason": image.reason,
                "owned": image.owned,
            },
            "status": task.status,
            "last_time": task.last_time,
            "cursor": task.cursor,
            "pexit": task.pexit,
            "outputs": [self._file_record(o) for o in task.outputs],
            "totalcost": str(task.totalcost),
            "cps": str(task.cps),
            "elapsed": task.elapsed,
            "image_info": None if info is None else [info.width, info.height, info.format],
            "failure": task.failure,
            "failure_pexit": task.failure_pexit,
            "validated": task.validated.is_set(),
            "validated_at": task.validated_at,
            "rendered": task.rendered.is_set(),
            "rendered_at": task.rendered_at,
            "render": None
            if render is None
            else [self._paths.keep(render.path), render.size, render.width, render.height],
            "files_deleted": task.files_deleted,
            "scenario": None if scenario is None else KeptDirectives.of(scenario).to_json(),
            "hold_at": task.hold_at,
            "not_before": task.not_before,
            "times": times,
        }

    # ------------------------------------------------------------ files and folders
    def add_file(self, stored: StoredFile) -> None:
        """Keep a file (its bytes are already on disk)."""
        with self._mutex:
            super().add_file(stored)
            self._exec(
                "INSERT INTO files (id, accesskey, record) VALUES (?, ?, ?) ON CONFLICT(id) "
                "DO UPDATE SET accesskey = excluded.accesskey, record = excluded.record",
                (stored.id, stored.accesskey, _dumps(self._file_record(stored))),
            )
            self._done()

    def drop_file(self, accesskey: str) -> None:
        """Forget a file."""
        with self._mutex:
            super().drop_file(accesskey)
            self._exec("DELETE FROM files WHERE accesskey = ?", (accesskey,))
            self._done()

    def add_folder(self, folder: Folder) -> None:
        """Keep a folder."""
        with self._mutex:
            super().add_folder(folder)
            self._upsert("folders", folder.id, _folder_record(folder))
            self._done()

    # ------------------------------------------------------------ deliveries
    def save_delivery(self, task_id: str, record: dict[str, Any]) -> None:
        """Write a task's callback delivery record (not for a task no longer kept)."""
        with self._mutex:
            if not self._keeps_deliveries or task_id not in self._tasks:
                return
            self._settled.add(task_id)
            self._upsert_delivery(task_id, record)
            self._done()

    def _upsert_delivery(self, task_id: str, record: dict[str, Any]) -> None:
        self._exec(
            "INSERT INTO deliveries (task_id, record) VALUES (?, ?) "
            "ON CONFLICT(task_id) DO UPDATE SET record = excluded.record",
            (task_id, _dumps(record)),
        )

    def kept_deliveries(self) -> list[tuple[str, dict[str, Any]]]:
        """The delivery records read when the store opened, oldest first."""
        return list(self._deliveries)

    def _load_deliveries(self) -> None:
        rows = self._db.execute("SELECT task_id, record FROM deliveries ORDER BY rowid")
        self._deliveries = [
            (task_id, json.loads(record)) for task_id, record in rows if task_id in self._tasks
        ]
        self._settled.update(task_id for task_id, _ in self._deliveries)

    # ------------------------------------------------------------ everything
    def reset(self) -> None:
        """Forget every task, file, folder and delivery (projects and counters stay)."""
        with self._mutex:
            super().reset()
            self._dirty.clear()
            self._saved_events.clear()
            self._saved_plans.clear()
            self._settled.clear()
            for table in ("tasks", "plans", "events", "files", "folders", "deliveries"):
                self._exec(f"DELETE FROM {table}")
            self._done()

    def replace(self, source: MemoryStore) -> None:
        """Hold ``source``'s state instead (a snapshot loaded): every record rewritten,
        in the open batch (or one transaction)."""
        with self._mutex:
            MemoryStore.replace(self, source)
            self._dirty.clear()
            self._saved_events.clear()
            self._saved_plans.clear()
            self._nonce_seq.clear()
            # the snapshot's ended tasks have no deliveries: none is made for them
            self._settled = {t.id for t in self.tasks() if t.terminal and t.params.callback_url}
            tables = ("projects", "nonces", "tasks", "plans", "events", "files", "folders")
            for table in (*tables, "deliveries"):
                self._exec(f"DELETE FROM {table}")
            self.write_all()
            self._done()

    def write_all(self) -> None:
        """Write every record this store holds (into an empty database: a snapshot's,
        or this one's after :meth:`replace`)."""
        for project in self.projects():
            self._upsert("projects", project.id, _project_record(project))
            for seq, digest in enumerate(project.used_nonces, start=1):
                self._exec(
                    "INSERT INTO nonces (project_id, seq, digest) VALUES (?, ?, ?)",
                    (project.id, seq, digest),
                )
            self._nonce_seq[project.id] = len(project.used_nonces)
        for folder in self.folders():
            self._upsert("folders", folder.id, _folder_record(folder))
        for stored in self.files():
            self._exec(
                "INSERT INTO files (id, accesskey, record) VALUES (?, ?, ?)",
                (stored.id, stored.accesskey, _dumps(self._file_record(stored))),
            )
        for task in self.tasks():
            self._saved_events[task.id] = 0
            self._write_task(task)
        next_task, next_project = self.counters()
        self._write_meta("next_task_id", next_task)
        self._write_meta("next_project_id", next_project)

    def save_clock(self, now: float) -> None:
        """Keep the fake time (and the wall time it was read at)."""
        with self._mutex:
            if self._closed:
                return
            self._clock = (now, time.time())
            self._write_meta("clock", list(self._clock))
            self._done()

    def save_journal(self, entries: list[dict[str, Any]]) -> None:
        """Keep the journal (at a clean stop), in one meta row."""
        with self._mutex:
            if self._closed:
                return
            text = json.dumps(entries, separators=(",", ":"), default=str)
            self._exec(
                "INSERT INTO meta (key, value) VALUES ('journal', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (text,),
            )
            self._done()

    def kept_journal(self) -> list[dict[str, Any]]:
        """The journal of the last clean stop, read once: its row is removed, so a crash
        later never brings back a journal older than the one that was lost."""
        with self._mutex:
            found, self._journal = self._journal, []
            if found:
                self._exec("DELETE FROM meta WHERE key = 'journal'")
                self._done()
            return found

    def close(self) -> None:
        """Commit, close the database (checkpointing its log) and let go of the lock."""
        with self._mutex:
            if self._closed:
                return
            try:
                with contextlib.suppress(StorageError):  # logged: nothing more to do
                    self.commit()
                self._closed = True
                self._db.close()
            finally:
                self._closed = True
                _drop_lock(self._lock_fd)

    # ------------------------------------------------------------ starting again
    def resume_time(self, policy: RestartPolicy, mode: ClockMode, speed: float) -> float | None:
        """The fake time a clock starts at over the kept state (None: nothing kept, start
        at the wall clock's time). ``resume``: the latest fake time the store kept (the
        clock at a clean stop; after a crash, its last kept reading or the last frame,
        whichever is later); ``catch-up``: plus the wall time since, at the clock's rate."""
        times = [t.last_time for t in self._tasks.values()]
        if self._clock is not None:
            times.append(self._clock[0])
        if not times:
            return None
        fake = max(times)
        if policy == "catch-up" and mode != "manual" and self._clock is not None:
            rate = speed if mode == "realtime" else 1.0
            fake += max(0.0, time.time() - self._clock[1]) * rate
        return min(fake, CLOCK_MAX_TIME)

    def _load(self) -> None:
        """Read every kept record back into memory."""
        db = self._db
        meta = {key: json.loads(value) for key, value in db.execute("SELECT key, value FROM meta")}
        journal = meta.get("journal", [])
        self._journal = journal if isinstance(journal, list) else []
        if "clock" in meta:
            fake, wall = meta["clock"]
            self._clock = (float(fake), float(wall))
        for (record,) in db.execute("SELECT record FROM projects ORDER BY rowid"):
            MemoryStore.add_project(self, _project(json.loads(record)))
        self._load_nonces()
        for (record,) in db.execute("SELECT record FROM folders ORDER BY rowid"):
            MemoryStore.add_folder(self, _folder(json.loads(record)))
        by_id: dict[str, StoredFile] = {}
        for (record,) in db.execute("SELECT record FROM files ORDER BY rowid"):
            stored = self._stored_file(json.loads(record))
            by_id[stored.id] = stored
            MemoryStore.add_file(self, stored)
        task_ids: list[int] = []
        for task_id, record in db.execute("SELECT id, record FROM tasks ORDER BY rowid").fetchall():
            self._load_task(task_id, json.loads(record), by_id)
            task_ids.append(int(task_id))
        project_ids = [int(p.id) for p in self._project_ids.values() if p.id.isdigit()]
        self._next_task_id = max(
            int(meta.get("next_task_id", TASK_ID_START)), *(i + 1 for i in task_ids), TASK_ID_START
        )
        self._next_project_id = max(
            int(meta.get("next_project_id", FIRST_PROJECT_ID)),
            *(i + 1 for i in project_ids),
            FIRST_PROJECT_ID,
        )

    def _load_nonces(self) -> None:
        rows = self._db.execute(
            "SELECT project_id, seq, digest FROM nonces ORDER BY project_id, seq"
        ).fetchall()
        for project_id, seq, digest in rows:
            project = self._project_ids.get(project_id)
            if project is None:
                continue
            used = project.used_nonces
            used[bytes(digest)] = None
            while len(used) > NONCE_WINDOW:
                used.popitem(last=False)
            self._nonce_seq[project_id] = int(seq)

    def _kept_file(self, record: dict[str, Any], by_id: dict[str, StoredFile]) -> StoredFile:
        """The file a task refers to: the kept file itself, or (dropped) as it was."""
        return by_id.get(record["id"]) or self._stored_file(record)

    def _load_task(self, task_id: str, rec: dict[str, Any], by_id: dict[str, StoredFile]) -> None:
        image_rec = rec["image"]
        image_file = image_rec["file"]
        image = ImageRef(
            image_rec["kind"],
            image_rec["url"],
            None if image_file is None else self._kept_file(image_file, by_id),
            image_rec["reason"],
            image_rec["owned"],
        )
        task = Task(
            task_id,
            rec["uuid"],
            rec["token"],
            rec["project_id"],
            RunParams(*rec["params"]),
            image,
            rec["status"],
            [],
            rec["last_time"],
        )
        task.cursor = rec["cursor"]
        task.pexit = rec["pexit"]
        task.outputs = [self._kept_file(o, by_id) for o in rec["outputs"]]
        task.totalcost = Decimal(rec["totalcost"])
        task.cps = Decimal(rec["cps"])
        task.elapsed = rec["elapsed"]
        info = rec["image_info"]
        task.image_info = None if info is None else ImageInfo(*info)
        task.failure, task.failure_pexit = rec["failure"], rec["failure_pexit"]
        task.validated_at, task.rendered_at = rec["validated_at"], rec["rendered_at"]
        render = rec["render"]
        if render is not None:
            task.render = RenderResult(self._paths.read(render[0]), *render[1:])
        task.files_deleted = rec["files_deleted"]
        scenario = rec["scenario"]
        task.scenario = None if scenario is None else KeptDirectives.from_json(scenario)
        task.hold_at, task.not_before = rec["hold_at"], rec["not_before"]
        history = task.history()
        rows = self._db.execute(
            "SELECT type, time, message FROM events WHERE task_id = ? ORDER BY seq", (task_id,)
        ).fetchall()
        history.events.extend(Event(t, when, json.loads(m)) for t, when, m in rows)
        history.times.update(rec["times"])
        history.stdout.extend(rec["stdout"])
        history.stderr.extend(rec["stderr"])
        self._saved_events[task_id] = len(rows)
        if not task.terminal:
            plan = self._db.execute(
                "SELECT steps FROM plans WHERE task_id = ?", (task_id,)
            ).fetchone()
            task.plan = [] if plan is None else [_step(s) for s in json.loads(plan[0])]
            self._saved_plans[task_id] = (id(task.plan), len(task.plan))
        MemoryStore.add_task(self, task)
        if task.terminal:
            if task.params.callback_url:  # its delivery was kept with its end
                self._settled.add(task_id)
            MemoryStore.deactivate(self, task)
            task.validated.set()
            task.rendered.set()
            task.retire()
            return
        if rec["validated"]:
            task.validated.set()
        if rec["rendered"] and (task.render is None or self._render_kept(task.render.path)):
            task.rendered.set()

    def _render_kept(self, path: Path) -> bool:
        """Whether a rendered video is there (else the task renders it again)."""
        return path.exists()
