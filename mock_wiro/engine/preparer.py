"""The background work of a task: the input image check (preprocessing), the output
render, and the plan that the check decides.

A small worker pool runs it, so neither slows a request. Whatever happens, a task's
two gates (``validated``, ``rendered``) open: an unexpected error fails the task.
Rendered videos are kept on disk, one file per size and duration (folder 0700, files 0600).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..settings import EXTERNAL_PLACEHOLDER_SIZE
from .context import Context
from .files import private_dir, write_private
from .images import ImageInfo, ImageRuleError, inspect_image
from .lifecycle import EARLY_FAIL_STAGES, Plan, build_plan
from .models import RenderResult, Task
from .video import VideoRenderer, output_dimensions

__all__ = ["Offload", "Preparer", "plan_for"]

log = logging.getLogger("mock_wiro")
_RenderKey = tuple[int, int, str]
_T = TypeVar("_T")


class Offload(Protocol):
    """Runs ``fn(*args)`` and returns its result (perhaps in another thread)."""

    def __call__(self, fn: Callable[..., _T], /, *args: Any) -> _T: ...


def _call(fn: Callable[..., _T], /, *args: Any) -> _T:
    return fn(*args)


def plan_for(task: Task, error: str | None = None) -> Plan:
    """The task's plan, from its parameters, its scenario and the image check's
    ``error`` (if any: a bad image wins over the scenario's failure)."""
    params, scenario = task.params, task.scenario
    if scenario is None:
        return build_plan(params.resolution, params.duration, error=error)
    return build_plan(
        params.resolution,
        params.duration,
        error=error,
        fail_stage=scenario.fail_stage,
        fail_lines=scenario.fail_lines,
        fail_message=scenario.fail_message,
        fail_pexit=scenario.fail_pexit,
        timings=scenario.timing_map(),
    )


def _untouched(task: Task) -> None:
    """No scheduler told (a preparer on its own)."""


class Preparer:
    """Checks input images and renders output videos on a worker pool."""

    def __init__(self, ctx: Context, renderer: VideoRenderer, workers: int) -> None:
        self.settings = ctx.settings
        self.renderer = renderer
        self._store, self._cond, self._clock = ctx.store, ctx.lock, ctx.clock
        self._dir = private_dir(ctx.data_dir / "outputs")
        self._render_locks: dict[_RenderKey, threading.Lock] = {}
        self._renders: dict[_RenderKey, RenderResult] = {}
        self._workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mock-wiro")
        self.offload: Offload = _call
        """How the CPU work (the image check, the MP4 render: pure calls that touch no
        state) is run: called in place by default; under gevent, in its pool of native
        threads, so an encode never stalls the event loop (``mock_wiro.gevent_server``)."""
        self.touch: Callable[[Task], None] = _untouched
        """Told (under the state lock) of a task whose gate opened or whose plan grew: the
        scheduler's :meth:`~.scheduler.Scheduler.touch` (its next due step is looked at
        again)."""

    def begin(self, task: Task) -> None:
        """Give a new task (under the state lock) its plan up to the image check, and
        start its preparation on a worker (once the caller releases the lock); or, when
        its scenario fails it before the image check, its whole plan (no work runs)."""
        plan = plan_for(task)
        scenario = task.scenario
        if scenario is not None:
            task.hold_at = scenario.hold_stage
        if scenario is None or scenario.fail_stage not in EARLY_FAIL_STAGES:
            task.plan = plan.intake
            self._workers.submit(self._prepare, task)
            return
        task.plan = [*plan.intake, *plan.tail]
        task.failure, task.failure_pexit = plan.failure, plan.failure_pexit
        task.validated_at = task.rendered_at = task.last_time
        task.validated.set()
        task.rendered.set()
        self.touch(task)

    def resume(self, task: Task) -> None:
        """Carry on with the preparation of an active task a durable store kept (at
        start, under the state lock): its image check if it was not done, else its render
        if that was not (the kept plan is the one the check made)."""
        if not task.validated.is_set():
            self._workers.submit(self._prepare, task)
        elif not task.rendered.is_set():
            self._workers.submit(self._render_only, task)

    def _render_only(self, task: Task) -> None:
        """Worker: render the output of a task whose image check was done before a restart."""
        try:
            self._render_task(task, task.image_info)
        except BaseException as exc:
            self._worker_failed(task, exc)
        with self._cond:
            task.retire()

    def close(self) -> None:
        """Stop the workers (work not started is dropped)."""
        self._workers.shutdown(wait=True, cancel_futures=True)

    def _prepare(self, task: Task) -> None:
        """Worker: check the input image, then render the output video."""
        try:
            self._prepare_unguarded(task)
        except BaseException as exc:
            self._worker_failed(task, exc)
        with self._cond:
            task.retire()  # a task cancelled or killed while this ran has ended meanwhile

    def _worker_failed(self, task: Task, exc: BaseException) -> None:
        """An unexpected error in a worker fails the task, never the server: its plan
        becomes a failure's if the image check had not decided it, and both gates open.
        A BaseException that is not an Exception (KeyboardInterrupt) goes on up."""
        log.exception("mock-wiro worker error")
        with self._cond:
            if not task.validated.is_set():
                task.plan.extend(plan_for(task, error=repr(exc)).tail)
                task.validated_at = self._clock.now()
                task.validated.set()
            task.failure = task.failure or f"Internal error while preparing the task: {exc!r}"
            task.rendered_at = self._clock.now()
            task.rendered.set()
            self.touch(task)  # (not if a reset forgot it meanwhile: its id may be reused)
            self._cond.notify_all()
        if not isinstance(exc, Exception):
            raise exc

    def _check_image(self, task: Task) -> tuple[ImageInfo | None, str | None]:
        """The input image's facts, or why the task fails (preprocessing)."""
        image = task.image
        try:
            if image.kind == "missing":
                return None, f"Could not download input image {image.url!r}: {image.reason}"
            if image.kind == "external":
                if self.settings.external_url_policy == "fail":
                    return None, (
                        f"Could not download input image {image.url!r}: mock-wiro does not "
                        "fetch external URLs (external_url_policy=fail)"
                    )
            elif image.file is not None:
                return self.offload(inspect_image, image.file.disk_path), None
        except ImageRuleError as exc:
            return None, f"{exc.message} (rule: {exc.rule})"
        except OSError as exc:
            return None, f"Could not read input image: {exc}"
        return None, None

    def _prepare_unguarded(self, task: Task) -> None:
        info, error = self._check_image(task)
        with self._cond:
            if self._store.task(task.id) is not task:
                return  # forgotten by a reset while its image was being checked
            task.image_info = info
            plan = plan_for(task, error)
            task.failure = plan.failure
            if plan.failure_pexit is not None:
                task.failure_pexit = plan.failure_pexit
            task.plan.extend(plan.tail)
            task.validated_at = self._clock.now()
            task.validated.set()
            if plan.failure or task.terminal:
                task.rendered.set()
            self.touch(task)
            # kept with the next commit (a crash before it: the check is done again)
            self._store.save_task_later(task)
            self._cond.notify_all()
            if task.rendered.is_set():
                return
        self._render_task(task, info)

    def _render_task(self, task: Task, info: ImageInfo | None) -> None:
        """Render the task's output video (the size its image check found) and open its
        ``rendered`` gate."""
        size = (info.width, info.height) if info is not None else EXTERNAL_PLACEHOLDER_SIZE
        width, height = output_dimensions(size[0], size[1], task.params.resolution)
        result: RenderResult | None = None
        failure = None
        try:
            result = self._render(width, height, task.params.duration)
        except Exception as exc:  # a render bug fails the task, never the server
            failure = f"Internal error while rendering the output video: {exc!r}"
        with self._cond:
            task.render = result
            if failure:
                task.failure = failure
            task.rendered_at = self._clock.now()
            task.rendered.set()
            if self._store.task(task.id) is not task:
                return  # forgotten by a reset while it rendered: its id may be reused
            self.touch(task)
            self._store.save_task_later(task)  # as above: rendered again if lost
            self._cond.notify_all()

    def _render(self, width: int, height: int, duration: str) -> RenderResult:
        """The output video for this size, rendered once and kept on disk."""
        key = (width, height, duration)
        path = self._dir / f"{width}x{height}_{duration}s.mp4"
        with self._cond:
            lock = self._render_locks.setdefault(key, threading.Lock())
        with lock:
            if not path.exists():
                data = self.offload(self.renderer.render, width, height, int(duration))
                tmp = path.with_suffix(".part")
                write_private(tmp, data)
                os.replace(tmp, path)
        result = RenderResult(path, path.stat().st_size, width, height)
        with self._cond:  # tasks of one size share one (equal) result: one Path, not one each
            known = self._renders.get(key)
            if known == result:
                return known
            self._renders[key] = result
        return result

    def empty_output(self) -> Path:
        """A zero-byte output file (scenario ``outputs: empty``)."""
        path = self._dir / "empty.mp4"
        if not path.exists():
            write_private(path, b"")
        return path

    @staticmethod
    def truncated_output(full: Path) -> Path:
        """The first half of a rendered video (scenario ``outputs: truncated``)."""
        path = full.with_name(full.stem + ".truncated.mp4")
        if not path.exists():
            data = full.read_bytes()
            tmp = path.with_suffix(".part")
            write_private(tmp, data[: len(data) // 2])
            os.replace(tmp, path)
        return path
