"""The fake's state: plain records for projects, files, folders and tasks.

Nothing here knows about HTTP or threads; :mod:`mock_wiro.backend` owns them.
"""

from __future__ import annotations

import secrets
import string
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

from .images import ImageInfo
from .lifecycle import TERMINAL_STATUSES, Step
from .params import RunParams
from .scenarios import Scenario
from .settings import AuthMode

__all__ = [
    "Event",
    "Folder",
    "ImageRef",
    "Project",
    "RenderResult",
    "StoredFile",
    "Task",
    "hex_id",
    "random_token",
]

_ALNUM = string.ascii_letters + string.digits


def random_token(length: int = 30) -> str:
    """A random alphanumeric token, like the seed's socketaccesstoken (30 chars)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def hex_id() -> str:
    """A 32-hex-digit id, like the seed's file and folder ids."""
    return uuid.uuid4().hex


@dataclass
class Project:
    """A Wiro project: credentials, auth mode and balance. Everything else belongs to one."""

    id: str
    name: str
    api_key: str
    api_secret: str
    auth_mode: AuthMode
    balance: Decimal
    root_folder_id: str = field(default_factory=hex_id)
    used_nonces: set[str] = field(default_factory=set)


@dataclass
class Folder:
    """A folder made with File/FolderCreate (or a project's root)."""

    id: str
    project_id: str
    name: str
    parentid: str
    addedtime: float


@dataclass
class StoredFile:
    """A file on disk with a public URL: an upload, a Run's input image, or an output."""

    id: str
    project_id: str
    name: str
    contenttype: str
    size: int
    parentid: str
    accesskey: str
    addedtime: float
    disk_path: Path
    route: Literal["file", "cdn"]
    """``file``: served at ``/v1/File/<accesskey>/<name>`` (uploads, as in the seed's
    ``parameters``); ``cdn``: at ``/cdn/<accesskey>/<name>`` (outputs)."""
    deleted: bool = False

    def path(self) -> str:
        """The URL path the file is served at."""
        prefix = "/v1/File" if self.route == "file" else "/cdn"
        return f"{prefix}/{self.accesskey}/{self.name}"


@dataclass(frozen=True)
class ImageRef:
    """Where a task's input image comes from."""

    kind: Literal["file", "external", "missing"]
    url: str
    file: StoredFile | None = None
    reason: str = ""
    owned: bool = False
    """The file came with the Run call (so Task/InputOutputDelete removes it)."""


@dataclass(frozen=True)
class Event:
    """One frame of a task's life, as pushed on the socket."""

    type: str
    time: float
    message: object


@dataclass(frozen=True)
class RenderResult:
    """The rendered output video on disk."""

    path: Path
    size: int
    width: int
    height: int


@dataclass
class Task:
    """One Run: its parameters, its plan, and everything that happened to it."""

    id: str
    uuid: str
    token: str
    project_id: str
    params: RunParams
    parameters: dict[str, str]
    image: ImageRef
    status: str
    plan: list[Step]
    last_time: float
    times: dict[str, float] = field(default_factory=dict)
    cursor: int = 0
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    pexit: str = "0"
    outputs: list[StoredFile] = field(default_factory=list)
    totalcost: Decimal = Decimal(0)
    cps: Decimal = Decimal(0)
    elapsed: float = 0.0
    image_info: ImageInfo | None = None
    failure: str | None = None
    """Why the task fails (debugerror), decided in preprocessing."""
    validated: threading.Event = field(default_factory=threading.Event)
    validated_at: float = 0.0
    rendered: threading.Event = field(default_factory=threading.Event)
    rendered_at: float = 0.0
    render: RenderResult | None = None
    files_deleted: bool = False
    scenario: Scenario | None = None
    """The scenario matched when the task was Run, if any."""
    failure_pexit: str | None = None
    """The pexit of a failure (default: the backend's); a scenario's chosen one."""
    hold_at: str | None = None
    """The task stops just before its next step of this type until released."""
    not_before: float = 0.0
    """Fake time before which no step is applied (set on release)."""

    @property
    def terminal(self) -> bool:
        """True once the task reached task_postprocess_end or task_cancel."""
        return self.status in TERMINAL_STATUSES

    def next_step(self) -> Step | None:
        """The step the task waits for, if any."""
        return self.plan[self.cursor] if self.cursor < len(self.plan) else None
