"""The Wiro client for MiniMax Hailuo 2.3 Fast: ``Client``, ``Task`` and ``Output``."""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import requests

from ._signing import NonceSource, auth_headers
from .exceptions import (
    APIError,
    AuthenticationError,
    ConcurrencyLimitError,
    InsufficientBalanceError,
    NotFoundError,
    TaskCancelled,
    TaskFailed,
    TransportError,
    WaitTimeout,
)

__all__ = ["DEFAULT_BASE_URL", "MODEL_PATH", "Client", "Output", "Task"]

DEFAULT_BASE_URL = "https://api.wiro.ai/v1"
"""The real REST base [seed]."""

MODEL_PATH = "Run/minimax/hailuo-2-3-fast"
"""The Run endpoint of Hailuo 2.3 Fast, relative to the base URL [seed]."""

TERMINAL_STATUSES = frozenset({"task_postprocess_end", "task_cancel"})
"""Statuses after which a task never changes [docs]. ``task_end`` is not one."""

MAX_POLL_INTERVAL = 10.0
"""Cap of the polling backoff, in seconds."""

ImageInput = str | os.PathLike[str] | bytes | IO[bytes]
Resolution = Literal["768P", "1080P"]

_CODE_ERRORS: dict[int, type[APIError]] = {
    1: NotFoundError,
    96: ConcurrencyLimitError,
    97: InsufficientBalanceError,
}


@dataclass(frozen=True)
class Output:
    """One output file of a finished task."""

    url: str
    name: str
    size: int
    contenttype: str

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Output:
        """Build from one entry of the API's ``outputs`` (numbers arrive as strings)."""
        return cls(
            url=str(data.get("url", "")),
            name=str(data.get("name", "")),
            size=_to_int(data.get("size")),
            contenttype=str(data.get("contenttype", "")),
        )


@dataclass(frozen=True)
class Task:
    """A snapshot of a task. ``token`` is its ``socketaccesstoken``."""

    id: str
    token: str
    status: str
    pexit: str
    outputs: tuple[Output, ...]
    debugerror: str
    totalcost: str

    @property
    def terminal(self) -> bool:
        """True once the task can no longer change (``task_postprocess_end`` or ``task_cancel``)."""
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        """True when the task finished with ``pexit == "0"``."""
        return self.status == "task_postprocess_end" and self.pexit == "0"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Task:
        """Build from one entry of ``tasklist``."""
        outputs = data.get("outputs") or []
        return cls(
            id=str(data.get("id", "")),
            token=str(data.get("socketaccesstoken", "")),
            status=str(data.get("status", "")),
            pexit=str(data.get("pexit", "")),
            outputs=tuple(Output.from_api(o) for o in outputs if isinstance(o, Mapping)),
            debugerror=str(data.get("debugerror") or ""),
            totalcost=str(data.get("totalcost", "")),
        )


def _to_int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), if any."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _RateLimited(APIError):
    """HTTP 429 (internal: ``wait`` retries it after ``retry_after`` seconds)."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(0, message, 429)
        self.retry_after = retry_after


class Client:
    """A client for Hailuo 2.3 Fast on Wiro.

    Credentials and base URL fall back to ``WIRO_API_KEY``, ``WIRO_API_SECRET`` and
    ``WIRO_BASE_URL``. With a secret every request is signed with a fresh nonce;
    without one only ``x-api-key`` is sent. ``sleep`` and ``monotonic`` are the
    clock seams ``wait`` uses (tests pass a fake clock).
    """

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], object] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("WIRO_API_KEY")
        if not key:
            raise ValueError("no API key: pass api_key or set WIRO_API_KEY")
        self.api_key = key
        secret = api_secret if api_secret is not None else os.environ.get("WIRO_API_SECRET")
        self.api_secret: str | None = secret or None
        base = base_url or os.environ.get("WIRO_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = base.rstrip("/")
        self.timeout = timeout
        self.session = session if session is not None else requests.Session()
        self._sleep = sleep
        self._monotonic = monotonic
        self._nonces = NonceSource()

    # -- transport -------------------------------------------------------------

    def _request(
        self,
        path: str,
        json: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes | IO[bytes]]] | None = None,
    ) -> dict[str, Any]:
        """POST ``path`` (relative to the base URL); return the envelope or raise a typed error."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        headers = auth_headers(self.api_key, self.api_secret, self._nonces.next())
        try:
            response = self.session.post(
                url, json=json, data=data, files=files, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise TransportError(f"POST {url} failed: {exc}") from exc
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = None
        message = _first_error(body) or response.reason or ""
        code = _first_code(body)
        if response.status_code == 401:
            raise AuthenticationError(code, message, 401)
        if response.status_code == 404:
            raise NotFoundError(code, message, 404)
        if response.status_code == 429:
            raise _RateLimited(message, _retry_after(response))
        if not isinstance(body, dict):
            raise TransportError(
                f"POST {url}: expected a JSON object, got HTTP {response.status_code} "
                f"{response.text[:200]!r}"
            )
        if response.status_code >= 400 or body.get("result") is not True:
            error = _CODE_ERRORS.get(code, APIError)
            raise error(code, message or "unknown error", response.status_code)
        return body

    # -- API -------------------------------------------------------------------

    def run(
        self,
        image: ImageInput,
        prompt: str = "",
        *,
        prompt_optimizer: bool = True,
        resolution: Resolution = "768P",
        duration: int = 6,
        callback_url: str = "",
    ) -> Task:
        """Start Hailuo 2.3 Fast on ``image`` (path, bytes, binary file object or URL).

        Raises ValueError before any request for a combination the model refuses
        (10 s only at 768P [minimax]).
        """
        if resolution not in ("768P", "1080P"):
            raise ValueError(f"resolution must be '768P' or '1080P'; got {resolution!r}")
        if duration not in (6, 10):
            raise ValueError(f"duration must be 6 or 10; got {duration!r}")
        if resolution == "1080P" and duration == 10:
            raise ValueError("duration 10 is only available at 768P; got 1080P")
        fields = {
            "prompt": prompt,
            "promptOptimizer": "true" if prompt_optimizer else "false",
            "resolution": resolution,
            "duration": str(duration),
            "callbackUrl": callback_url,
        }
        files: dict[str, tuple[str, bytes | IO[bytes]]] | None = None
        if isinstance(image, str) and image.startswith(("http://", "https://")):
            fields["inputImageFirstUrl"] = image
        else:
            fields["inputImageFirstUrl"] = ""
            files = {"inputImageFirst": _image_file(image)}
        body = self._request(MODEL_PATH, data=fields, files=files)
        return Task(
            id=str(body.get("taskid", "")),
            token=str(body.get("socketaccesstoken", "")),
            status="task_queue",
            pexit="",
            outputs=(),
            debugerror="",
            totalcost="",
        )

    def detail(self, task: Task | str) -> Task:
        """Fetch a task by ``Task``, id (all digits) or socket access token."""
        return self._one("Task/Detail", _task_ref(task, token_key="tasktoken"))

    def cancel(self, task: Task | str) -> Task:
        """Cancel a task still queued; NotFoundError (code 1) once it has started."""
        return self._one("Task/Cancel", _task_ref(task, token_key="socketaccesstoken"))

    def kill(self, task: Task | str) -> Task:
        """Stop a running task; it ends in ``task_cancel``."""
        return self._one("Task/Kill", _task_ref(task, token_key="socketaccesstoken"))

    def list(self, start: int = 0, limit: int = 20) -> list[Task]:
        """The project's tasks, ``limit`` of them from ``start``."""
        body = self._request("Task/List", json={"start": str(start), "limit": str(limit)})
        return [Task.from_api(t) for t in body.get("tasklist") or [] if isinstance(t, Mapping)]

    def delete_io(self, task: Task | str) -> None:
        """Delete a finished task's input and output files (idempotent)."""
        token = task.token if isinstance(task, Task) else task
        self._request("Task/InputOutputDelete", json={"tasktoken": token})

    def wait(self, task: Task | str, timeout: float = 600.0, poll_interval: float = 1.0) -> Task:
        """Poll until the task is terminal; return it when it succeeded.

        Polls with exponential backoff (doubling from ``poll_interval``, capped at
        ``MAX_POLL_INTERVAL``) under one overall deadline of ``timeout`` seconds: the
        last sleep is shortened to end at the deadline, then one final poll is made.
        HTTP 429 waits ``Retry-After`` (WaitTimeout at once if that passes the deadline);
        transport errors and HTTP 5xx are retried (Task/Detail is safe to repeat).
        Raises TaskFailed, TaskCancelled, WaitTimeout, or any other APIError.
        """
        deadline = self._monotonic() + timeout
        interval = poll_interval
        last_problem = ""
        while True:
            delay = interval
            forced = False  # the server named the delay: never shorten it
            try:
                current = self.detail(task)
            except _RateLimited as exc:
                last_problem = str(exc)
                if exc.retry_after is not None:
                    delay, forced = exc.retry_after, True
            except TransportError as exc:
                last_problem = str(exc)
            except APIError as exc:
                if exc.status < 500:
                    raise
                last_problem = str(exc)
            else:
                last_problem = f"last status {current.status}"
                if current.status == "task_cancel":
                    raise TaskCancelled(current)
                if current.status == "task_postprocess_end":
                    if current.pexit != "0":
                        raise TaskFailed(current)
                    return current
            remaining = deadline - self._monotonic()
            if remaining <= 0 or (forced and delay > remaining):
                raise WaitTimeout(f"task not finished after {timeout} s ({last_problem})")
            self._sleep(min(delay, remaining))
            interval = min(interval * 2, MAX_POLL_INTERVAL)

    def _one(self, path: str, body: Mapping[str, str]) -> Task:
        answer = self._request(path, json=body)
        tasks = answer.get("tasklist") or []
        if not tasks or not isinstance(tasks[0], Mapping):
            raise APIError(0, f"{path}: expected one task in tasklist, got {tasks!r}", 200)
        return Task.from_api(tasks[0])


def _task_ref(task: Task | str, *, token_key: str) -> dict[str, str]:
    if isinstance(task, Task):
        return {"taskid": task.id}
    return {"taskid": task} if task.isdigit() else {token_key: task}


def _image_file(image: str | os.PathLike[str] | bytes | IO[bytes]) -> tuple[str, bytes | IO[bytes]]:
    if isinstance(image, bytes):
        return ("image", image)
    if isinstance(image, str | os.PathLike):
        path = Path(image)
        return (path.name, path.read_bytes())
    name = getattr(image, "name", "image")
    return (Path(str(name)).name, image.read())


def _first_error(body: object) -> str:
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", ""))
    return ""


def _first_code(body: object) -> int:
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return _to_int(errors[0].get("code", 0))
    return 0
