"""The fake Wiro backend: one method per API action, and the engine that moves tasks along.

Never touches a request. The HTTP layer (:mod:`mock_wiro.http.routes`) parses, calls a
method here, and serialises; errors are :mod:`mock_wiro.errors` exceptions.

Threads: one engine thread applies due steps (and sleeps until the next one is
due on the fake clock); a small worker pool checks input images and renders
output videos, so neither slows a request. Reads call :meth:`Backend.pump`
first, so what a client reads is never staler than the clock.
"""

from __future__ import annotations

import heapq
import hmac
import json
import logging
import mimetypes
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from hashlib import sha256
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from ..errors import (
    AuthError,
    ConcurrencyLimitError,
    InsufficientBalanceError,
    NotFoundError,
    StateError,
    ValidationError,
)
from ..settings import (
    CANCELLABLE_STATUSES,
    CONCURRENCY_RATE,
    CONCURRENCY_UNLIMITED_ABOVE_USD,
    DEFAULT_DEMO_BALANCE_USD,
    EXTERNAL_PLACEHOLDER_SIZE,
    KILLED_PEXIT,
    MINIMUM_BALANCE_USD,
    MODEL_ID,
    MODEL_SLUG_OWNER,
    MODEL_SLUG_PROJECT,
    PRICE_TABLE_USD,
    SEED_CATEGORIES,
    TASK_ID_START,
    AuthMode,
    Settings,
)
from .clock import Clock
from .images import ImageRuleError, inspect_image
from .journal import Journal
from .lifecycle import (
    EARLY_FAIL_STAGES,
    HOLDABLE_STAGES,
    INTAKE,
    OUTPUTS,
    STATUS_IGNORED_TYPES,
    TIMESTAMP_FIELDS,
    Step,
    fail_after,
    failure_plan,
    success_plan,
    with_timings,
)
from .models import (
    Directives,
    DirectiveSource,
    Event,
    Folder,
    ImageRef,
    NoDirectives,
    Project,
    RenderResult,
    StoredFile,
    Task,
    hex_id,
    random_token,
    run_parameters,
)
from .params import RunParams
from .video import VideoRenderer, output_dimensions

log = logging.getLogger("mock_wiro")

__all__ = ["FAILED_PEXIT", "Backend", "TaskRef", "Upload", "concurrency_limit"]

FAILED_PEXIT = "1"  # [A] pexit of a task that failed (any non-zero value is a failure)
_ZERO = Decimal(0)  # Decimals are immutable: every task with no rate shares this one
_RENDER_CACHE_BYTES = 32 * 1024 * 1024
_ZIP_MAX_MEMBERS = 1000  # a ZIP upload is extracted [docs]; bounded against zip bombs
_NAME_SAFE = re.compile(r"[^A-Za-z0-9._ ()\-]+")
_OWN_FILE_PATH = re.compile(r"^/(v1/File|cdn)/([A-Za-z0-9]+)/([^/]+)$")
EventListener = Callable[[Task, Event], None]


@dataclass(frozen=True)
class Upload:
    """A file arriving in a request: its client-side name and a binary stream."""

    filename: str
    stream: IO[bytes]


@dataclass(frozen=True)
class TaskRef:
    """How a request names a task: any of the three keys [docs][clients]."""

    taskid: str = ""
    tasktoken: str = ""

    @classmethod
    def from_params(cls, params: dict[str, str]) -> TaskRef:
        """Read ``taskid``, ``tasktoken`` or ``socketaccesstoken`` from a request's fields."""
        token = params.get("tasktoken", "") or params.get("socketaccesstoken", "")
        ref = cls(taskid=params.get("taskid", "").strip(), tasktoken=token.strip())
        if not ref.taskid and not ref.tasktoken:
            raise ValidationError("taskid or socketaccesstoken is required")  # [docs]
        return ref


def concurrency_limit(balance: Decimal) -> int | None:
    """Tasks a project may run at once [docs]; None means unlimited."""
    if balance > CONCURRENCY_UNLIMITED_ABOVE_USD:
        return None
    return max(1, int((balance * CONCURRENCY_RATE).to_integral_value(rounding=ROUND_FLOOR)))


def safe_filename(name: str, default: str = "file") -> str:
    """A client file name reduced to a harmless base name (no paths, no odd characters)."""
    base = name.replace("\\", "/").split("/")[-1]
    base = _NAME_SAFE.sub("_", base).strip(" .")
    return base[:200] or default


def _money(value: Decimal) -> str:
    return f"{value:.12f}" if value else "0"  # [seed] 12 decimals; [contract] a failure's "0"


def _stamp(value: float | None) -> str:
    return str(int(value)) if value else "0"


def _interned(params: RunParams) -> RunParams:
    """``params`` with its choice fields (``768P``, ``6``: a few values, repeated by every
    task) interned, so the tasks a fake keeps share them instead of a copy each."""
    return replace(
        params, resolution=sys.intern(params.resolution), duration=sys.intern(params.duration)
    )


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
    ) -> None:
        self.settings = settings or Settings()
        self.clock = clock or Clock(self.settings.clock_mode, self.settings.speed)
        # Rendered videos are kept on disk (one file per size and duration), so the
        # renderer's in-memory cache of whole MP4s can stay small.
        self.renderer = renderer or VideoRenderer(max_cached_bytes=_RENDER_CACHE_BYTES)
        # Base of file URLs: the setting, else the server's address once bound, else the
        # first request's host (see adopt_host).
        self.public_url = (self.settings.public_url or "http://127.0.0.1").rstrip("/")
        self.public_url_fixed = self.settings.public_url is not None
        self._own_data_dir = self.settings.data_dir is None
        self.data_dir = Path(self.settings.data_dir or tempfile.mkdtemp(prefix="mock-wiro-"))
        (self.data_dir / "files").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "outputs").mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._projects: dict[str, Project] = {}  # by API key
        self._tasks: dict[str, Task] = {}
        self._tokens: dict[str, str] = {}  # token -> task id
        self._active: dict[str, Task] = {}
        self._files: dict[str, StoredFile] = {}  # by accesskey
        self._folders: dict[str, Folder] = {}
        self._next_task_id = TASK_ID_START
        self._next_project_id = 699
        self._listeners: list[EventListener] = []
        self._render_locks: dict[tuple[int, int, str], threading.Lock] = {}
        self._renders: dict[tuple[int, int, str], RenderResult] = {}
        self._timers: list[tuple[float, int, Callable[[], None]]] = []  # heap on fake time
        self._timer_seq = 0
        self._workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mock-wiro")
        self._closed = False
        self.journal = Journal(self.clock.now)
        self._closers: list[Callable[[], None]] = []
        self._resetters: list[Callable[[], None]] = []
        self.scenarios: DirectiveSource = scenarios if scenarios is not None else NoDirectives()
        """Edge cases matched at Run time (a :class:`mock_wiro.chaos.scenarios.ScenarioBook`,
        handed in by whoever builds the fake); reset clears them."""
        self.on_reset(self.scenarios.clear)
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ life
    def start(self) -> Backend:
        """Start the engine thread (idempotent)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._engine, name="mock-wiro-engine", daemon=True
                )
                self._thread.start()
        return self

    def close(self) -> None:
        """Stop the engine and workers; remove the data folder if the backend made it."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for action in self._closers:
            action()
        self._workers.shutdown(wait=True, cancel_futures=True)
        if self._own_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def on_reset(self, action: Callable[[], None]) -> None:
        """Run ``action`` (under the state lock) after :meth:`reset`."""
        self._resetters.append(action)

    def on_close(self, action: Callable[[], None]) -> None:
        """Run ``action`` when the backend closes (before the workers stop)."""
        self._closers.append(action)

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener(task, event)`` for every frame, under the state lock: it must not
        block (queue the work instead)."""
        with self._lock:
            self._listeners.append(listener)

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
        """Create a project (random credentials when not given)."""
        if auth_mode not in ("signature", "apikey"):
            raise ValidationError(f"auth mode must be signature or apikey, not {auth_mode!r}")
        with self._lock:
            key = api_key or random_token(32)
            if key in self._projects:
                raise ValidationError(f"a project with API key {key!r} already exists")
            project = Project(
                id=str(self._next_project_id),
                name=name or f"project-{self._next_project_id}",
                api_key=key,
                api_secret=api_secret or random_token(32),
                auth_mode=auth_mode,
                balance=Decimal(str(balance)),
            )
            self._next_project_id += 1
            self._projects[key] = project
            self._folders[project.root_folder_id] = Folder(
                project.root_folder_id, project.id, "uploads", "", self.clock.now()
            )
            return project

    def projects(self) -> list[Project]:
        """Every project."""
        with self._lock:
            return list(self._projects.values())

    def set_balance(self, project: Project, balance: Decimal | str | float) -> None:
        """Change a project's balance (to reach codes 96 and 97 in tests)."""
        with self._lock:
            project.balance = Decimal(str(balance))

    # ------------------------------------------------------------ authentication
    def authenticate(self, api_key: str, nonce: str, signature: str) -> Project:
        """The project these headers prove, or :class:`AuthError` with the documented
        message [docs]. The signature is compared in constant time."""
        project = self._projects.get(api_key) if api_key else None
        if project is None and api_key and not api_key.isascii():
            # WSGI hands header values over as latin-1; a UTF-8 key (as curl sends it)
            # arrives as mojibake, so look it up again as the UTF-8 it was sent as.
            try:
                project = self._projects.get(api_key.encode("latin-1").decode("utf-8"))
            except UnicodeError:
                project = None
        if project is None:
            raise AuthError("Project authorization is not founded.")
        if project.auth_mode == "apikey":
            return project
        if not signature or not nonce:
            raise AuthError(
                "Project requires signature authentication. "
                "x-signature and x-nonce headers are required."
            )
        if self.settings.accept_labelled_signature and "= " in signature:
            signature = signature.rsplit("= ", 1)[1]  # "SHA2-256(stdin)= <hex>" [seed]
        expected = hmac.new(
            project.api_key.encode(), (project.api_secret + nonce).encode(), sha256
        ).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
            raise AuthError("Project authorization is not valid.")
        if self.settings.reject_reused_nonce:
            with self._lock:
                if nonce in project.used_nonces:
                    raise AuthError("Project authorization is not valid.")
                project.used_nonces.add(nonce)
        return project

    # ------------------------------------------------------------ Run
    def run(
        self,
        project: Project,
        params: RunParams,
        upload: Upload | None = None,
        request_host: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> Task:
        """Queue a task (``Run/minimax/hailuo-2-3-fast``). ``headers`` (the request's)
        are what header-matched scenarios look at."""
        params = _interned(params)
        with self._lock:
            self._check_can_run(project)
        image_file = (
            self._store_stream(project, upload, prefix="inputImageFirst") if upload else None
        )
        with self._cond:
            try:
                self._check_can_run(project)  # again, atomically with the insert
            except Exception:
                if image_file is not None:
                    self._drop_file(image_file)
                raise
            now = self.clock.now()
            image = (
                ImageRef("file", self.url_for(image_file), image_file, owned=True)
                if image_file is not None
                else self._resolve_url(params.image_url, request_host)
            )
            task = Task(
                id=str(self._next_task_id),
                uuid=str(uuid.uuid4()),
                token=random_token(),
                project_id=project.id,
                params=params,
                image=image,
                status="task_queue",
                plan=list(INTAKE),
                last_time=now,
            )
            scenario = self.scenarios.match(
                project.api_key, project.id, params.prompt, headers or {}
            )
            early = scenario is not None and scenario.fail_stage in EARLY_FAIL_STAGES
            if scenario is not None:
                self._adopt_scenario(task, scenario)
            self._next_task_id += 1
            self._tasks[task.id] = task
            self._tokens[task.token] = task.id
            self._active[task.id] = task
            if not early:
                self._workers.submit(self._prepare, task)  # runs once we release the lock
            self._emit(task, "task_queue", now, None)
            if scenario is not None:
                self.journal.record(
                    "scenario", scenario=scenario.id, task=task.id, behaviour=scenario.behaviour()
                )
        return task

    def _adopt_scenario(self, task: Task, scenario: Directives) -> None:
        """Apply a matched scenario to a new task: its hold, its timings, and a failure
        decided before the image check (which then never runs)."""
        task.scenario = scenario
        task.hold_at = scenario.hold_stage
        stage = scenario.fail_stage
        if stage in EARLY_FAIL_STAGES:
            task.failure_pexit = scenario.fail_pexit
            task.plan = fail_after(task.plan, stage, scenario.fail_lines)
            task.failure = scenario.fail_message
            task.validated_at = task.rendered_at = task.last_time
            task.validated.set()
            task.rendered.set()
        task.plan = with_timings(task.plan, scenario.timing_map())

    def _check_can_run(self, project: Project) -> None:
        if project.balance < MINIMUM_BALANCE_USD:
            raise InsufficientBalanceError("Insufficient balance")  # [docs]
        limit = concurrency_limit(project.balance)
        active = sum(1 for t in self._active.values() if t.project_id == project.id)
        if limit is not None and active >= limit:
            raise ConcurrencyLimitError(
                "You have reached your concurrent task limit. With your current balance of "
                f"${project.balance:.2f}, you can run up to {limit} tasks at the same time. "
                "Add funds to increase your limit."
            )

    def _resolve_url(self, url: str, request_host: str) -> ImageRef:
        """An image URL: one of the fake's own files, or external (never fetched)."""
        try:
            parts = urlsplit(url)
        except ValueError as exc:  # "http://[::1": a malformed IPv6 host fails the task
            return ImageRef("missing", url, reason=f"invalid URL ({exc})")
        if parts.scheme not in ("http", "https"):
            return ImageRef("missing", url, reason=f"unsupported URL scheme {parts.scheme!r}")
        own_hosts = {urlsplit(self.public_url).netloc, request_host}
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        match = _OWN_FILE_PATH.match(parts.path)
        if parts.netloc in own_hosts or (loopback and match):
            stored = self._files.get(match.group(2)) if match else None
            route = "file" if match and match.group(1) == "v1/File" else "cdn"
            if (
                stored is None
                or stored.deleted
                or stored.route != route
                or stored.name != unquote(match.group(3) if match else "")
            ):
                return ImageRef("missing", url, reason="HTTP 404 Not Found")
            return ImageRef("file", url, stored)
        return ImageRef("external", url)

    # ------------------------------------------------------------ background work
    def _prepare(self, task: Task) -> None:
        """Worker: check the input image (preprocessing), then render the output video.
        Whatever happens, both gates open: an unexpected error fails the task."""
        try:
            self._prepare_unguarded(task)
        except BaseException as exc:
            log.exception("mock-wiro worker error")
            with self._cond:
                if not task.validated.is_set():
                    task.plan.extend(
                        failure_plan(task.params.resolution, task.params.duration, repr(exc))
                    )
                    task.validated_at = self.clock.now()
                    task.validated.set()
                task.failure = task.failure or f"Internal error while preparing the task: {exc!r}"
                task.rendered_at = self.clock.now()
                task.rendered.set()
                self._cond.notify_all()
            if not isinstance(exc, Exception):
                raise
        with self._cond:
            task.retire()  # a task cancelled or killed while this ran has ended meanwhile

    def _prepare_unguarded(self, task: Task) -> None:
        failure: str | None = None
        info = None
        size = EXTERNAL_PLACEHOLDER_SIZE
        image = task.image
        try:
            if image.kind == "missing":
                failure = f"Could not download input image {image.url!r}: {image.reason}"
            elif image.kind == "external":
                if self.settings.external_url_policy == "fail":
                    failure = (
                        f"Could not download input image {image.url!r}: mock-wiro does not "
                        "fetch external URLs (external_url_policy=fail)"
                    )
            elif image.file is not None:
                info = inspect_image(image.file.disk_path)
                size = (info.width, info.height)
        except ImageRuleError as exc:
            failure = f"{exc.message} (rule: {exc.rule})"
        except OSError as exc:
            failure = f"Could not read input image: {exc}"
        res, dur = task.params.resolution, task.params.duration
        scenario = task.scenario
        with self._cond:
            if self._tasks.get(task.id) is not task:
                return  # forgotten by a reset while its image was being checked
            task.image_info = info
            if failure:
                tail = failure_plan(res, dur, failure)
            elif scenario is not None and scenario.fail_stage is not None:
                # the scenario's failure comes after the image check (a bad image wins)
                full = fail_after(
                    [*INTAKE, *success_plan(res, dur)], scenario.fail_stage, scenario.fail_lines
                )
                tail = full[len(INTAKE) :]
                failure = scenario.fail_message
                task.failure_pexit = scenario.fail_pexit
            else:
                tail = success_plan(res, dur)
            task.failure = failure
            if scenario is not None:
                tail = with_timings(tail, scenario.timing_map())
            task.plan.extend(tail)
            task.validated_at = self.clock.now()
            task.validated.set()
            self._cond.notify_all()
            if failure or task.terminal:
                task.rendered.set()
                return
        width, height = output_dimensions(size[0], size[1], res)
        result: RenderResult | None = None
        try:
            result = self._render(width, height, dur)
        except Exception as exc:  # a render bug fails the task, never the server
            failure = f"Internal error while rendering the output video: {exc!r}"
        with self._cond:
            task.render = result
            if failure:
                task.failure = failure
            task.rendered_at = self.clock.now()
            task.rendered.set()
            self._cond.notify_all()

    def _render(self, width: int, height: int, duration: str) -> RenderResult:
        """The output video for this size, rendered once and kept on disk."""
        key = (width, height, duration)
        path = self.data_dir / "outputs" / f"{width}x{height}_{duration}s.mp4"
        with self._lock:
            lock = self._render_locks.setdefault(key, threading.Lock())
        with lock:
            if not path.exists():
                data = self.renderer.render(width, height, int(duration))
                tmp = path.with_suffix(".part")
                tmp.write_bytes(data)
                os.replace(tmp, path)
        result = RenderResult(path, path.stat().st_size, width, height)
        with self._lock:  # tasks of one size share one (equal) result: one Path, not one each
            known = self._renders.get(key)
            if known == result:
                return known
            self._renders[key] = result
        return result

    def _empty_output(self) -> Path:
        """A zero-byte output file (scenario ``outputs: empty``)."""
        path = self.data_dir / "outputs" / "empty.mp4"
        if not path.exists():
            path.write_bytes(b"")
        return path

    def _truncated_output(self, full: Path) -> Path:
        """The first half of a rendered video (scenario ``outputs: truncated``)."""
        path = full.with_name(full.stem + ".truncated.mp4")
        if not path.exists():
            data = full.read_bytes()
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data[: len(data) // 2])
            os.replace(tmp, path)
        return path

    # ------------------------------------------------------------ hold, release, push
    def hold(self, task: Task, stage: str) -> Task:
        """Stop the task just before its next ``stage`` step until :meth:`release`."""
        if stage not in HOLDABLE_STAGES:
            raise ValidationError(
                f"stage must be one of {', '.join(HOLDABLE_STAGES)}; got {stage!r}"
            )
        with self._cond:
            self._pump_locked()
            if task.terminal:
                raise StateError(f"task {task.id} has already ended ({task.status})")
            repeated = stage in ("task_output", "task_error")
            if not repeated and any(e.type == stage for e in task.events):
                raise StateError(f"task {task.id} is already past {stage} ({task.status})")
            if task.validated.is_set() and stage not in (s.type for s in task.plan[task.cursor :]):
                raise StateError(f"task {task.id} will not reach {stage} ({task.status})")
            task.hold_at = stage
            self._cond.notify_all()
            return task

    def release(self, task: Task) -> str | None:
        """Let a held task go on (its held stage comes no earlier than now). Returns the
        stage it was held at (None if it was not held)."""
        with self._cond:
            held = task.hold_at
            if held is not None:
                task.hold_at = None
                task.not_before = max(task.not_before, self.clock.now())
                self._pump_locked()
                self._cond.notify_all()
            return held

    def push(self, task: Task, stage: str, *, timeout: float = 30.0) -> Task:
        """Apply every step up to and including the task's next ``stage`` step now, all
        stamped with the current fake time (never before the task's last frame). Waits
        (bounded) for the image check or the render when a pushed step needs it; passes
        through a hold. Later steps follow at their usual delays from there."""
        if stage not in HOLDABLE_STAGES:
            raise ValidationError(
                f"stage must be one of {', '.join(HOLDABLE_STAGES)}; got {stage!r}"
            )
        deadline = time.monotonic() + timeout
        with self._cond:
            self._pump_locked()
            if task.terminal:
                raise StateError(f"task {task.id} has already ended ({task.status})")
            # the plan after preprocessing is known once the image is checked
            while stage not in (s.type for s in task.plan[task.cursor :]):
                if self._tasks.get(task.id) is not task:
                    raise StateError(f"task {task.id} was forgotten by a reset")
                if task.validated.is_set() or task.terminal:
                    raise StateError(f"task {task.id} will not reach {stage} ({task.status})")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StateError(f"task {task.id}: its image check took over {timeout}s")
                self._cond.wait(remaining)
            start = len(task.events)
            while (
                not task.terminal
                and self._tasks.get(task.id) is task  # not forgotten by a reset meanwhile
                and not any(e.type == stage for e in task.events[start:])
            ):
                step = task.next_step()
                if step is None:
                    break
                if not self._gate_open(task, step):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise StateError(
                            f"task {task.id}: the work before {step.type} took over {timeout}s"
                        )
                    self._cond.wait(remaining)
                    continue
                if task.hold_at == step.type:
                    task.hold_at = None  # an explicit push passes a hold
                task.cursor += 1
                self._apply(task, step, max(self.clock.now(), task.last_time))
            return task

    # ------------------------------------------------------------ the engine
    def _engine(self) -> None:
        with self._cond:
            while not self._closed:
                try:
                    self._pump_locked()
                    wake = self._next_wake_locked()
                except Exception:  # a bug must not stop every task for good
                    log.exception("mock-wiro engine error")
                    wake = 1.0
                self._cond.wait(wake)

    def _next_wake_locked(self) -> float:
        wake = 1.0  # re-check at least every second (mode switches, etc.)
        scale = self.clock.stage_scale
        if self._timers:
            wait = self.clock.wall_seconds_until(self._timers[0][0])
            if wait is not None:
                wake = min(wake, wait)
        for task in self._active.values():
            step = task.next_step()
            if step is None or not self._gate_open(task, step) or self._held(task, step):
                continue
            due = max(task.last_time + step.delay * scale, task.not_before)
            wait = self.clock.wall_seconds_until(due)
            if wait is not None:
                wake = min(wake, wait)
        return max(wake, 0.0)

    @staticmethod
    def _held(task: Task, step: Step) -> bool:
        return task.hold_at is not None and step.type == task.hold_at

    @staticmethod
    def _gate_open(task: Task, step: Step) -> bool:
        if step.gate == "validated":
            return task.validated.is_set()
        if step.gate == "rendered":
            return task.rendered.is_set()
        return True

    def call_at(self, fake_time: float, action: Callable[[], None]) -> None:
        """Run ``action`` (under the state lock; it must not block) once the fake clock
        reaches ``fake_time``: retries and other timed work share the one engine."""
        with self._cond:
            self._timer_seq += 1
            heapq.heappush(self._timers, (fake_time, self._timer_seq, action))
            self._cond.notify_all()

    def pump(self) -> None:
        """Apply every step that is due on the fake clock, and wake the engine to work out
        its next wake-up again: the clock may have just changed mode or speed (a switch
        to realtime would otherwise wait out the engine's idle second)."""
        with self._cond:
            self._pump_locked()
            self._cond.notify_all()

    def _pump_locked(self) -> None:
        now = self.clock.now()
        scale = self.clock.stage_scale
        # Background work (image check, render) takes fake time only on a running clock;
        # with a manual or instant clock it is done "between ticks".
        realtime = self.clock.mode == "realtime"
        while self._timers and self._timers[0][0] <= now:
            action = heapq.heappop(self._timers)[2]
            try:
                action()
            except Exception:
                log.exception("mock-wiro timer error")
        for task in list(self._active.values()):
            while (
                (step := task.next_step()) is not None
                and self._gate_open(task, step)
                and not self._held(task, step)
            ):
                due = max(task.last_time + step.delay * scale, task.not_before)
                if realtime and step.gate is not None:
                    gate_time = task.validated_at if step.gate == "validated" else task.rendered_at
                    due = max(due, gate_time)
                when = due
                if when > now:
                    break
                task.cursor += 1
                self._apply(task, step, min(when, now))

    def _apply(self, task: Task, step: Step, when: float) -> None:
        message = step.message
        if step.type == "task_output":
            task.stdout.append(message if isinstance(message, str) else json.dumps(message))
        elif step.type == "task_error":
            task.stderr.append(str(message))
        elif step.type == "task_output_full":
            message = {"raw": "\n".join(task.stdout)}
        elif step.type == "task_error_full":
            message = {"raw": "\n".join(task.stderr)}
        elif step.type == "task_end":
            task.elapsed = when - task.times.get("starttime", when)
        elif step.type == "task_postprocess_end":
            self._finish(task, when)
        if message is OUTPUTS:
            message = [self.output_to_wire(task, f) for f in task.outputs]
        self._emit(task, step.type, when, message)

    def _finish(self, task: Task, when: float) -> None:
        """The end of postprocessing: outputs and billing on success [docs]."""
        if task.failure is None and task.render is not None:
            render = task.render
            output = StoredFile(
                id=hex_id(),
                project_id=task.project_id,
                name="0.mp4",  # [A] the seed's outputs are named 0.<ext>
                contenttype="video/mp4",
                size=render.size,
                parentid=hex_id(),
                accesskey=random_token(),
                addedtime=when,
                disk_path=render.path,
                route="cdn",
            )
            fault = task.scenario.outputs if task.scenario is not None else None
            if fault == "empty":
                output.disk_path, output.size = self._empty_output(), 0
            elif fault == "truncated":  # the URL serves half of ``size``
                output.disk_path = self._truncated_output(render.path)
            if fault != "download_404":  # not registered: its URL answers 404
                self._files[output.accesskey] = output
            task.outputs = [] if fault == "missing" else [output]
            price = PRICE_TABLE_USD[(task.params.resolution, task.params.duration)]
            task.totalcost = price
            # cps * elapsedseconds == totalcost, as in the seed; no rate for zero time
            task.cps = price / Decimal(str(task.elapsed)) if task.elapsed > 0 else _ZERO
            project = self._project_by_id(task.project_id)
            project.balance -= price  # only successful tasks are billed [docs]
        else:
            task.pexit = task.failure_pexit or FAILED_PEXIT
            if task.failure and task.failure not in task.stderr:
                task.stderr.append(task.failure)

    def _emit(self, task: Task, type_: str, when: float, message: object) -> None:
        assert not task.retired, f"task {task.id} has ended: it gets no more frames"
        history = task.history()  # the live lists and dict
        if type_ in TIMESTAMP_FIELDS:
            history.times[TIMESTAMP_FIELDS[type_]] = when
        if type_ not in STATUS_IGNORED_TYPES:
            task.status = type_
        task.last_time = when
        event = Event(type_, when, message)
        history.events.append(event)
        if task.terminal:
            self._active.pop(task.id, None)
        for listener in self._listeners:
            try:
                listener(task, event)
            except Exception:  # one broken listener must not stall the lifecycle
                log.exception("mock-wiro listener error")
        if task.terminal:
            task.retire()  # packs its history (once its image check and render are done)
        self._cond.notify_all()

    def advance(self, seconds: float, *, timeout: float = 30.0) -> float:
        """Move the clock forward and apply everything due, waiting for background work
        that is due (image checks, renders), so that it takes no fake time. Returns now."""
        now = self.clock.advance(seconds)
        self.settle(timeout=timeout)
        return now

    def settle(self, *, timeout: float = 30.0) -> None:
        """Apply every due step, first waiting (bounded) for the background work they need.
        Woken by the workers' notifications, never by polling."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                self._pump_locked()
                if not self._blocked_on_work_locked():
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    def _blocked_on_work_locked(self) -> bool:
        """True if some task's due step waits for an image check or a render."""
        now = self.clock.now()
        scale = self.clock.stage_scale
        for task in self._active.values():
            step = task.next_step()
            if (
                step is not None
                and not self._gate_open(task, step)
                and not self._held(task, step)
                and task.last_time + step.delay * scale <= now
            ):
                return True
        return False

    def wait_for(
        self, task: Task, statuses: Iterable[str] | None = None, timeout: float = 30.0
    ) -> bool:
        """Block until the task reaches one of ``statuses`` (default: terminal). No sleeps:
        woken by the engine. Returns False on timeout."""
        wanted = set(statuses) if statuses is not None else None

        def reached() -> bool:
            return task.terminal if wanted is None else task.status in wanted

        with self._cond:
            # also wake when it can never happen: the task ended elsewhere, was reset away,
            # or the backend closed
            self._cond.wait_for(
                lambda: (
                    reached()
                    or task.terminal
                    or self._tasks.get(task.id) is not task
                    or self._closed
                ),
                timeout=timeout,
            )
            return reached()

    # ------------------------------------------------------------ Task/*
    def _project_by_id(self, project_id: str) -> Project:
        return next(p for p in self._projects.values() if p.id == project_id)

    def find_task(self, project: Project, ref: TaskRef) -> Task:
        """The project's task named by ``ref`` (another project's is not found) [docs]."""
        with self._lock:
            self._pump_locked()
            task_id = ref.taskid or self._tokens.get(ref.tasktoken, "")
            task = self._tasks.get(task_id)
            if task is None or task.project_id != project.id:
                raise NotFoundError("There is no task yet.")
            if ref.taskid and ref.tasktoken and task.token != ref.tasktoken:
                raise NotFoundError("There is no task yet.")
            return task

    @property
    def state_lock(self) -> threading.Condition:
        """The lock guarding all state (re-entrant); listeners run under it."""
        return self._cond

    def task_by_token(self, token: str) -> Task | None:
        """Any project's task by its socketaccesstoken (the socket's credential [docs])."""
        with self._lock:
            task_id = self._tokens.get(token)
            return self._tasks.get(task_id) if task_id else None

    def task_by_id(self, task_id: str) -> Task | None:
        """Any project's task (for the control surface)."""
        with self._lock:
            return self._tasks.get(task_id)

    def cancel(self, project: Project, ref: TaskRef) -> Task:
        """Task/Cancel: only a task still in the queue [docs]."""
        with self._cond:
            task = self.find_task(project, ref)
            refused = task.scenario is not None and task.scenario.cancel_refused
            if task.status not in CANCELLABLE_STATUSES or refused:
                raise StateError("Task is not in a cancellable state.")  # [docs]
            self._stop(task, pexit="0")
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
            self._stop(task, pexit=KILLED_PEXIT)
            return task

    def _stop(self, task: Task, pexit: str) -> None:
        task.cursor = len(task.plan)
        task.pexit = pexit
        task.outputs = []
        self._emit(task, "task_cancel", max(self.clock.now(), task.last_time), None)

    def list_tasks(
        self, project: Project, *, start: int = 0, limit: int = 20, descending: bool = True
    ) -> tuple[int, list[Task]]:
        """Task/List: the project's tasks, newest first by default, and their total."""
        with self._lock:
            self._pump_locked()
            mine = [t for t in self._tasks.values() if t.project_id == project.id]
            mine.sort(key=lambda t: int(t.id), reverse=descending)
            return len(mine), mine[start : start + limit]

    def input_output_delete(self, project: Project, ref: TaskRef) -> Task:
        """Task/InputOutputDelete: drop a finished task's files; idempotent [docs]."""
        with self._lock:
            task = self.find_task(project, ref)
            if not task.terminal:
                raise StateError(
                    f"Task is still running ({task.status}); its files can be deleted "
                    "once it has finished."
                )  # [A] message
            owned_input = [task.image.file] if task.image.owned and task.image.file else []
            for stored in [*task.outputs, *owned_input]:
                self._drop_file(stored)
            task.files_deleted = True
            return task

    # ------------------------------------------------------------ files
    def folder_create(self, project: Project, name: str, parentid: str = "") -> Folder:
        """File/FolderCreate."""
        name = name.strip()
        if not name:
            raise ValidationError("Request parameter [name] required")
        with self._lock:
            parent = parentid or project.root_folder_id
            self._folder(project, parent)
            folder = Folder(
                hex_id(), project.id, safe_filename(name, "folder"), parent, self.clock.now()
            )
            self._folders[folder.id] = folder
            return folder

    def _folder(self, project: Project, folder_id: str) -> Folder:
        folder = self._folders.get(folder_id)
        if folder is None or folder.project_id != project.id:
            raise NotFoundError(f"There is no folder with id {folder_id!r}.")  # [A] message
        return folder

    def upload(self, project: Project, upload: Upload, folderid: str = "") -> list[StoredFile]:
        """File/Upload: store a file (a ZIP is extracted [docs]); returns what was stored."""
        with self._lock:
            folder = self._folder(project, folderid or project.root_folder_id)
        stored = self._store_stream(project, upload, parentid=folder.id)
        if not zipfile.is_zipfile(stored.disk_path) or not stored.name.lower().endswith(".zip"):
            return [stored]
        try:
            return self._extract_zip(project, stored, folder.id)
        finally:
            self._drop_file(stored)

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
            if len(members) > _ZIP_MAX_MEMBERS:
                raise ValidationError(
                    f"ZIP upload has {len(members)} files; at most {_ZIP_MAX_MEMBERS} are extracted"
                )
            total = sum(m.file_size for m in members)
            if total > limit:
                raise ValidationError(
                    f"ZIP upload expands to {total} bytes; the limit is {limit} bytes "
                    f"({limit / 2**20:.3g} MB)"
                )
            stored: list[StoredFile] = []
            try:
                for member in members:
                    with zf.open(member) as src:
                        stored.append(
                            self._store_stream(
                                project, Upload(member.filename, src), parentid=parentid
                            )
                        )
            except Exception as exc:  # corrupt data (zlib.error), encrypted, unknown method
                for item in stored:
                    self._drop_file(item)
                raise ValidationError(f"ZIP upload could not be extracted: {exc}") from exc
            return stored

    def _store_stream(
        self, project: Project, upload: Upload, *, parentid: str = "", prefix: str = ""
    ) -> StoredFile:
        """Copy a stream to disk, never holding more than a chunk in memory, within the
        upload limit [docs: 100 MB]."""
        limit = self.settings.upload_max_bytes
        name = safe_filename(upload.filename)
        if prefix:  # the seed names a Run's input file like "inputImage-6060136.png"
            ext = os.path.splitext(name)[1].lower()[:8]
            name = f"{prefix}-{int.from_bytes(os.urandom(3), 'big') % 10_000_000:07d}{ext}"
        file_id = hex_id()
        path = self.data_dir / "files" / file_id
        size = 0
        try:
            with open(path, "wb") as out:
                while chunk := upload.stream.read(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        break
                    out.write(chunk)
        except BaseException:  # a stream that fails mid-copy (a corrupt ZIP member)
            path.unlink(missing_ok=True)
            raise
        if size > limit:
            path.unlink(missing_ok=True)
            raise ValidationError(
                f"File {name!r} is larger than the upload limit of {limit} bytes "
                f"({limit / 2**20:.3g} MB)"
            )
        stored = StoredFile(
            id=file_id,
            project_id=project.id,
            name=name,
            contenttype=mimetypes.guess_type(name)[0] or "application/octet-stream",
            size=size,
            parentid=parentid or project.root_folder_id,
            accesskey=random_token(),
            addedtime=self.clock.now(),
            disk_path=path,
            route="file",
        )
        with self._lock:
            self._files[stored.accesskey] = stored
        return stored

    def _drop_file(self, stored: StoredFile) -> None:
        with self._lock:
            stored.deleted = True
            self._files.pop(stored.accesskey, None)
        if stored.route == "file":  # outputs share one rendered file per size
            stored.disk_path.unlink(missing_ok=True)

    def public_file(self, route: str, accesskey: str, name: str) -> StoredFile | None:
        """The file a public URL names, if it exists (the access key is the credential)."""
        with self._lock:
            stored = self._files.get(accesskey)
        if stored is None or stored.deleted or stored.route != route or stored.name != name:
            return None
        return stored

    # ------------------------------------------------------------ wire shapes
    def adopt_host(self, host_url: str) -> None:
        """Use a request's host for file URLs when nothing fixed the public URL."""
        if not self.public_url_fixed:
            self.public_url = host_url.rstrip("/")
            self.public_url_fixed = True

    def url_for(self, stored: StoredFile) -> str:
        """The public URL of a stored file."""
        return self.public_url + stored.path()

    def output_to_wire(self, task: Task, stored: StoredFile) -> dict[str, Any]:
        """An output object, in the seed's shape."""
        return {
            "id": stored.id,
            "name": stored.name,
            "contenttype": stored.contenttype,
            "parentid": stored.parentid,
            "uuid": task.uuid,
            "size": str(stored.size),
            "addedtime": _stamp(stored.addedtime),
            "modifiedtime": _stamp(stored.addedtime),
            "accesskey": stored.accesskey,
            "foldercount": "0",
            "filecount": "0",
            "ispublic": 0,
            "expiretime": None,
            "url": self.url_for(stored),
        }

    def file_to_wire(self, stored: StoredFile) -> dict[str, Any]:
        """A File/Upload list item [docs]."""
        return {
            "id": stored.id,
            "name": stored.name,
            "contenttype": stored.contenttype,
            "size": str(stored.size),
            "parentid": stored.parentid,
            "url": self.url_for(stored),
            "addedtime": _stamp(stored.addedtime),
            "accesskey": stored.accesskey,
        }

    def folder_to_wire(self, folder: Folder) -> dict[str, Any]:
        """A File/FolderCreate list item [docs]."""
        return {
            "id": folder.id,
            "name": folder.name,
            "parentid": folder.parentid,
            "size": "0",
            "contenttype": "",
            "addedtime": _stamp(folder.addedtime),
        }

    def task_to_wire(self, task: Task) -> dict[str, Any]:
        """A Task/Detail ``tasklist`` item, every field in the seed's order and type."""
        with self._lock:
            outputs = [] if task.files_deleted else list(task.outputs)
            params, image, history = task.snapshot()  # one unpacking, if it was retired
            times = history.times
            return {
                "id": task.id,
                "uuid": task.uuid,
                "name": "",
                "socketaccesstoken": task.token,
                "parameters": run_parameters(params, image),
                "debugoutput": "\n".join(history.stdout),
                "debugerror": "\n".join(history.stderr),
                "starttime": _stamp(times.get("starttime")),
                "endtime": _stamp(times.get("endtime")),
                "elapsedseconds": f"{task.elapsed:.4f}",
                "status": task.status,
                "cps": _money(task.cps),
                "totalcost": _money(task.totalcost),
                "guestid": None,
                "projectid": task.project_id,
                "modelid": MODEL_ID,
                "description": "",
                "basemodelid": "0",
                "runtype": "model",
                "modelfolderid": "",
                "modelfileid": "",
                "callbackurl": params.callback_url,
                "marketplaceid": None,
                "createtime": _stamp(times.get("createtime")),
                "canceltime": _stamp(times.get("canceltime")),
                "assigntime": _stamp(times.get("assigntime")),
                "accepttime": _stamp(times.get("accepttime")),
                "preprocessstarttime": _stamp(times.get("preprocessstarttime")),
                "preprocessendtime": _stamp(times.get("preprocessendtime")),
                "postprocessstarttime": _stamp(times.get("postprocessstarttime")),
                "postprocessendtime": _stamp(times.get("postprocessendtime")),
                "pexit": task.pexit,
                "categories": SEED_CATEGORIES,
                "outputs": [self.output_to_wire(task, o) for o in outputs],
                "size": str(sum(o.size for o in outputs)),
                "modeldescription": "MiniMax Hailuo 2.3 Fast image-to-video",
                "modelslugowner": MODEL_SLUG_OWNER,
                "modelslugproject": MODEL_SLUG_PROJECT,
            }

    # ------------------------------------------------------------ control
    def reset(self) -> None:
        """Forget every task, file and folder (projects stay)."""
        with self._cond:
            for task in self._active.values():
                task.cursor = len(task.plan)
            self._tasks.clear()
            self._tokens.clear()
            self._active.clear()
            for stored in list(self._files.values()):
                if stored.route == "file":
                    stored.disk_path.unlink(missing_ok=True)
            self._files.clear()
            self._folders = {
                p.root_folder_id: Folder(p.root_folder_id, p.id, "uploads", "", self.clock.now())
                for p in self._projects.values()
            }
            self._timers.clear()
            self.journal.clear()
            for action in self._resetters:
                action()
            self._cond.notify_all()

    def all_tasks(self) -> list[Task]:
        """Every project's tasks, oldest first."""
        with self._lock:
            self._pump_locked()
            return sorted(self._tasks.values(), key=lambda t: int(t.id))
