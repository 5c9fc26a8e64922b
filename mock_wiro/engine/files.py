"""The file store: uploads, a Run's input file and outputs on disk, and their public URLs.

Streams are copied in chunks within the upload limit [docs: 100 MB]; a ZIP upload is
extracted [docs], bounded against zip bombs. A project's stored uploads (a ZIP counted as
extracted) stay within its storage quota [A] (``Settings.storage_quota_bytes``): bytes are
reserved chunk by chunk as they are written, so parallel uploads cannot overshoot it, and
an upload refused half-way leaves nothing behind. Everything the fake writes under the data
folder is private to its owner: folders 0700, files 0600. The public URL (the base of every file
URL) is the setting, else the server's address once bound (:meth:`FileStore.set_public_url`),
else the host of the first authenticated /v1 request that names an IP address, a
loopback name or an allowed host (:meth:`FileStore.adopt_host`; never an anonymous or
rebound Host).
"""

from __future__ import annotations

import logging
import mimetypes
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

from ..errors import NotFoundError, StorageError, ValidationError
from .context import Context
from .models import Folder, ImageRef, Project, StoredFile, hex_id, random_token

log = logging.getLogger("mock_wiro")

__all__ = [
    "PART_SUFFIX",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "ZIP_MAX_MEMBERS",
    "FileStore",
    "Upload",
    "open_private",
    "private_dir",
    "safe_filename",
    "sync_dir",
    "write_private",
]

PRIVATE_DIR_MODE = 0o700  # folders under the data folder: the owner's only
PRIVATE_FILE_MODE = 0o600  # files under the data folder: the owner's only

PART_SUFFIX = ".part"  # a file being written; renamed once whole
ZIP_MAX_MEMBERS = 1000  # a ZIP upload is extracted [docs]; bounded against zip bombs
_NAME_SAFE = re.compile(r"[^A-Za-z0-9._ ()\-]+")
_OWN_FILE_PATH = re.compile(r"^/(v1/File|cdn)/([A-Za-z0-9]+)/([^/]+)$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Upload:
    """A file arriving in a request: its client-side name and a binary stream."""

    filename: str
    stream: IO[bytes]


def safe_filename(name: str, default: str = "file") -> str:
    """A client file name reduced to a harmless base name (no paths, no odd characters)."""
    base = name.replace("\\", "/").split("/")[-1]
    base = _NAME_SAFE.sub("_", base).strip(" .")
    return base[:200] or default


class _QuotaError(ValidationError):
    """The storage quota refused an upload (a code-0 error like any bad parameter; its
    own class only so that a ZIP's extraction passes it on as it is)."""


def private_dir(path: Path) -> Path:
    """Make sure the folder ``path`` exists and is private (0700). Missing parents are
    created 0700 too; an existing parent (the user's) is left as it is."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
    os.chmod(path, PRIVATE_DIR_MODE)  # also when it was there already (ours by name)
    return path


def open_private(path: Path) -> IO[bytes]:
    """Open ``path`` to write, created (or truncated) with mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # a file that was there keeps no wider mode
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def sync_dir(folder: Path) -> None:
    """fsync a folder, so a rename in it is on disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def disk_error(exc: OSError) -> StorageError:
    """A write to the data dir failed (disk full, read-only, I/O): the API's error."""
    log.error("mock-wiro: a write to the data dir failed: %s", exc)
    return StorageError(
        f"The fake could not write its data dir ({exc.strerror or exc}); nothing of this "
        "request was kept. Free some space or make the data dir writable, and try again."
    )


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode 0600)."""
    with open_private(path) as out:
        out.write(data)


class FileStore:
    """Files on disk under ``data_dir/files``, kept in the :class:`~.store.Store`."""

    def __init__(self, ctx: Context) -> None:
        self.settings = ctx.settings
        self._store, self._lock, self._clock = ctx.store, ctx.lock, ctx.clock
        self._dir = private_dir(ctx.data_dir / "files")
        self._used: dict[str, int] = {}  # project id -> bytes of its uploads (and reserved)
        self._counted: dict[str, tuple[str, int]] = {}  # file id -> (project id, bytes)
        self._public_url = (ctx.settings.public_url or "http://127.0.0.1").rstrip("/")
        self._public_url_fixed = ctx.settings.public_url is not None
        self._warned_host = False
        self._durable = ctx.settings.data_dir is not None
        """Bytes are synced to disk before a file is kept (a durable store's files)."""

    # ------------------------------------------------------------ the public URL
    @property
    def public_url(self) -> str:
        """The base of every file URL."""
        return self._public_url

    def set_public_url(self, url: str) -> None:
        """Use ``url`` as the base of file URLs from now on (the server's address)."""
        with self._lock:
            self._public_url = url.rstrip("/")
            self._public_url_fixed = True

    @property
    def public_url_fixed(self) -> bool:
        """Whether the base of file URLs is settled (``public_url``, or a host adopted)."""
        return self._public_url_fixed

    def adopt_host(self, host_url: str) -> None:
        """Use a request's host for file URLs when nothing fixed the public URL."""
        with self._lock:
            if not self._public_url_fixed:
                self.set_public_url(host_url)

    def note_untrusted_host(self, host: str) -> None:
        """An authenticated request named a host the fake won't adopt for file URLs (not
        an IP address or a trusted name): say once, in the log, what to set instead."""
        with self._lock:
            if self._public_url_fixed or self._warned_host:
                return
            self._warned_host = True
        log.warning(
            "mock-wiro: file URLs stay at %s: requests name the host %r, which is not an "
            "IP address, a loopback name or an allowed host; set the public URL "
            "(--public-url, Settings.public_url) to the address clients use",
            self._public_url,
            host[:200],
        )

    def url_for(self, stored: StoredFile) -> str:
        """The public URL of a stored file."""
        return self._public_url + stored.path()

    def resolve_url(self, url: str, also_own_host: str = "") -> ImageRef:
        """An image URL: one of the fake's own files (at the public URL's host, at
        ``also_own_host``, the host a request reached the fake at, or on loopback),
        or external (never fetched)."""
        try:
            parts = urlsplit(url)
        except ValueError as exc:  # "http://[::1": a malformed IPv6 host fails the task
            return ImageRef("missing", url, reason=f"invalid URL ({exc})")
        if parts.scheme not in ("http", "https"):
            return ImageRef("missing", url, reason=f"unsupported URL scheme {parts.scheme!r}")
        own_hosts = {urlsplit(self._public_url).netloc, also_own_host}
        match = _OWN_FILE_PATH.match(parts.path)
        if parts.netloc not in own_hosts and not (parts.hostname in _LOOPBACK and match):
            return ImageRef("external", url)
        if match is None:
            return ImageRef("missing", url, reason="HTTP 404 Not Found")
        route = "file" if match.group(1) == "v1/File" else "cdn"
        stored = self.public_file(route, match.group(2), unquote(match.group(3)))
        if stored is None:
            return ImageRef("missing", url, reason="HTTP 404 Not Found")
        return ImageRef("file", url, stored)

    def public_file(self, route: str, accesskey: str, name: str) -> StoredFile | None:
        """The file a public URL names, if it exists (the access key is the credential)."""
        with self._lock:
            stored = self._store.file(accesskey)
        if stored is None or stored.deleted or stored.route != route or stored.name != name:
            return None
        return stored

    # ------------------------------------------------------------ storing
    def store_stream(
        self,
        project: Project,
        upload: Upload,
        *,
        parentid: str = "",
        prefix: str = "",
        keep: bool = True,
    ) -> StoredFile:
        """Copy a stream to disk, never holding more than a chunk in memory, within the
        upload limit [docs: 100 MB]. ``keep=False``: the caller keeps it (:meth:`add`),
        with what it belongs to (a Run's input file, with its task)."""
        limit = self.settings.upload_max_bytes
        name = safe_filename(upload.filename)
        if prefix:  # the seed names a Run's input file like "inputImage-6060136.png"
            ext = os.path.splitext(name)[1].lower()[:8]
            name = f"{prefix}-{int.from_bytes(os.urandom(3), 'big') % 10_000_000:07d}{ext}"
        file_id = hex_id()
        path = self._dir / file_id
        part = path.with_name(file_id + PART_SUFFIX)  # renamed to ``path`` once whole
        size = 0
        reading = False
        try:
            with open_private(part) as out:
                while True:
                    reading = True  # an OSError now is the client's stream, not the disk
                    chunk = upload.stream.read(1 << 20)
                    reading = False
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        break
                    self._reserve(project, file_id, name, len(chunk))
                    out.write(chunk)
                if size <= limit and self._durable:
                    out.flush()
                    os.fsync(out.fileno())
        except OSError as exc:  # the disk: full, read-only, failing
            part.unlink(missing_ok=True)
            self._release(file_id)
            if reading:
                raise
            raise disk_error(exc) from None
        except BaseException:  # a stream that fails mid-copy (a corrupt ZIP member), or
            part.unlink(missing_ok=True)  # the quota refused the next chunk
            self._release(file_id)
            raise
        if size > limit:
            part.unlink(missing_ok=True)
            self._release(file_id)
            raise ValidationError(
                f"File {name!r} is larger than the upload limit of {limit} bytes "
                f"({limit / 2**20:.3g} MB)"
            )
        try:
            os.replace(part, path)  # whole, or not there: never half a file at its URL
            if self._durable:
                sync_dir(self._dir)
        except OSError as exc:
            part.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            self._release(file_id)
            raise disk_error(exc) from None
        stored = StoredFile(
            id=file_id,
            project_id=project.id,
            name=name,
            contenttype=mimetypes.guess_type(name)[0] or "application/octet-stream",
            size=size,
            parentid=parentid or project.root_folder_id,
            accesskey=random_token(),
            addedtime=self._clock.now(),
            disk_path=path,
            route="file",
        )
        if keep:
            try:
                self.add(stored)
            except StorageError:
                self.forget(stored)
                raise
        return stored

    # ------------------------------------------------------------ the storage quota
    def used_bytes(self, project: Project) -> int:
        """Bytes of the project's stored uploads (and of uploads being written)."""
        with self._lock:
            return self._used.get(project.id, 0)

    def _quota_error(self, used: int, limit: int, name: str, needed: int) -> ValidationError:
        return _QuotaError(
            f"Storage quota exceeded: the project stores {used} bytes of its {limit} byte "
            f"quota ({limit / 2**20:.4g} MB); file {name!r} needs {needed} bytes more. "
            "Delete files (Task/InputOutputDelete) or reset the fake."
        )

    def _reserve(self, project: Project, file_id: str, name: str, nbytes: int) -> None:
        """Count ``nbytes`` more of file ``file_id`` against the project's quota, or raise
        a code-0 error naming the bytes used, the limit and the file."""
        limit = self.settings.storage_quota_bytes
        with self._lock:
            used = self._used.get(project.id, 0)
            if limit and used + nbytes > limit:
                raise self._quota_error(used, limit, name, nbytes)
            self._used[project.id] = used + nbytes
            counted = self._counted.get(file_id, (project.id, 0))[1]
            self._counted[file_id] = (project.id, counted + nbytes)

    def _check_room(self, project: Project, name: str, nbytes: int) -> None:
        """Raise the quota's error now if ``nbytes`` more could not be stored."""
        limit = self.settings.storage_quota_bytes
        with self._lock:
            used = self._used.get(project.id, 0)
            if limit and used + nbytes > limit:
                raise self._quota_error(used, limit, name, nbytes)

    def _release(self, file_id: str) -> None:
        """Give back what file ``file_id`` counted against its project's quota (once)."""
        with self._lock:
            counted = self._counted.pop(file_id, None)
            if counted is not None:
                project_id, nbytes = counted
                left = self._used.get(project_id, 0) - nbytes
                if left > 0:
                    self._used[project_id] = left
                else:
                    self._used.pop(project_id, None)

    def recount(self) -> None:
        """Count every kept upload against its project's quota again (a durable store's
        files, at start)."""
        with self._lock:
            self._used.clear()
            self._counted.clear()
            for stored in self._store.files():
                if stored.route == "file":
                    self._counted[stored.id] = (stored.project_id, stored.size)
                    self._used[stored.project_id] = (
                        self._used.get(stored.project_id, 0) + stored.size
                    )

    def remove_unkept(self) -> None:
        """Remove the bytes in the files folder that no kept file names: a write a crash
        cut short (``*.part``), or a file written but never kept (at start, under the
        state lock)."""
        with self._lock:
            kept = {s.disk_path.name for s in self._store.files() if s.route == "file"}
            for path in self._dir.iterdir():
                if path.name not in kept and path.is_file():
                    path.unlink(missing_ok=True)

    def add(self, stored: StoredFile) -> None:
        """Make a file reachable at its public URL (an output)."""
        with self._lock:
            self._store.add_file(stored)

    # ------------------------------------------------------------ folders and uploads
    def add_root_folder(self, project: Project) -> None:
        """Give a project (new, or after a reset) its root folder."""
        with self._lock:
            root = Folder(project.root_folder_id, project.id, "uploads", "", self._clock.now())
            self._store.add_folder(root)

    def create_folder(self, project: Project, name: str, parentid: str = "") -> Folder:
        """File/FolderCreate: a folder in the project's root or in ``parentid``."""
        name = name.strip()
        if not name:
            raise ValidationError("Request parameter [name] required")
        with self._lock:
            parent = self._folder(project, parentid or project.root_folder_id)
            folder = Folder(
                hex_id(), project.id, safe_filename(name, "folder"), parent.id, self._clock.now()
            )
            self._store.add_folder(folder)
            return folder

    def _folder(self, project: Project, folder_id: str) -> Folder:
        folder = self._store.folder(folder_id)
        if folder is None or folder.project_id != project.id:
            raise NotFoundError(f"There is no folder with id {folder_id!r}.")  # [A] message
        return folder

    def upload(self, project: Project, upload: Upload, folderid: str = "") -> list[StoredFile]:
        """File/Upload: the file, or the files of a ZIP [docs], in the folder."""
        with self._lock:
            folder_id = self._folder(project, folderid or project.root_folder_id).id
        stored = self.store_stream(project, upload, parentid=folder_id)
        if not zipfile.is_zipfile(stored.disk_path) or not stored.name.lower().endswith(".zip"):
            return [stored]
        self._release(stored.id)  # the archive is dropped: its members count instead
        try:
            return self._extract_zip(project, stored, folder_id)
        finally:
            self.drop(stored)

    def _extract_zip(
        self, project: Project, archive: StoredFile, parentid: str
    ) -> list[StoredFile]:
        limit = self.settings.upload_max_bytes
        try:
            zf = zipfile.ZipFile(archive.disk_path)
        except Exception as exc:  # a broken central directory: BadZipFile, OSError, ...
            raise ValidationError(f"ZIP upload could not be extracted: {exc}") from exc
        with zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if len(members) > ZIP_MAX_MEMBERS:
                raise ValidationError(
                    f"ZIP upload has {len(members)} files; at most {ZIP_MAX_MEMBERS} are extracted"
                )
            total = sum(m.file_size for m in members)
            if total > limit:
                raise ValidationError(
                    f"ZIP upload expands to {total} bytes; the limit is {limit} bytes "
                    f"({limit / 2**20:.3g} MB)"
                )
            self._check_room(project, archive.name, total)  # as the ZIP says; then as written
            stored: list[StoredFile] = []
            try:
                for member in members:
                    with zf.open(member) as src:
                        upload = Upload(member.filename, src)
                        stored.append(self.store_stream(project, upload, parentid=parentid))
            except StorageError:  # the disk: undo in memory (the store catches up)
                for item in stored:
                    self.forget(item)
                raise
            except _QuotaError:  # the quota refused a member: its message as it is
                for item in stored:
                    self.drop(item)
                raise
            except Exception as exc:  # corrupt data (zlib.error), encrypted, unknown method
                for item in stored:
                    self.drop(item)
                raise ValidationError(f"ZIP upload could not be extracted: {exc}") from exc
            return stored

    # ------------------------------------------------------------ dropping
    def drop(self, stored: StoredFile) -> None:
        """Remove a file: its URL answers 404, and an upload's bytes leave the disk."""
        with self._lock:
            stored.deleted = True
            self._store.drop_file(stored.accesskey)
        if stored.route == "file":  # outputs share one rendered file per size
            stored.disk_path.unlink(missing_ok=True)
            self._release(stored.id)

    def forget(self, stored: StoredFile) -> None:
        """Undo keeping a file whose record could not be written (a failed write): gone
        from memory and from the disk, its bytes no longer counted."""
        with self._lock:
            self._store.forget_file(stored)
        stored.disk_path.unlink(missing_ok=True)
        self._release(stored.id)

    def reset(self) -> None:
        """Remove every upload's bytes (the store forgets the files themselves); every
        project's quota is free again."""
        with self._lock:
            for stored in self._store.files():
                if stored.route == "file":
                    stored.disk_path.unlink(missing_ok=True)
            self._used.clear()
            self._counted.clear()
