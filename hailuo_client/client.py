"""The Wiro client for MiniMax Hailuo 2.3 Fast: ``Client`` and its ``RetryPolicy``.

Which calls are retried (the rule that keeps a retry from billing twice):

- **Safe** (Task/Detail, Task/List, Task/InputOutputDelete, downloads): retried on
  transport errors, HTTP 5xx and 429 (after ``Retry-After``), with exponential
  backoff and full jitter.
- **Everything else** (Run, Cancel, Kill, FolderCreate, Upload): retried only when
  the request provably never reached the server (the TCP connection could not be
  made). A Run whose answer was lost raises :class:`RunOutcomeUnknown`.
"""

from __future__ import annotations

import builtins
import email.utils
import logging
import os
import random
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import requests

from ._signing import PROCESS_NONCES, auth_headers
from ._socket import DEFAULT_SOCKET_URL, SocketLost, TaskSocket, default_socket_url
from .checks import check_image, check_options
from .exceptions import (
    APIError,
    AuthenticationError,
    ConcurrencyLimitError,
    DownloadError,
    InsufficientBalanceError,
    InvalidInput,
    NotFoundError,
    RateLimitError,
    RunOutcomeUnknown,
    ServerError,
    TaskCancelled,
    TaskFailed,
    TransportError,
    ValidationError,
    WaitTimeout,
)
from .models import Event, File, Output, Status, Task, parse_int

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_SOCKET_URL",
    "MODEL_PATH",
    "Client",
    "ImageInput",
    "RetryPolicy",
]

log = logging.getLogger("hailuo_client")

DEFAULT_BASE_URL = "https://api.wiro.ai/v1"
"""The real REST base [seed]."""

MODEL_PATH = "Run/minimax/hailuo-2-3-fast"
"""The Run endpoint of Hailuo 2.3 Fast, relative to the base URL [seed]."""

MAX_POLL_INTERVAL = 10.0
"""Cap of the polling backoff, in seconds."""

SOCKET_IDLE_CHECK = 30.0
"""Seconds without a frame after which ``wait`` checks the task over REST (a silent socket)."""

DOWNLOAD_CHUNK = 1 << 20
"""Bytes per write while streaming a download to disk."""

MAX_DOWNLOAD_BYTES = 4 << 30
"""A download of unknown size is stopped past this many bytes (4 GiB)."""

ImageInput = str | os.PathLike[str] | bytes | IO[bytes]
"""An image for Run: a path, bytes, a binary file object, or an ``http(s)`` URL string."""

Via = Literal["auto", "socket", "poll"]
EventHandler = Callable[[Event], object]
_T = TypeVar("_T")

_CODE_ERRORS: dict[int, type[APIError]] = {
    1: NotFoundError,
    96: ConcurrencyLimitError,
    97: InsufficientBalanceError,
    98: AuthenticationError,
    99: AuthenticationError,
}
_VALIDATION_HINTS = ("Request parameter", "Request files", "is required", "required")


@dataclass(frozen=True)
class RetryPolicy:
    """How safe calls are retried: ``attempts`` tries in all, full-jitter exponential backoff.

    The n-th retry waits a uniformly random time in ``[0, min(max_backoff,
    backoff * 2**n)]`` (AWS's "full jitter"), except after HTTP 429 with a
    ``Retry-After``, which is waited exactly (up to ``max_retry_after``).
    """

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    """A ``Retry-After`` longer than this is not waited: the RateLimitError is raised."""

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first)."""
        return rng.uniform(0.0, min(self.max_backoff, self.backoff * 2.0**retry))


class _Oversize(DownloadError):
    """More bytes than expected: the server sends something else; retrying won't help."""


class _NotSent(TransportError):
    """The connection could not be made: the request provably never reached the server."""


class Client:
    """A client for Hailuo 2.3 Fast on Wiro.

    Credentials and URLs fall back to ``WIRO_API_KEY``, ``WIRO_API_SECRET``,
    ``WIRO_BASE_URL`` and ``WIRO_SOCKET_URL``. With a secret every request is
    signed with a fresh, strictly increasing nonce; without one only ``x-api-key``
    is sent. ``timeout`` bounds each HTTP request. ``sleep``, ``monotonic`` and
    ``rng`` are the seams tests use for a fake clock and reproducible jitter.
    """

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        base_url: str | None = None,
        socket_url: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], object] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("WIRO_API_KEY")
        if not key:
            raise ValueError("no API key: pass api_key or set WIRO_API_KEY")
        self.api_key = key
        secret = api_secret if api_secret is not None else os.environ.get("WIRO_API_SECRET")
        self.api_secret: str | None = secret or None
        base = base_url or os.environ.get("WIRO_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = base.rstrip("/")
        self.socket_url = (
            socket_url
            or os.environ.get("WIRO_SOCKET_URL")
            or default_socket_url(self.base_url, DEFAULT_BASE_URL)
        )
        self.timeout = timeout
        self.session = session if session is not None else requests.Session()
        self.retry = retry if retry is not None else RetryPolicy()
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng if rng is not None else random.Random()
        self._nonces = PROCESS_NONCES

    def __repr__(self) -> str:
        mode = "signature" if self.api_secret else "api-key"
        return f"Client(base_url={self.base_url!r}, auth={mode})"

    def close(self) -> None:
        """Close the HTTP session's pooled connections."""
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------

    def _send(
        self,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes]] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """One signed POST to ``path``; the envelope, or a typed error. Never retries."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        headers = auth_headers(self.api_key, self.api_secret, self._nonces.next())
        try:
            response = self.session.post(
                url,
                json=json,
                data=data,
                files=files,
                headers=headers,
                timeout=timeout if timeout is not None else self.timeout,
            )
        except requests.RequestException as exc:
            if _never_sent(exc):
                raise _NotSent(f"POST {url}: could not connect: {exc}") from exc
            raise TransportError(f"POST {url} failed: {exc}") from exc
        return _envelope(url, response)

    def _call(
        self,
        path: str,
        *,
        safe: bool,
        json: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes]] | None = None,
    ) -> dict[str, Any]:
        """``_send`` with the retry rule: ``safe`` calls retry on any transient failure."""
        return self._retrying(
            lambda: self._send(path, json=json, data=data, files=files), safe=safe
        )

    def _retrying(self, attempt: Callable[[], _T], *, safe: bool) -> _T:
        retries = 0
        while True:
            try:
                return attempt()
            except _NotSent as exc:
                error: Exception = exc
                wait = None
            except RateLimitError as exc:
                if not safe or (exc.retry_after or 0) > self.retry.max_retry_after:
                    raise
                error, wait = exc, exc.retry_after
            except (ServerError, TransportError) as exc:
                if not safe or isinstance(exc, _Oversize):
                    raise
                error, wait = exc, None
            if retries + 1 >= self.retry.attempts:
                raise error
            delay = wait if wait is not None else self.retry.delay(retries, self._rng)
            log.info("retrying in %.2f s after: %s", delay, error)
            self._sleep(delay)
            retries += 1

    # -- running ---------------------------------------------------------------

    def run(
        self,
        image: ImageInput,
        prompt: str = "",
        *,
        prompt_optimizer: bool = True,
        resolution: str = "768P",
        duration: int = 6,
        callback_url: str = "",
        check: bool = True,
    ) -> Task:
        """Start Hailuo 2.3 Fast on ``image`` (path, bytes, binary file object or URL).

        With ``check`` (the default) the options and a local image are checked
        against the model's rules first, raising :class:`InvalidInput` before any
        request is made. Returns a ``Task`` (status ``task_queue``) bound to this client.
        Never retried unless the connection could not be made; a lost answer raises
        :class:`RunOutcomeUnknown`.
        """
        if check:
            check_options(resolution, duration, prompt)
        fields = {
            "prompt": prompt,
            "promptOptimizer": "true" if prompt_optimizer else "false",
            "resolution": resolution,
            "duration": str(duration),
            "callbackUrl": callback_url,
        }
        files: dict[str, tuple[str, bytes]] | None = None
        if isinstance(image, str) and image.startswith(("http://", "https://")):
            fields["inputImageFirstUrl"] = image  # the API fetches it: nothing to check here
        else:
            name, content = _read_image(image)
            if check:
                check_image(content, name)
            fields["inputImageFirstUrl"] = ""
            files = {"inputImageFirst": (name, content)}
        try:
            body = self._call(MODEL_PATH, safe=False, data=fields, files=files)
        except _NotSent:
            raise
        except (TransportError, ServerError) as exc:
            raise RunOutcomeUnknown(
                f"{exc}. The Run may have reached the server and started a task; it was "
                "not retried. Check Client.list() before running again."
            ) from exc
        return Task(
            id=parse_int(body.get("taskid")) or 0,
            token=str(body.get("socketaccesstoken") or ""),
            status=Status.QUEUE,
            raw_status=Status.QUEUE.value,
            raw=body,
            _client=self,
        )

    def generate(
        self,
        image: ImageInput,
        prompt: str = "",
        *,
        timeout: float = 900.0,
        via: Via = "auto",
        on_event: EventHandler | None = None,
        **run_options: Any,
    ) -> Task:
        """``run`` then ``wait``: the finished task, or TaskFailed/TaskCancelled/WaitTimeout."""
        task = self.run(image, prompt, **run_options)
        return self.wait(task, timeout=timeout, via=via, on_event=on_event)

    # -- tasks -----------------------------------------------------------------

    def detail(self, task: Task | str | int) -> Task:
        """Fetch a task by ``Task``, id or socket access token. Retried (safe)."""
        return self._one("Task/Detail", _task_ref(task, token_key="tasktoken"), safe=True)

    def cancel(self, task: Task | str | int) -> Task:
        """Cancel a task still queued; NotFoundError (code 1) once it has started."""
        return self._one("Task/Cancel", _task_ref(task, token_key="socketaccesstoken"), safe=False)

    def kill(self, task: Task | str | int) -> Task:
        """Stop a running task; it ends in ``task_cancel``."""
        return self._one("Task/Kill", _task_ref(task, token_key="socketaccesstoken"), safe=False)

    def list(self, start: int = 0, limit: int = 20) -> list[Task]:
        """The project's tasks, ``limit`` of them from ``start``. Retried (safe)."""
        body = self._call("Task/List", safe=True, json={"start": str(start), "limit": str(limit)})
        return [
            Task.from_api(t, self) for t in body.get("tasklist") or [] if isinstance(t, Mapping)
        ]

    def delete_io(self, task: Task | str) -> None:
        """Delete a finished task's input and output files. Idempotent, so retried."""
        token = task.token if isinstance(task, Task) else task
        self._call("Task/InputOutputDelete", safe=True, json={"tasktoken": token})

    def _one(self, path: str, body: Mapping[str, str], *, safe: bool) -> Task:
        answer = self._call(path, safe=safe, json=body)
        return self._first_task(path, answer)

    def _first_task(self, path: str, answer: Mapping[str, Any]) -> Task:
        tasks = answer.get("tasklist") or []
        if not tasks or not isinstance(tasks[0], Mapping):
            raise APIError(0, f"{path}: expected one task in tasklist, got {tasks!r}", 200)
        return Task.from_api(tasks[0], self)

    # -- files -----------------------------------------------------------------

    def create_folder(self, name: str, parent_id: str | None = None) -> File:
        """Create a folder in the project's file storage (File/FolderCreate)."""
        body: dict[str, str] = {"name": name}
        if parent_id:
            body["parentid"] = parent_id
        answer = self._call("File/FolderCreate", safe=False, json=body)
        return _files(answer)[0]

    def upload(
        self, file: str | os.PathLike[str] | bytes | IO[bytes], folder_id: str | None = None
    ) -> builtins.list[File]:
        """Upload a file (File/Upload); a ZIP is extracted, hence a list. Its ``url`` can be Run."""
        name, content = _read_image(file, default_name="upload.bin")
        data = {"folderid": folder_id} if folder_id else None
        answer = self._call("File/Upload", safe=False, data=data, files={"file": (name, content)})
        return _files(answer)

    # -- waiting ---------------------------------------------------------------

    def wait(
        self,
        task: Task | str | int,
        timeout: float = 600.0,
        *,
        via: Via = "auto",
        on_event: EventHandler | None = None,
        poll_interval: float = 1.0,
    ) -> Task:
        """Wait until the task is terminal; return it when it succeeded.

        ``via="socket"`` (and ``"auto"``, the default) follows the task's WebSocket:
        it reconnects after a drop (``RetryPolicy.attempts`` times in a row), checks
        the task over REST after every (re)connect and after ``SOCKET_IDLE_CHECK``
        seconds of silence, and on a terminal frame confirms it with Task/Detail.
        ``"auto"`` falls back to polling when the socket keeps failing; ``"socket"``
        raises TransportError instead. ``via="poll"`` polls Task/Detail with
        exponential backoff from ``poll_interval`` (capped at ``MAX_POLL_INTERVAL``),
        waiting ``Retry-After`` on HTTP 429 and retrying 5xx and transport errors.

        One overall deadline of ``timeout`` seconds covers everything. ``on_event``
        gets each new :class:`Event` (lifecycle steps and progress), duplicates
        removed. Only ``task_postprocess_end`` and ``task_cancel`` end the wait.

        Raises TaskFailed, TaskCancelled, WaitTimeout, or the APIError that
        polling cannot get past (authentication, not found).
        """
        if via not in ("auto", "socket", "poll"):
            raise InvalidInput(f"via must be 'auto', 'socket' or 'poll'; got {via!r}")
        if not poll_interval > 0 or not timeout >= 0:  # also refuses NaN
            raise InvalidInput(
                f"poll_interval must be > 0 and timeout >= 0; got {poll_interval}, {timeout}"
            )
        watch = _Watch(self, task, self._monotonic() + timeout, timeout, on_event)
        if via == "poll":
            return watch.poll(poll_interval)
        return watch.socket(poll_interval, strict=via == "socket")

    # -- downloads -------------------------------------------------------------

    def download(
        self, target: Task | Output | str, dest: str | os.PathLike[str] | None = None
    ) -> Path:
        """Stream an output (a Task's video, an Output, or a URL) to ``dest``; return the path.

        ``dest`` may be a file path or an existing directory (default: the current
        directory); the file name defaults to ``hailuo-<taskid>.mp4`` or the output's
        name. The body goes to a temporary file beside ``dest``, is checked against
        ``Content-Length`` and the output's ``size``, and only then renamed into
        place; a mismatch raises DownloadError and leaves nothing behind. Transport
        errors and 5xx are retried. No credentials are sent (output URLs are public
        CDN links, possibly on another host).
        """
        url, size, name = _download_target(target)
        path = Path(dest) if dest is not None else Path.cwd()
        if dest is not None and str(dest).endswith(("/", os.sep)):
            path.mkdir(parents=True, exist_ok=True)  # "clips/": a directory, made if missing
        if path.is_dir():
            path = path / name
        return self._retrying(lambda: self._download_once(url, size, path), safe=True)

    def _download_once(self, url: str, size: int | None, path: Path) -> Path:
        try:
            # identity: byte counts must match Content-Length and the output's size
            response = self.session.get(
                url, stream=True, timeout=self.timeout, headers={"Accept-Encoding": "identity"}
            )
        except requests.RequestException as exc:
            if _never_sent(exc):
                raise _NotSent(f"GET {url}: could not connect: {exc}") from exc
            raise DownloadError(f"GET {url} failed: {exc}") from exc
        with response:
            status = response.status_code
            problem = f"GET {url}: HTTP {status} {response.reason}"
            if status == 429:
                raise RateLimitError(0, problem, status, _retry_after(response))
            if status >= 500:
                raise ServerError(0, problem, status)
            if status in (404, 410):
                raise NotFoundError(0, problem, status)
            if status != 200:
                raise APIError(0, problem, status)
            declared = response.headers.get("Content-Length")
            encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
            if declared is not None and (encoded or not declared.isdigit()):
                declared = None  # a compressed length says nothing about the decoded bytes
            try:
                _stream_to(path, response, size or (int(declared) if declared else None), url)
            except requests.RequestException as exc:
                raise DownloadError(f"GET {url} broke off: {exc}") from exc
        return path


class _Watch:
    """The state of one ``wait``: deadline, events already delivered, last snapshot."""

    def __init__(
        self,
        client: Client,
        task: Task | str | int,
        deadline: float,
        timeout: float,
        on_event: EventHandler | None,
    ) -> None:
        self.client = client
        self.task = task
        self.deadline = deadline
        self.timeout = timeout
        self.on_event = on_event
        self.seen_frames: set[str] = set()
        self.emitted: set[Status] = set()
        self.rank = 0
        self.retry_after: float | None = None  # the last Retry-After peek() met
        self.last: Task | None = task if isinstance(task, Task) else None
        self.problem = ""

    def remaining(self) -> float:
        return self.deadline - self.client._monotonic()

    def timed_out(self) -> WaitTimeout:
        detail = f"last status {self.last.status.value}" if self.last else "no status seen"
        if self.problem:
            detail += f"; {self.problem}"
        return WaitTimeout(f"task not finished after {self.timeout} s ({detail})", self.last)

    def emit(self, event: Event) -> None:
        """Deliver an event once, in lifecycle order, whichever view saw it first.

        Each lifecycle status is delivered once; one earlier than a status already
        delivered (a socket replaying history after a poll saw further) is dropped.
        """
        if event.status not in _REPEATING or event.source == "poll":  # polls carry no content
            rank = _RANK.get(event.status, 0)
            if event.status in self.emitted or (rank and rank < self.rank):
                return
            self.emitted.add(event.status)
            self.rank = max(self.rank, rank)
        if self.on_event is not None:
            self.on_event(event)

    def observe(self, task: Task, *, report: bool = True) -> Task:
        """Record a REST snapshot; emit a ``poll`` event for a status not seen before."""
        self.last = task
        if report:
            self.emit(Event(status=task.status, task_id=task.id, source="poll"))
        return task

    def finish(self, task: Task) -> Task:
        if task.status is Status.CANCEL:
            raise TaskCancelled(task)
        if task.pexit != 0:
            raise TaskFailed(task)
        return task

    def detail_once(self, *, report: bool = True) -> Task:
        timeout = min(self.client.timeout, max(self.remaining(), 0.001))
        ref = _task_ref(self.task, token_key="tasktoken")
        answer = self.client._send("Task/Detail", json=ref, timeout=timeout)
        return self.observe(self.client._first_task("Task/Detail", answer), report=report)

    def peek(self) -> Task | None:
        """One Detail while the socket leads (reported only if terminal); None on a blip."""
        self.retry_after = None
        try:
            task = self.detail_once(report=False)
            if task.terminal:
                self.observe(task)
            return task
        except (TransportError, ServerError, RateLimitError) as exc:
            self.problem = str(exc)
            if isinstance(exc, RateLimitError):
                self.retry_after = exc.retry_after
            return None

    # -- polling ---------------------------------------------------------------

    def poll(self, poll_interval: float) -> Task:
        interval = poll_interval
        while True:
            delay, forced = interval, False  # forced: the server named the delay
            try:
                current = self.detail_once()
            except RateLimitError as exc:
                self.problem = str(exc)
                if exc.retry_after is not None:
                    delay, forced = exc.retry_after, True
            except (TransportError, ServerError) as exc:
                self.problem = str(exc)
            else:
                self.problem = ""
                if current.terminal:
                    return self.finish(current)
            remaining = self.remaining()
            if remaining <= 0 or (forced and delay > remaining):
                raise self.timed_out()
            self.client._sleep(min(delay, remaining))
            interval = min(interval * 2, MAX_POLL_INTERVAL)

    # -- socket ----------------------------------------------------------------

    def token(self) -> str | None:
        """The task's socket token; looked up once (within the deadline) for a bare id."""
        if isinstance(self.task, Task) and self.task.token:
            return self.task.token
        if isinstance(self.task, str) and not self.task.isdigit():
            return self.task
        retries = 0
        while (found := self.peek()) is None:  # a transient failure: retry within the deadline
            remaining = self.remaining()
            delay = self.retry_after
            if delay is None:
                delay = min(self.client.retry.delay(retries, self.client._rng), remaining)
            if remaining <= 0 or delay > remaining:
                raise self.timed_out()
            self.client._sleep(delay)
            retries += 1
        if found.terminal:
            self.observe(found)
        self.task = found
        return found.token or None

    def socket(self, poll_interval: float, *, strict: bool) -> Task:
        client = self.client
        token = self.token()
        if token is None:  # the API gave the task no socket token: polling is all there is
            if strict:
                raise TransportError(f"task {self.task} has no socket access token")
            return self.poll(poll_interval)
        if isinstance(self.task, Task) and self.task.terminal:
            return self.finish(self.task)
        failures = 0
        while True:
            remaining = self.remaining()
            if remaining <= 0:
                raise self.timed_out()
            frames_before = len(self.seen_frames)
            try:
                with TaskSocket(client.socket_url, token, min(client.timeout, remaining)) as sock:
                    # Registered. A late subscriber may get no replay [A], so look once.
                    snapshot = self.peek()
                    if snapshot is not None and snapshot.terminal:
                        return self.finish(snapshot)
                    if self.follow(sock):
                        break
            except SocketLost as exc:
                if len(self.seen_frames) > frames_before:
                    failures = 0  # that connection made progress: count drops in a row only
                failures += 1
                self.problem = f"socket: {exc}"
                if exc.permanent or failures >= client.retry.attempts:
                    if strict:
                        raise TransportError(f"task socket failed: {exc}") from exc
                    log.warning("task socket failed (%s); falling back to polling", exc)
                    break
                snapshot = self.peek()  # it may have ended while the socket was down
                if snapshot is not None and snapshot.terminal:
                    return self.finish(snapshot)
                delay = min(client.retry.delay(failures - 1, client._rng), max(self.remaining(), 0))
                log.info("task socket lost (%s); reconnecting in %.2f s", exc, delay)
                client._sleep(delay)
        return self.poll(poll_interval)  # confirms a terminal frame, or carries on by REST

    def follow(self, sock: TaskSocket) -> bool:
        """Read frames until a terminal one (True); SocketLost or WaitTimeout otherwise."""
        while True:
            remaining = self.remaining()
            if remaining <= 0:
                raise self.timed_out()
            received = sock.receive(min(remaining, SOCKET_IDLE_CHECK))
            if received is None:  # silence: make sure the task did not end unseen
                snapshot = self.peek()
                if snapshot is not None and snapshot.terminal:
                    return True
                continue
            text, frame = received
            if text in self.seen_frames:  # a replay after reconnecting, or a duplicate
                continue
            self.seen_frames.add(text)
            event = Event.from_frame(frame)
            self.emit(event)
            if event.status.terminal:
                return True


_REPEATING = frozenset({Status.OUTPUT, Status.ERROR})  # progress and log lines come many times
_RANK: dict[Status, int] = {
    status: n for n, status in enumerate(Status, start=1) if status is not Status.UNKNOWN
}
_RANK[Status.CANCEL] = _RANK[Status.POSTPROCESS_END]  # either can end a task, from any stage


def _never_sent(exc: BaseException) -> bool:
    """True when the exception proves the request never left: the connection failed."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        name = type(item).__name__
        if name in ("NewConnectionError", "ConnectTimeoutError", "NameResolutionError"):
            return True
        if isinstance(item, ConnectionRefusedError):
            return True
        stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None)])
        stack.extend(item.args)
    return False


def _stream_to(path: Path, response: requests.Response, expected: int | None, url: str) -> None:
    """Write the body to a temporary file beside ``path``; rename it there once checked."""
    declared = response.headers.get("Content-Length")
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        declared = None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
    # O_EXCL: never follow or clobber someone else's file; 0o666 lets the umask decide.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        written = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in response.iter_content(DOWNLOAD_CHUNK):
                written += len(chunk)
                if written > (expected if expected is not None else MAX_DOWNLOAD_BYTES):
                    raise _Oversize(f"GET {url}: more than {expected or MAX_DOWNLOAD_BYTES} bytes")
                out.write(chunk)
        if expected is not None and written != expected:
            raise DownloadError(f"GET {url}: got {written} bytes, expected {expected}")
        if declared and declared.isdigit() and int(declared) != written:
            raise DownloadError(f"GET {url}: got {written} bytes, Content-Length said {declared}")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _envelope(url: str, response: requests.Response) -> dict[str, Any]:
    """Map an HTTP answer to the envelope or to the error tree."""
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = None
    message = _first_error(body) or response.reason or ""
    code = _first_code(body)
    status = response.status_code
    if status == 401:
        raise AuthenticationError(code, message, status)
    if status == 404:
        raise NotFoundError(code, message, status)
    if status == 429:
        raise RateLimitError(code, message, status, _retry_after(response))
    if status >= 500:
        raise ServerError(code, message or f"HTTP {status}", status)
    if not isinstance(body, dict):
        raise TransportError(
            f"POST {url}: expected a JSON object, got HTTP {status} {response.text[:200]!r}"
        )
    if status >= 400 or body.get("result") is not True:
        error = _CODE_ERRORS.get(code)
        if error is None:
            is_validation = code == 0 and any(hint in message for hint in _VALIDATION_HINTS)
            error = ValidationError if is_validation else APIError
        raise error(code, message or "unknown error", status)
    return body


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


def _task_ref(task: Task | str | int, *, token_key: str) -> dict[str, str]:
    if isinstance(task, Task):
        return {"taskid": str(task.id)} if task.id else {token_key: task.token}
    text = str(task)
    return {"taskid": text} if text.isdigit() else {token_key: text}


def _read_image(
    image: str | os.PathLike[str] | bytes | IO[bytes], default_name: str = "image"
) -> tuple[str, bytes]:
    if isinstance(image, bytes | bytearray):
        return (default_name, bytes(image))
    if isinstance(image, str | os.PathLike):
        path = Path(image)
        try:
            return (path.name, path.read_bytes())
        except OSError as exc:
            raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    name = getattr(image, "name", default_name)
    content = image.read()
    if not isinstance(content, bytes):
        raise InvalidInput("file objects must be opened in binary mode ('rb')")
    return (Path(str(name)).name, content)


def _download_target(target: Task | Output | str) -> tuple[str, int | None, str]:
    if isinstance(target, str):
        name = _safe_name(target.split("?", 1)[0].rsplit("/", 1)[-1], "download.mp4")
        return target, None, name
    if isinstance(target, Task):
        output = target.video
        if output is None:
            hint = "" if target.terminal else f" (status {target.status.value}; wait() first)"
            raise InvalidInput(f"task {target.id} has no output to download{hint}")
        suffix = Path(_safe_name(output.name, "0.mp4")).suffix or ".mp4"
        return output.url, output.size or None, f"hailuo-{target.id}{suffix}"
    return target.url, target.size or None, _safe_name(target.name, "output.mp4")


def _safe_name(name: str, default: str) -> str:
    """A file name from the server, reduced to its last component (no ``..``, no dirs)."""
    base = Path(name.replace("\\", "/")).name
    return base if base not in ("", ".", "..") else default


def _files(answer: Mapping[str, Any]) -> list[File]:
    entries = answer.get("list") or []
    files = [File.from_api(e) for e in entries if isinstance(e, Mapping)]
    if not files:
        raise APIError(0, f"expected a non-empty list, got {entries!r}", 200)
    return files


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
            try:
                return int(str(errors[0].get("code", 0)))
            except ValueError:
                return 0
    return 0
