"""Typed values parsed from the API's strings: ``Status``, ``Task``, ``Output``, events, files.

Every id and number in the Wiro API arrives as a string [seed][docs]; these
classes parse them once (ids to ``int``, money to ``Decimal``, times to
``datetime``) and keep the original mapping in ``raw`` for anything else.
Parsing never raises on a value the API sends oddly: an unparsable number becomes
``None`` (or ``0`` for sizes), an unknown status ``Status.UNKNOWN``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import os
    from pathlib import Path

__all__ = [
    "Event",
    "File",
    "Output",
    "Progress",
    "Status",
    "Task",
]


class Status(StrEnum):
    """A task's status [docs], in lifecycle order; ``UNKNOWN`` for anything else."""

    QUEUE = "task_queue"
    ACCEPT = "task_accept"
    PREPROCESS_START = "task_preprocess_start"
    PREPROCESS_END = "task_preprocess_end"
    ASSIGN = "task_assign"
    START = "task_start"
    OUTPUT = "task_output"
    ERROR = "task_error"
    OUTPUT_FULL = "task_output_full"
    ERROR_FULL = "task_error_full"
    END = "task_end"
    POSTPROCESS_START = "task_postprocess_start"
    POSTPROCESS_END = "task_postprocess_end"
    CANCEL = "task_cancel"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: object) -> Status:
        """The member for ``value``, or ``UNKNOWN`` (a newer API may add statuses)."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.UNKNOWN

    @property
    def terminal(self) -> bool:
        """True for ``task_postprocess_end`` and ``task_cancel``; ``task_end`` is not terminal."""
        return self in (Status.POSTPROCESS_END, Status.CANCEL)


def parse_int(value: object) -> int | None:
    """``int`` of an API string (``"534574"``, ``"6.0000"`` truncates), or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    number = parse_decimal(text)
    return int(number) if number is not None else None


def parse_decimal(value: object) -> Decimal | None:
    """``Decimal`` of an API string (money and rates keep every digit), or None."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_time(value: object) -> datetime | None:
    """An aware UTC ``datetime`` from a unix-seconds string; None for ``"0"``, empty or junk."""
    seconds = parse_decimal(value)
    if seconds is None or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(float(seconds), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def parse_categories(value: object) -> tuple[str, ...]:
    """``categories``: a JSON array encoded as a string [seed] (a plain list is accepted too)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return ()
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    return ()


@dataclass(frozen=True)
class Output:
    """One output file of a finished task (``size`` in bytes, parsed from its string)."""

    url: str
    name: str
    size: int
    contenttype: str
    id: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Output:
        """Build from one entry of a task's ``outputs``."""
        return cls(
            url=str(data.get("url") or ""),
            name=str(data.get("name") or ""),
            size=parse_int(data.get("size")) or 0,
            contenttype=str(data.get("contenttype") or ""),
            id=str(data.get("id") or ""),
            raw=dict(data),
        )


class TaskClient(Protocol):
    """What a bound :class:`Task` needs from its client (:class:`hailuo_client.Client` is
    one): the calls its shortcuts forward to. Typed here so that the models never import
    the client."""

    def detail(self, task: Task, /) -> Task: ...

    def wait(
        self,
        task: Task,
        /,
        timeout: float = ...,
        *,
        via: Any = ...,
        on_event: Any = ...,
        poll_interval: float = ...,
    ) -> Task: ...

    def cancel(self, task: Task, /) -> Task: ...

    def kill(self, task: Task, /) -> Task: ...

    def download(self, target: Task, dest: str | os.PathLike[str] | None = ..., /) -> Path: ...


@dataclass(frozen=True)
class Task:
    """A snapshot of a task, parsed from the API.

    ``token`` is the task's ``socketaccesstoken``. ``pexit`` is None until the task
    has an exit code. A snapshot obtained from a ``Client`` is bound to it, so
    ``task.refresh()``, ``task.wait()``, ``task.cancel()``, ``task.kill()`` and
    ``task.download()`` work directly on it.
    """

    id: int
    token: str
    status: Status
    pexit: int | None = None
    outputs: tuple[Output, ...] = ()
    debugerror: str = ""
    debugoutput: str = field(default="", repr=False)
    totalcost: Decimal | None = None
    cps: Decimal | None = None
    elapsedseconds: Decimal | None = None
    uuid: str = ""
    modelid: int | None = None
    projectid: int | None = None
    callbackurl: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    categories: tuple[str, ...] = ()
    createtime: datetime | None = None
    starttime: datetime | None = None
    endtime: datetime | None = None
    canceltime: datetime | None = None
    raw_status: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _client: TaskClient | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any], client: TaskClient | None = None) -> Task:
        """Build from one entry of ``tasklist`` (Task/Detail, List, Cancel, Kill)."""
        outputs = data.get("outputs") or []
        parameters = data.get("parameters")
        raw_status = str(data.get("status") or "")
        pexit_raw = data.get("pexit")
        return cls(
            id=parse_int(data.get("id")) or 0,
            token=str(data.get("socketaccesstoken") or ""),
            status=Status.parse(raw_status),
            pexit=None if pexit_raw in (None, "") else parse_int(pexit_raw),
            outputs=tuple(Output.from_api(o) for o in outputs if isinstance(o, Mapping)),
            debugerror=str(data.get("debugerror") or ""),
            debugoutput=str(data.get("debugoutput") or ""),
            totalcost=parse_decimal(data.get("totalcost")),
            cps=parse_decimal(data.get("cps")),
            elapsedseconds=parse_decimal(data.get("elapsedseconds")),
            uuid=str(data.get("uuid") or ""),
            modelid=parse_int(data.get("modelid")),
            projectid=parse_int(data.get("projectid")),
            callbackurl=str(data.get("callbackurl") or ""),
            parameters=dict(parameters) if isinstance(parameters, Mapping) else {},
            categories=parse_categories(data.get("categories")),
            createtime=parse_time(data.get("createtime")),
            starttime=parse_time(data.get("starttime")),
            endtime=parse_time(data.get("endtime")),
            canceltime=parse_time(data.get("canceltime")),
            raw_status=raw_status,
            raw=dict(data),
            _client=client,
        )

    # -- state -----------------------------------------------------------------

    @property
    def terminal(self) -> bool:
        """True once the task can no longer change (``task_postprocess_end`` or ``task_cancel``)."""
        return self.status.terminal

    @property
    def succeeded(self) -> bool:
        """True when the task finished with ``pexit == 0``."""
        return self.status is Status.POSTPROCESS_END and self.pexit == 0

    @property
    def failed(self) -> bool:
        """True when the task finished with a non-zero ``pexit`` (see ``debugerror``)."""
        return self.status is Status.POSTPROCESS_END and self.pexit != 0

    @property
    def cancelled(self) -> bool:
        """True when the task ended in ``task_cancel`` (cancelled or killed)."""
        return self.status is Status.CANCEL

    @property
    def video(self) -> Output | None:
        """The task's video output (the first ``video/*`` output, else the first), if any."""
        for output in self.outputs:
            if output.contenttype.startswith("video/"):
                return output
        return self.outputs[0] if self.outputs else None

    # -- bound shortcuts -------------------------------------------------------

    def _bound(self) -> TaskClient:
        if self._client is None:
            raise RuntimeError("this Task is not bound to a Client; call the Client's methods")
        return self._client

    def refresh(self) -> Task:
        """A fresh snapshot (Task/Detail)."""
        return self._bound().detail(self)

    def wait(self, timeout: float = 600.0, **kwargs: Any) -> Task:
        """``Client.wait`` on this task."""
        return self._bound().wait(self, timeout=timeout, **kwargs)

    def cancel(self) -> Task:
        """``Client.cancel`` on this task."""
        return self._bound().cancel(self)

    def kill(self) -> Task:
        """``Client.kill`` on this task."""
        return self._bound().kill(self)

    def download(self, dest: str | Path | None = None) -> Path:
        """``Client.download`` of this task's video."""
        return self._bound().download(self, dest)


@dataclass(frozen=True)
class Progress:
    """A ``progressGenerate`` report from a ``task_output`` frame [docs], numbers parsed."""

    percentage: float | None
    step_current: int | None = None
    step_total: int | None = None
    task: str = ""
    speed: str = ""
    elapsed: str = ""
    remaining: str = ""

    @classmethod
    def from_message(cls, message: object) -> Progress | None:
        """Parse a ``task_output`` message (an object, or the same JSON-encoded); else None."""
        if isinstance(message, str) and message.lstrip().startswith("{"):
            try:
                message = json.loads(message)
            except ValueError:
                return None
        if not isinstance(message, Mapping) or "percentage" not in message:
            return None
        percentage = parse_decimal(message.get("percentage"))
        speed = " ".join(str(message.get(k) or "") for k in ("speed", "speedType")).strip()
        return cls(
            percentage=float(percentage) if percentage is not None else None,
            step_current=parse_int(message.get("stepCurrent")),
            step_total=parse_int(message.get("stepTotal")),
            task=str(message.get("task") or ""),
            speed=speed,
            elapsed=str(message.get("elapsedTime") or ""),
            remaining=str(message.get("remainingTime") or ""),
        )


@dataclass(frozen=True)
class Event:
    """One step of a task seen by ``wait``: a socket frame, or a status change seen by polling.

    ``source`` is ``"socket"`` or ``"poll"``. ``progress`` is set for progress
    frames; ``message`` is the frame's raw message (a stderr line for ``task_error``).
    """

    status: Status
    task_id: int
    source: str
    message: Any = None
    progress: Progress | None = None
    raw_type: str = ""

    @classmethod
    def from_frame(cls, frame: Mapping[str, Any]) -> Event:
        """Build from a socket frame ``{"type", "id", "tasktoken", "message", "result"}``."""
        raw_type = str(frame.get("type") or "")
        message = frame.get("message")
        status = Status.parse(raw_type)
        progress = Progress.from_message(message) if status is Status.OUTPUT else None
        return cls(
            status=status,
            task_id=parse_int(frame.get("id")) or 0,
            source="socket",
            message=message,
            progress=progress,
            raw_type=raw_type,
        )


@dataclass(frozen=True)
class File:
    """A folder or an uploaded file (File/FolderCreate, File/Upload)."""

    id: str
    name: str
    url: str = ""
    size: int = 0
    contenttype: str = ""
    parentid: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> File:
        """Build from one entry of the response's ``list``."""
        return cls(
            id=str(data.get("id") or ""),
            name=str(data.get("name") or ""),
            url=str(data.get("url") or ""),
            size=parse_int(data.get("size")) or 0,
            contenttype=str(data.get("contenttype") or ""),
            parentid=str(data.get("parentid") or ""),
            raw=dict(data),
        )
