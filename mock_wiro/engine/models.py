"""The fake's state: plain records for projects, files, folders and tasks.

Nothing here knows about HTTP or threads; :mod:`mock_wiro.engine.backend` owns them.

Memory: a fake keeps every task it ran (100,000 in a long session), so the records
have ``__slots__``, and a task that has ended and whose background work is done is
:meth:`Task.retire` d: its parameters, image and history (frames, timestamps, stdout,
stderr) are packed into a few hundred bytes, and unpacked, equal to what they were,
whenever they are read. About 1.7 KB of memory a task, from 25 KB.
"""

from __future__ import annotations

import json
import marshal
import secrets
import string
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple

from ..settings import AuthMode
from .directives import Directives, DirectiveSource, NoDirectives
from .images import ImageInfo
from .lifecycle import INTAKE, OUTPUTS, TERMINAL_STATUSES, TIMESTAMP_FIELDS, Step, success_plan
from .params import RunParams

__all__ = [
    "OUTPUT_FIELDS",
    "DirectiveSource",
    "Directives",
    "Event",
    "Folder",
    "History",
    "ImageRef",
    "NoDirectives",
    "Project",
    "RenderResult",
    "StoredFile",
    "Task",
    "hex_id",
    "output_record",
    "random_token",
    "run_parameters",
    "stamp",
]

_ALNUM = string.ascii_letters + string.digits
_ZERO = Decimal(0)  # immutable: shared by every task's totalcost and cps until billed


_ALNUM_BYTES = _ALNUM.encode()
_TOKEN_CUTOFF = 256 - 256 % len(_ALNUM)  # random bytes at or past it are rejected: no bias


def random_token(length: int = 30) -> str:
    """A random alphanumeric token, like the seed's socketaccesstoken (30 chars).

    Each character is ``_ALNUM[b % 62]`` for a byte ``b`` of :func:`secrets.token_bytes`
    below the largest multiple of 62 (the others are skipped), so every character is
    uniform, as with ``secrets.choice`` per character; one system call for the token
    instead of one per character (it is on the hot path: every Run, every output)."""
    chars = bytearray()
    while len(chars) < length:
        chars += bytes(
            _ALNUM_BYTES[b % len(_ALNUM_BYTES)]
            for b in secrets.token_bytes(length + 8)
            if b < _TOKEN_CUTOFF
        )
    return chars[:length].decode()


def hex_id() -> str:
    """A 32-hex-digit id, like the seed's file and folder ids."""
    return uuid.uuid4().hex


@dataclass(slots=True)
class Project:
    """A Wiro project: credentials, auth mode and balance. Everything else belongs to one."""

    id: str
    name: str
    api_key: str
    api_secret: str
    auth_mode: AuthMode
    balance: Decimal
    root_folder_id: str = field(default_factory=hex_id)
    used_nonces: OrderedDict[bytes, None] = field(default_factory=OrderedDict)
    """Digests of the project's most recent nonces, oldest first, at most ``NONCE_WINDOW``
    (kept by the store's ``record_nonce`` when reused nonces are refused)."""


@dataclass(slots=True)
class Folder:
    """A folder made with File/FolderCreate (or a project's root)."""

    id: str
    project_id: str
    name: str
    parentid: str
    addedtime: float


@dataclass(slots=True)
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


@dataclass(frozen=True, slots=True)
class ImageRef:
    """Where a task's input image comes from."""

    kind: Literal["file", "external", "missing"]
    url: str
    file: StoredFile | None = None
    reason: str = ""
    owned: bool = False
    """The file came with the Run call (so Task/InputOutputDelete removes it)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One frame of a task's life, as pushed on the socket."""

    type: str
    time: float
    message: object


@dataclass(frozen=True, slots=True)
class RenderResult:
    """The rendered output video on disk."""

    path: Path
    size: int
    width: int
    height: int


class History(NamedTuple):
    """Everything a task did, in order: its frames, its Task/Detail timestamps (by field
    name), and the lines it printed."""

    events: list[Event]
    times: dict[str, float]
    stdout: list[str]
    stderr: list[str]


class _SetEvent(threading.Event):
    """A ``threading.Event`` that is set for good: what a retired task's gates become."""

    def __init__(self) -> None:
        super().__init__()
        super().set()

    def clear(self) -> None:
        raise RuntimeError("a retired task's gates stay open")


_OPEN_GATE: threading.Event = _SetEvent()


def stamp(value: float | None) -> str:
    """A Unix time as the API shows it: whole seconds, ``"0"`` for none."""
    return str(int(value)) if value else "0"


def output_record(stored: StoredFile, task_uuid: str, url: str) -> dict[str, Any]:
    """An output object [seed]: the one definition of its shape (Task/Detail's
    ``outputs``, the socket's task_postprocess_end frame, the OpenAPI schema's order)."""
    return {
        "id": stored.id,
        "name": stored.name,
        "contenttype": stored.contenttype,
        "parentid": stored.parentid,
        "uuid": task_uuid,
        "size": str(stored.size),
        "addedtime": stamp(stored.addedtime),
        "modifiedtime": stamp(stored.addedtime),
        "accesskey": stored.accesskey,
        "foldercount": "0",
        "filecount": "0",
        "ispublic": 0,
        "expiretime": None,
        "url": url,
    }


_SAMPLE_OUTPUT_FILE = StoredFile(
    "0" * 32, "0", "0.mp4", "video/mp4", 1000000, "0" * 32, "0" * 30, 0.0, Path(), "cdn"
)
_SAMPLE_OUTPUT_URL = f"http://127.0.0.1:8080/cdn/{'0' * 30}/0.mp4"
OUTPUT_FIELDS: Final = tuple(output_record(_SAMPLE_OUTPUT_FILE, "", ""))
"""The output object's fields, in order."""


def _sample_records() -> bytes:
    """What typical finished tasks pack to before compression: the preset dictionary of
    the compression, so a task's packed record is about what is its own (ids, times,
    prompt) and not what every task repeats. Only the size of the packed records depends
    on it, never their content."""
    samples = []
    start = float(int(time.time()))  # times near now share their high bytes with real ones
    for resolution, duration in (("1080P", "6"), ("768P", "10"), ("768P", "6")):
        plan = [*INTAKE, *success_plan(resolution, duration)]
        stdout = [
            s.message if isinstance(s.message, str) else json.dumps(s.message)
            for s in plan
            if s.type == "task_output"
        ]
        sample = replace(_SAMPLE_OUTPUT_FILE, addedtime=start)
        output = output_record(sample, str(uuid.UUID(int=0)), _SAMPLE_OUTPUT_URL)
        events = [Event("task_queue", start, None)]
        for step in plan:
            message = step.message
            if step.type == "task_output_full":
                message = {"raw": "\n".join(stdout)}
            elif message is OUTPUTS:
                message = [output]
            events.append(Event(step.type, events[-1].time + step.delay, message))
        times = {TIMESTAMP_FIELDS[e.type]: e.time for e in events if e.type in TIMESTAMP_FIELDS}
        url = "https://example.com/images/input.jpg"
        params = RunParams(url, "A wide shot of the beach at dusk", True, resolution, duration, "")
        image = ImageRef("external", url)
        samples.append(_marshal(params, image, History(events, times, stdout, [])))
    return b"".join(samples)


def _marshal(params: RunParams, image: ImageRef | None, history: History) -> bytes:
    events = [(e.type, e.time, e.message) for e in history.events]
    params_fields = params.values()
    image_fields = None if image is None else (image.kind, image.url, image.reason, image.owned)
    record = (params_fields, image_fields, events, history.times, history.stdout, history.stderr)
    return marshal.dumps(record)


_PACK_DICTIONARY: bytes = _sample_records()


class _Unpacked(NamedTuple):
    params: RunParams
    image: ImageRef | None
    history: History


def _pack(params: RunParams, image: ImageRef | None, history: History) -> bytes | None:
    """A retired task's parameters, image (None: kept as it is) and history as compressed
    bytes; None if they hold a value ``marshal`` cannot (then nothing is packed).
    ``marshal`` round-trips exactly the values they hold (None, bool, int, float, str,
    list, tuple, dict), with their types."""
    try:
        data = _marshal(params, image, history)
    except ValueError:
        return None
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _PACK_DICTIONARY)
    return packer.compress(data) + packer.flush()


def _unpack(packed: bytes) -> _Unpacked:
    unpacker = zlib.decompressobj(-15, _PACK_DICTIONARY)
    data = unpacker.decompress(packed) + unpacker.flush()
    params_fields, image_fields, events, times, stdout, stderr = marshal.loads(data)
    image = None
    if image_fields is not None:
        kind, url, reason, owned = image_fields
        image = ImageRef(kind, url, None, reason, owned)
    return _Unpacked(
        RunParams(*params_fields),
        image,
        History([Event(*e) for e in events], times, stdout, stderr),
    )


@dataclass(slots=True, init=False)
class Task:
    """One Run: its parameters, its plan, and everything that happened to it.

    ``events``, ``times``, ``stdout`` and ``stderr`` are the task's :class:`History`:
    the live lists and dict the backend appends to while the task runs. Once it is
    :meth:`retire` d, its history, ``params`` and ``image`` are packed, and each read
    unpacks fresh copies, equal to what they were.
    """

    id: str
    uuid: str
    token: str
    project_id: str
    status: str
    plan: list[Step]
    last_time: float
    cursor: int
    pexit: str
    outputs: list[StoredFile]
    totalcost: Decimal
    cps: Decimal
    elapsed: float
    image_info: ImageInfo | None
    failure: str | None
    """Why the task fails (debugerror), decided in preprocessing."""
    validated: threading.Event
    validated_at: float
    rendered: threading.Event
    rendered_at: float
    render: RenderResult | None
    files_deleted: bool
    scenario: Directives | None
    """The scenario matched when the task was Run, if any."""
    failure_pexit: str | None
    """The pexit of a failure (default: the backend's); a scenario's chosen one."""
    hold_at: str | None
    """The task stops just before its next step of this type until released."""
    not_before: float
    """Fake time before which no step is applied (set on release)."""
    _params: RunParams | None = field(repr=False)
    """None once packed (in ``_history``)."""
    _image: ImageRef | None = field(repr=False)
    """None once packed (an image with a stored file stays here)."""
    _history: History | bytes = field(repr=False)
    """The live history, or the packed record. Each reader reads it once (and
    ``_params`` / ``_image`` before it), so a reader racing :meth:`retire` sees the
    live values or the packed ones, whole: retire packs first, then clears."""

    def __init__(
        self,
        id: str,
        uuid: str,
        token: str,
        project_id: str,
        params: RunParams,
        image: ImageRef,
        status: str,
        plan: list[Step],
        last_time: float,
    ) -> None:
        self.id = id
        self.uuid = uuid
        self.token = token
        self.project_id = project_id
        self._params = params
        self._image = image
        self.status = status
        self.plan = plan
        self.last_time = last_time
        self.cursor = 0
        self.pexit = "0"
        self.outputs = []
        self.totalcost = _ZERO
        self.cps = _ZERO
        self.elapsed = 0.0
        self.image_info = None
        self.failure = None
        self.validated = threading.Event()
        self.validated_at = 0.0
        self.rendered = threading.Event()
        self.rendered_at = 0.0
        self.render = None
        self.files_deleted = False
        self.scenario = None
        self.failure_pexit = None
        self.hold_at = None
        self.not_before = 0.0
        self._history = History([], {}, [], [])

    def _unpacked(self) -> _Unpacked:
        history = self._history
        if isinstance(history, bytes):
            return _unpack(history)
        raise RuntimeError(f"task {self.id} is not packed")  # pragma: no cover

    @property
    def params(self) -> RunParams:
        """The Run's checked parameters."""
        params = self._params
        return params if params is not None else self._unpacked().params

    @property
    def image(self) -> ImageRef:
        """Where the input image comes from."""
        image = self._image
        if image is not None:
            return image
        packed = self._unpacked().image
        assert packed is not None
        return packed

    @property
    def parameters(self) -> dict[str, str]:
        """The Run's fields as sent [seed]: the input file's URL when the image came with
        the Run call, else the URL in whichever field carried it."""
        return run_parameters(self.params, self.image)

    def history(self) -> History:
        """The task's frames, timestamps and output lines (one unpacking for all four)."""
        history = self._history
        return _unpack(history).history if isinstance(history, bytes) else history

    def snapshot(self) -> tuple[RunParams, ImageRef, History]:
        """``params``, ``image`` and ``history()`` at once (one unpacking for all)."""
        params, image = self._params, self._image
        history = self._history
        if not isinstance(history, bytes):
            assert params is not None and image is not None
            return params, image, history
        unpacked = _unpack(history)
        image = image or unpacked.image
        assert image is not None
        return unpacked.params, image, unpacked.history

    @property
    def events(self) -> list[Event]:
        """Every frame of the task, in order."""
        return self.history().events

    @property
    def times(self) -> dict[str, float]:
        """Task/Detail timestamp field -> fake time, for the stages reached."""
        return self.history().times

    @property
    def stdout(self) -> list[str]:
        """The lines the task printed (``debugoutput``)."""
        return self.history().stdout

    @property
    def stderr(self) -> list[str]:
        """The task's error lines (``debugerror``)."""
        return self.history().stderr

    @property
    def packed(self) -> bytes | None:
        """A retired task's packed parameters, image and history (a new object whenever
        they change), None while it runs: what a reader may cache what it derived from
        them under."""
        history = self._history
        return history if isinstance(history, bytes) else None

    @property
    def retired(self) -> bool:
        """True once :meth:`retire` packed the task."""
        return isinstance(self._history, bytes)

    @property
    def terminal(self) -> bool:
        """True once the task reached task_postprocess_end or task_cancel."""
        return self.status in TERMINAL_STATUSES

    def next_step(self) -> Step | None:
        """The step the task waits for, if any."""
        return self.plan[self.cursor] if self.cursor < len(self.plan) else None

    def retire(self) -> bool:
        """Shrink an ended task whose background work is done to what it still needs:
        its parameters, image and history packed, its plan and its gates' times dropped,
        its gates shared. Nothing it shows changes. Call under the owner's lock, after
        the last frame; False (nothing done) if the task is still running, its work is
        not done, or it already was retired."""
        history, params, image = self._history, self._params, self._image
        if not self.terminal or isinstance(history, bytes) or params is None or image is None:
            return False
        if not (self.validated.is_set() and self.rendered.is_set()):
            return False
        keep_image = image.file is not None  # a stored file is an object, not a value
        packed = _pack(params, None if keep_image else image, history)
        if packed is not None:
            self._history = packed  # first: readers of _params/_image then find it
            self._params = None
            if not keep_image:
                self._image = None
        self.plan = []
        self.cursor = 0
        self.validated = self.rendered = _OPEN_GATE
        self.validated_at = self.rendered_at = 0.0  # they only ever gated its next steps
        return True


def run_parameters(params: RunParams, image: ImageRef) -> dict[str, str]:
    """A task's ``parameters`` (Task/Detail): the Run's fields as sent [seed]."""
    return {
        "inputImageFirst": image.url if image.owned else "",
        "inputImageFirstUrl": "",
        **({params.image_url_field: params.image_url} if params.image_url else {}),
        "prompt": params.prompt,
        "promptOptimizer": "true" if params.prompt_optimizer else "false",
        "resolution": params.resolution,
        "duration": params.duration,
    }
