"""Applying a task's steps: its frames, its output lines, its outputs and its bill.

Everything here runs under the backend's state lock; listeners (the socket hub, the
callback dispatcher) are told of every frame, and must not block.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal

from ..errors import StorageError
from .admission import price_of
from .context import Context
from .files import FileStore
from .jsontext import dumps_with
from .lifecycle import OUTPUTS, STATUS_IGNORED_TYPES, TIMESTAMP_FIELDS, Step
from .models import Event, StoredFile, Task, hex_id, output_record, random_token
from .preparer import Preparer

__all__ = ["FAILED_PEXIT", "EventListener", "Stepper"]

log = logging.getLogger("mock_wiro")
FAILED_PEXIT = "1"  # [A] pexit of a task that failed (any non-zero value is a failure)
_ZERO = Decimal(0)  # Decimals are immutable: every task with no rate shares this one
EventListener = Callable[[Task, Event], None]


_line_text = dumps_with(", ", ": ")  # json.dumps(value)'s own separators


def output_line(message: object) -> str:
    """A non-text message as the task's output line: ``json.dumps(message)``'s text."""
    return _line_text(message)


class Stepper:
    """Turns a due step into the task's next frame."""

    def __init__(self, ctx: Context, files: FileStore, preparer: Preparer) -> None:
        self._store, self._cond, self._clock = ctx.store, ctx.lock, ctx.clock
        self._files = files
        self._preparer = preparer
        self._listeners: list[EventListener] = []
        self._flushes: list[Callable[[], None]] = []  # after a group of frames is told
        self._held: list[tuple[Task, Event]] = []  # frames not told yet (kept or not)
        self._deferring = 0  # inside deferred(): frames are told when it ends
        self._ended: deque[Task] = deque()  # told their last frame, not retired yet

    def add_listener(
        self, listener: EventListener, *, flush: Callable[[], None] | None = None
    ) -> None:
        """Call ``listener(task, event)`` for every frame, under the state lock, and
        ``flush()`` (if given) once the frames told together have all been told."""
        with self._cond:
            self._listeners.append(listener)
            if flush is not None:
                self._flushes.append(flush)

    def outputs(self, task: Task) -> list[dict[str, object]]:
        """The task's output objects, as the task_postprocess_end frame carries them."""
        return [output_record(f, task.uuid, self._files.url_for(f)) for f in task.outputs]

    def apply(self, task: Task, step: Step, when: float) -> None:
        """Apply ``step`` (the task's cursor is already past it) at fake time ``when``."""
        message = step.message
        if step.type == "task_output":
            task.stdout.append(message if isinstance(message, str) else output_line(message))
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
            message = self.outputs(task)
        self.emit(task, step.type, when, message)

    def stop(self, task: Task, pexit: str) -> None:
        """End the task at task_cancel now (Task/Cancel, Task/Kill)."""
        task.cursor = len(task.plan)
        task.pexit = pexit
        task.outputs = []
        self.emit(task, "task_cancel", max(self._clock.now(), task.last_time), None)

    def _output(self, task: Task, when: float) -> StoredFile | None:
        """The output file of a rendered task, with the scenario's output fault."""
        render = task.render
        assert render is not None
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
            output.disk_path, output.size = self._preparer.empty_output(), 0
        elif fault == "truncated":  # the URL serves half of ``size``
            output.disk_path = self._preparer.truncated_output(render.path)
        if fault != "download_404":  # not registered: its URL answers 404
            self._files.add(output)
        return None if fault == "missing" else output

    def _finish(self, task: Task, when: float) -> None:
        """The end of postprocessing: outputs and billing on success [docs]."""
        if task.failure is None and task.render is not None:
            output = self._output(task, when)
            task.outputs = [] if output is None else [output]
            price = price_of(task.params)  # held since Run (BALANCE_POLICY), now charged
            task.totalcost = price
            # cps * elapsedseconds == totalcost, as in the seed; no rate for zero time
            task.cps = price / Decimal(str(task.elapsed)) if task.elapsed > 0 else _ZERO
            project = self._store.project_by_id(task.project_id)
            assert project is not None, f"task {task.id}'s project is gone"
            project.balance -= price  # only successful tasks are billed [docs]
            self._store.save_project(project)
        else:
            task.pexit = task.failure_pexit or FAILED_PEXIT
            if task.failure and task.failure not in task.stderr:
                task.stderr.append(task.failure)

    def emit(self, task: Task, type_: str, when: float, message: object) -> None:
        """Record a frame, tell every listener, and retire a task that has ended."""
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
            self._store.deactivate(task)
        # kept before anyone hears of it: a durable store commits the frame (and what came
        # with it in the batch, such as the bill of a task that ends) before a socket or a
        # callback can tell a client, so a crash can never make a told frame happen twice
        if self._deferring:  # the engine's pass: kept, then told, when it ends
            self._store.save_task(task)
            self._held.append((task, event))
            return
        try:
            self._store.save_task(task)
            self._store.commit()
        except StorageError:  # not kept yet: told once a commit succeeds (retry_held)
            self._held.append((task, event))
            raise
        self._tell_held()
        self._tell(task, event)
        self._flush()

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """The engine's pass over the due steps (under the state lock): every frame
        inside is kept in one transaction, committed when the pass ends, and only then
        told to the listeners, in order. One commit for many frames (an instant task's
        whole lifecycle), and still nothing is told before it is kept."""
        self._deferring += 1
        try:
            with self._store.batch():
                yield
        except StorageError:  # not kept: the frames stay held (retry_held, next pass)
            return
        finally:
            self._deferring -= 1
        if not self._deferring:
            self._tell_held()

    def _tell(self, task: Task, event: Event, *, notify: bool = True) -> None:
        for listener in self._listeners:
            try:
                listener(task, event)
            except Exception:  # one broken listener must not stall the lifecycle
                log.exception("mock-wiro listener error")
        if task.terminal and event.type == task.status:  # its last frame, told
            # packed later (retire_ended), off the path of the frames told with it: packing
            # costs about as much as the rest of the frame's work together
            self._ended.append(task)
        if notify:
            self._cond.notify_all()

    def retire_ended(self, budget: float | None = None) -> bool:
        """Under the state lock: retire the tasks that were told their last frame (pack
        their history, :meth:`Task.retire`, once their image check and render are done),
        oldest first, for about ``budget`` seconds (None: all; 0: none, only the answer).
        True if some are left. The engine calls it between its passes
        (:attr:`Scheduler.tidy`)."""
        ended = self._ended
        deadline = None if budget is None else time.perf_counter() + budget
        while ended and (deadline is None or time.perf_counter() < deadline):
            ended.popleft().retire()
        return bool(ended)

    def _tell_held(self) -> None:
        """Tell the listeners of the frames whose commit had failed, now kept, in order."""
        held, self._held = self._held, []
        if not held:
            return
        try:
            for task, event in held:
                self._tell(task, event, notify=False)
        finally:
            self._flush()
        self._cond.notify_all()  # once for them all: the state lock is held throughout

    def _flush(self) -> None:
        """The listeners' flushes, once the frames told together have been told."""
        for flush in self._flushes:
            try:
                flush()
            except Exception:  # as a listener's: never stalls the lifecycle
                log.exception("mock-wiro listener flush error")

    def retry_held(self) -> None:
        """Under the state lock: if frames wait for a commit that failed (a data dir
        that could not be written), try again; once it succeeds, the listeners hear of
        them. Called by the engine at every pump, so a disk that comes back is noticed."""
        if not self._held:
            return
        try:
            self._store.commit()
        except StorageError:
            return
        self._tell_held()
