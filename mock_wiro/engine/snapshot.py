"""Snapshots: the whole state of a fake in one file, and a fake started from one.

A snapshot is a SQLite database in the data dir's own schema (:mod:`.sqlite_store`,
the same ``PRAGMA user_version``), plus one table the data dir does not have:
``blobs``, the bytes of every file the records name (uploads, Run input images,
rendered outputs), by their path relative to the data dir (``files/<id>``,
``outputs/<name>``). Its ``meta`` row ``snapshot`` marks it as one.

- **Written** from memory (every store, durable or not, holds its whole state in
  memory): under the backend's state lock, the records are written through the same
  code the durable store writes with, into an in-memory database, with the bytes of
  every file; the database is then serialised (``sqlite3``'s ``serialize``) to one
  file (:func:`write_file`: a temporary file, ``fsync``, rename), or to the bytes
  ``POST /_mock/snapshot`` answers. Consistent by construction: nothing changes while
  it is taken.
- **Read** (:func:`read_snapshot`) before anything of the running state is touched:
  the file must be a SQLite database that passes ``PRAGMA quick_check``, of this
  schema version or an older one, marked as a snapshot, every record readable, every
  path relative and inside ``files/`` or ``outputs/`` (a snapshot is input: one that
  names ``../../etc/passwd`` is refused), every kept file's bytes present. Anything
  else is a :class:`~mock_wiro.errors.SnapshotError` saying what and what to do.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final
from urllib.parse import quote

from .._version import __version__
from ..errors import SnapshotError
from .files import open_private, private_dir, sync_dir
from .sqlite_store import SCHEMA_VERSION, KeptPaths, SqliteStore, create_schema
from .store import MemoryStore

__all__ = [
    "BLOB_FOLDERS",
    "SNAPSHOT_MEDIA_TYPE",
    "LoadedSnapshot",
    "install_blobs",
    "read_snapshot",
    "snapshot_bytes",
    "write_file",
]

SNAPSHOT_MEDIA_TYPE: Final = "application/vnd.sqlite3"
BLOB_FOLDERS: Final = ("files", "outputs")
"""The data dir's folders whose files a snapshot carries."""
_BLOBS: Final = "CREATE TABLE blobs (path TEXT PRIMARY KEY, data BLOB NOT NULL)"


# ---------------------------------------------------------------------- writing
def snapshot_bytes(store: MemoryStore, root: Path, now: float) -> bytes:
    """The whole state of ``store`` (its files' bytes under ``root``) at fake time
    ``now``, as a snapshot file's bytes. Call under the backend's state lock."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        create_schema(db, _BLOBS)
        writer = SqliteStore.attached(db, root)
        with writer.batch():
            writer.replace(store)
            writer._write_meta(
                "snapshot", {"created_by": __version__, "fake_time": now, "wall_time": time.time()}
            )
            writer._write_meta("clock", [now, time.time()])
            for relative, path in _blob_paths(store, root).items():
                writer._exec(
                    "INSERT INTO blobs (path, data) VALUES (?, ?)", (relative, path.read_bytes())
                )
        return db.serialize()
    finally:
        db.close()


def _blob_paths(store: MemoryStore, root: Path) -> dict[str, Path]:
    """Every file on disk the records name (uploads, input images, outputs, renders)."""
    paths = [s.disk_path for s in store.files()]
    for task in store.tasks():
        paths.extend(o.disk_path for o in task.outputs)
        if task.image.file is not None:
            paths.append(task.image.file.disk_path)
        if task.render is not None:
            paths.append(task.render.path)
    found: dict[str, Path] = {}
    for path in paths:
        try:
            relative = path.relative_to(root).as_posix()
        except ValueError:
            continue
        if relative not in found and path.is_file():
            found[relative] = path
    return found


def write_file(data: bytes, path: Path) -> None:
    """Write a snapshot's bytes to ``path`` whole or not at all (a temporary file
    beside it, ``fsync``, rename): a crash never leaves half a snapshot there."""
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(part, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            part.unlink()
        raise SnapshotError(f"cannot write the snapshot {path}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------- reading
class _StrictPaths(KeptPaths):
    """A snapshot's paths: relative, inside one of :data:`BLOB_FOLDERS`, one plain name."""

    def read(self, text: str) -> Path:
        return self.root / checked_path(text)


def checked_path(text: str) -> str:
    """``text`` if it is ``files/<name>`` or ``outputs/<name>``; else ValueError."""
    parts = PurePosixPath(text).parts
    if (
        len(parts) != 2
        or parts[0] not in BLOB_FOLDERS
        or parts[1] in (".", "..")
        or "\\" in text
        or "\x00" in text
        or text != "/".join(parts)
    ):
        raise ValueError(f"a path outside the data dir's files: {text!r}")
    return text


class _Reader(SqliteStore):
    """The records of a snapshot, read into memory; its rendered videos are its blobs."""

    blob_names: frozenset[str] = frozenset()

    def _render_kept(self, path: Path) -> bool:
        return path.relative_to(self.data_dir).as_posix() in self.blob_names


@dataclass
class LoadedSnapshot:
    """A snapshot read and checked: its records (in memory), its fake time, and the
    open database its bytes are read from (:func:`install_blobs`)."""

    path: Path
    store: SqliteStore
    fake_time: float | None
    db: sqlite3.Connection

    def close(self) -> None:
        """Let go of the file."""
        self.db.close()


def _refuse(path: Path, why: str) -> SnapshotError:
    return SnapshotError(f"{path} cannot be loaded as a mock-wiro snapshot: {why}")


def read_snapshot(path: Path, root: Path) -> LoadedSnapshot:
    """Open and check the snapshot at ``path`` and read its records, their files to be
    under ``root``; :class:`SnapshotError` if it is not one this mock-wiro can load."""
    if not path.is_file():
        raise _refuse(path, "there is no such file")
    try:
        db = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise _refuse(path, str(exc)) from None
    try:
        return _read(path, root, db)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise _refuse(path, f"{exc} (not a SQLite database, or damaged)") from None
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        db.close()
        raise _refuse(path, f"it holds a record this mock-wiro cannot read ({exc})") from None
    except BaseException:
        db.close()
        raise


def _read(path: Path, root: Path, db: sqlite3.Connection) -> LoadedSnapshot:
    import json

    check = db.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        raise sqlite3.DatabaseError(f"quick_check: {check}")
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if version == 0 or "meta" not in tables:
        raise _refuse(path, "it is not one (no mock-wiro schema version)")
    meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
    if version > SCHEMA_VERSION:
        made = meta.get("snapshot", {}).get("created_by", "?")
        raise _refuse(
            path,
            f"it has schema version {version} (made by mock-wiro {made}), newer than this "
            f"mock-wiro {__version__} reads (schema version {SCHEMA_VERSION}); load it with a "
            "mock-wiro at least as new as the one that made it",
        )
    if "snapshot" not in meta or "blobs" not in tables:
        raise _refuse(
            path,
            "it is a data dir's database, not a snapshot; take one with "
            "`mock-wiro snapshot save FILE --data-dir DIR`",
        )
    reader = _Reader.attached(db, root, _StrictPaths(root))
    names = [checked_path(name) for (name,) in db.execute("SELECT path FROM blobs")]
    reader.blob_names = frozenset(names)
    reader._load()
    for stored in reader.files():
        relative = stored.disk_path.relative_to(root).as_posix()
        if relative not in reader.blob_names:
            raise ValueError(f"file {stored.id} ({relative}) has no bytes in the snapshot")
    fake_time = reader.resume_time("resume", "manual", 1.0)
    return LoadedSnapshot(path, reader, fake_time, db)


def install_blobs(loaded: LoadedSnapshot, root: Path, *, sync: bool) -> None:
    """Write every file of the snapshot under ``root`` (each whole: a temporary file,
    renamed, ``fsync``ed first when ``sync``), over any file at the same path."""
    folders = set()
    for name, data in loaded.db.execute("SELECT path, data FROM blobs"):
        target = root / checked_path(name)
        folders.add(private_dir(target.parent))
        part = target.with_name(f"{target.name}.part")
        with open_private(part) as out:
            out.write(data)
            if sync:
                out.flush()
                os.fsync(out.fileno())
        os.replace(part, target)
    if sync:
        for folder in folders:
            sync_dir(folder)
