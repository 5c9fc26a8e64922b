"""When steps happen: the engine thread, timers on the fake clock, and the waits.

One engine thread applies due steps and sleeps until the next one is due. Reads call
:meth:`Scheduler.pump` first, so what a client reads is never staler than the clock.

*When a step is due* is decided in one place, :func:`due`, and used by all three
questions asked of it: what to apply now (:meth:`Scheduler.pump_locked`), when to wake
(:meth:`Scheduler.next_wake_locked`), and whether a due step waits for background work
(:meth:`Scheduler.blocked_on_work_locked`).

The first two are answered from an index: each active task's next due step, kept in a
heap on fake time, and looked at again only when something may have changed it (the
task stepped, or was told of by :meth:`Scheduler.touch`: a new task, an image check or a
render done, a hold, a release, a push; every task after :meth:`Scheduler.rescan`: a
reset, a snapshot, a restore; and after the clock changed mode). A wake-up costs in
proportion to what changed, not a look at every active task (with 1,000 tasks, 1,000
image checks ending one by one cost 1,000 looks at 1,000 tasks). :attr:`Scheduler.looks`
counts the looks.

The engine never dies of a step: an exception while applying one task's step (or in a
timer) is logged, handed to :attr:`Scheduler.on_error` (the backend journals it as kind
``error``) and the other tasks go on. The failed step is tried again later, after a
wall-clock back-off doubling from :data:`RETRY_MIN_SECONDS` to :data:`RETRY_MAX_SECONDS`,
so a step that keeps failing costs one attempt per back-off, never a hot loop.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from ..errors import StateError, StorageError, ValidationError
from .clock import Clock
from .context import Context
from .lifecycle import HOLDABLE_STAGES, Step
from .models import Task

__all__ = ["RETRY_MAX_SECONDS", "RETRY_MIN_SECONDS", "Scheduler", "due", "gate_open", "held"]

log = logging.getLogger("mock_wiro")
Apply = Callable[[Task, Step, float], None]
ErrorSink = Callable[[dict[str, Any]], object]
RETRY_MIN_SECONDS = 1.0
"""Wall seconds before a task whose step raised is tried again (doubled per failure)."""
RETRY_MAX_SECONDS = 60.0
"""The longest back-off between two attempts at a failing step."""
TIDY_SLICE_SECONDS = 0.005
"""How long the engine tidies (retires ended tasks, :attr:`Scheduler.tidy`) at a time."""
TIDY_PAUSE_SECONDS = 0.001
"""How long it lets go of the state lock between two slices, at least: the socket writers
(on one event loop, queued before it) send the frames just told first. A slice waits
until no writer has woken for this long (:attr:`Scheduler.writers_at`)..."""
TIDY_MAX_WAIT_SECONDS = 0.05
"""...or until this long has passed since the last slice: under a steady stream of
frames the tidying still gets a slice every 50 ms (a tenth of the loop), never starved."""

PASS_CHUNK_TASKS = 128
"""Tasks stepped per part of a pass: each part's frames are kept (one commit), then told
and written, before the next part is stepped, so the first sockets of a burst of 1,000
do not wait for the last task's step. The clock is read again between parts: a step that
fell due meanwhile (the next burst, while this one was being written) joins the pass,
its task's frames written together with what the task still had to send."""
PASS_EXTEND_SECONDS = 0.1
"""Wall seconds after which a pass stops reading the clock again: what falls due later
waits for the next pass, so the requests waiting on the state lock get their turn."""


@dataclass
class _Broken:
    """A task whose last attempt at a step raised: how often, and when to try again."""

    failures: int
    retry_at: float  # on the scheduler's monotonic clock


def gate_open(task: Task, step: Step) -> bool:
    """True if the background work ``step`` waits for (if any) is done."""
    if step.gate == "validated":
        return task.validated.is_set()
    if step.gate == "rendered":
        return task.rendered.is_set()
    return True


def held(task: Task, step: Step) -> bool:
    """True if the task is held just before ``step``."""
    return task.hold_at is not None and step.type == task.hold_at


def due(task: Task, step: Step, clock: Clock) -> float | None:
    """The fake time at which ``step`` (the task's next) comes, or None while it is held.

    Its delay after the task's last frame (scaled by the clock), and never before the
    task's ``not_before`` (a release). On a running (realtime) clock the background work
    takes fake time: a gated step whose work is done comes no earlier than the work was.
    (With a manual or instant clock the work is done "between ticks".) For a step whose
    gate is still closed, the time its delay has come.
    """
    if held(task, step):
        return None
    when = max(task.last_time + step.delay * clock.stage_scale, task.not_before)
    if clock.mode == "realtime" and step.gate is not None and gate_open(task, step):
        when = max(when, task.validated_at if step.gate == "validated" else task.rendered_at)
    return when


def _check_stage(stage: str) -> None:
    if stage not in HOLDABLE_STAGES:
        raise ValidationError(f"stage must be one of {', '.join(HOLDABLE_STAGES)}; got {stage!r}")


class Scheduler:
    """The engine thread and every wait on the fake clock."""

    def __init__(
        self, ctx: Context, apply: Apply, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._store, self._cond, self._clock = ctx.store, ctx.lock, ctx.clock
        self._apply = apply
        self._monotonic = monotonic
        self._broken: dict[str, _Broken] = {}  # task id -> its back-off after a failed step
        self.on_error: ErrorSink | None = None
        """Told (under the state lock) of every exception the engine survived: a dict with
        ``where`` (``step``, ``timer``, ``engine``), ``error`` and, for a step, ``task``,
        ``step``, ``failures`` and ``retry_in`` (wall seconds)."""
        self.pass_batch: Callable[[], AbstractContextManager[None]] = nullcontext
        """Around the steps of one pass: the stepper's
        :meth:`~.stepper.Stepper.deferred` (one transaction, frames told after it)."""
        self.before_pump: Callable[[], None] | None = None
        """Called (under the state lock) at the start of every pump: the stepper's
        :meth:`~.stepper.Stepper.retry_held`."""
        self.tidy: Callable[[float | None], bool] | None = None
        """Work that may wait but not for long, done by the engine thread between its
        passes in slices of :data:`TIDY_SLICE_SECONDS`, each after a pause (under the
        state lock; the argument is the slice, 0 to ask only, None for all; True while
        work is left), and wholly by :meth:`settle`: the stepper's
        :meth:`~.stepper.Stepper.retire_ended`."""
        self._timers: list[tuple[float, int, Callable[[], None]]] = []  # heap on fake time
        self._timer_seq = 0
        # the index: (due fake time, entry number, task), a heap; an entry is live while
        # its number is the task's in _entry (a newer look leaves the older one stale)
        self._index: list[tuple[float, int, Task]] = []
        self._entry: dict[str, int] = {}  # task id -> its live entry's number
        self._entry_seq = 0
        self._unsure: dict[str, Task] = {}  # to look at again before the next pass
        self._all_unsure = True  # every active task to look at again (at start: all)
        self._indexed_mode: str | None = None  # the clock mode the index was built in
        self.looks = 0
        """How many times a task was looked at to find its next due step (the index's
        cost: a wake-up after one task changed costs about one look, not one per task)."""
        self._thread: threading.Thread | None = None
        self.closed = False
        self.late_at = 0.0
        """When (on the monotonic clock) the engine's next wake-up is due: past it, the
        engine is late (:meth:`pump_if_late`)."""
        self.writers_at = 0.0
        """When (on the monotonic clock) a socket writer last woke (:meth:`pump_if_late`):
        the engine's tidying waits for a pause with none (:meth:`tidy_between_passes`)."""
        self._tidy_waiting = False  # tidy work was left after the last pass
        self._tidied_at = 0.0  # the last slice (or the start of the wait for the first)

    # ------------------------------------------------------------ the thread
    def start(self) -> None:
        """Start the engine thread (idempotent)."""
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._engine, name="mock-wiro-engine", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        """Stop the engine thread; wake every waiter."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _engine(self) -> None:
        with self._cond:
            while not self.closed:
                try:
                    wake = self.pump_locked()
                    self.late_at = self._monotonic() + wake
                    if self.tidy is not None:
                        wake = self.tidy_between_passes(wake)
                except Exception as exc:  # a bug must not stop every task for good
                    log.exception("mock-wiro engine error")
                    self._report({"where": "engine", "error": repr(exc)})
                    wake = 1.0
                    self.late_at = self._monotonic() + wake
                self._cond.wait(wake)

    def tidy_between_passes(self, wake: float) -> float:
        """Under the state lock, after a pass whose next wake-up is ``wake`` seconds away:
        do a slice of :attr:`tidy` if it is time, and return the wait before the next
        pass (shortened to a pause while tidy work is left).

        A slice comes only after a pause in which no socket writer woke (they send the
        frames just told first: on one event loop they are queued before this thread,
        and a burst's 1,000 writes take longer than one pause), or once
        :data:`TIDY_MAX_WAIT_SECONDS` have passed since the last slice; an engine with
        steps due at once (never pausing) tidies a slice per pass. Either way the work
        never piles up under load."""
        assert self.tidy is not None
        busy = wake <= 0
        mono = self._monotonic()
        ready = busy or (
            self._tidy_waiting
            and (
                mono - self.writers_at >= TIDY_PAUSE_SECONDS
                or mono - self._tidied_at >= TIDY_MAX_WAIT_SECONDS
            )
        )
        if ready:
            self._tidied_at = mono
        elif not self._tidy_waiting:
            self._tidied_at = mono  # the wait for the first slice starts now
        self._tidy_waiting = self.tidy(TIDY_SLICE_SECONDS if ready else 0.0)
        if self._tidy_waiting and not busy:
            wake = min(wake, TIDY_PAUSE_SECONDS)
        return wake

    def _report(self, data: dict[str, Any]) -> None:
        """Hand a survived exception to :attr:`on_error` (which must not fail the engine)."""
        if self.on_error is not None:
            try:
                self.on_error(data)
            except Exception:
                log.exception("mock-wiro: reporting an engine error failed")

    def _may_try(self, task: Task) -> bool:
        """False while a task whose step raised waits out its back-off."""
        broken = self._broken.get(task.id)
        return broken is None or self._monotonic() >= broken.retry_at

    def _step_failed(self, task: Task, step_type: str, exc: Exception) -> None:
        """Log and report a step that raised; back off before the task's next attempt."""
        broken = self._broken.get(task.id)
        failures = 1 if broken is None else broken.failures + 1
        retry_in = min(RETRY_MIN_SECONDS * 2 ** min(failures - 1, 16), RETRY_MAX_SECONDS)
        self._broken[task.id] = _Broken(failures, self._monotonic() + retry_in)
        log.error(
            "mock-wiro engine: task %s, step %s failed (%d time(s)); retry in %gs",
            task.id,
            step_type,
            failures,
            retry_in,
            exc_info=exc,
        )
        self._report(
            {
                "where": "step",
                "task": task.id,
                "step": step_type,
                "error": repr(exc),
                "failures": failures,
                "retry_in": retry_in,
            }
        )

    def call_at(self, fake_time: float, action: Callable[[], None]) -> None:
        """Run ``action`` (under the state lock; it must not block) once the fake clock
        reaches ``fake_time``: retries and other timed work share the one engine."""
        with self._cond:
            self._timer_seq += 1
            heapq.heappush(self._timers, (fake_time, self._timer_seq, action))
            self._cond.notify_all()

    def clear_timers(self) -> None:
        """Forget every timer and every back-off (on reset)."""
        with self._cond:
            self._timers.clear()
            self._broken.clear()
            self._all_unsure = True

    # ------------------------------------------------------------ the index
    def touch(self, task: Task) -> None:
        """Under the state lock: ``task``'s next due step may have changed (a new task,
        its image check or render done, its plan grown, a hold or a release): it is
        looked at again before the next pass. The caller notifies the state lock. A task
        the store no longer holds (forgotten by a reset or a snapshot while a worker still
        held it) is never indexed: its id may be a live task's now."""
        if self._store.task(task.id) is task:
            self._unsure[task.id] = task

    def rescan(self) -> None:
        """Under the state lock: the tasks themselves may have changed (a reset, a
        snapshot installed, a restore): every active task is looked at again."""
        self._all_unsure = True

    def _look(self, task: Task) -> None:
        """Index ``task``'s next due step (if it has one that is not held, not waiting
        for background work and not backing off); its older entry goes stale."""
        self.looks += 1
        if self._store.task(task.id) is not task:
            return  # forgotten meanwhile: the id (and its entry) may be a live task's
        self._entry.pop(task.id, None)
        if task.terminal:
            self._broken.pop(task.id, None)  # its back-off ends with it
            return
        broken = self._broken.get(task.id)
        if broken is not None and broken.retry_at > self._monotonic():
            return  # looked at again when its back-off ends (_refresh)
        step = task.next_step()
        if step is None or not gate_open(task, step):
            return  # told of again when its gate opens (touch)
        when = due(task, step, self._clock)
        if when is None:
            return  # held: told of again on release
        self._entry_seq += 1
        self._entry[task.id] = self._entry_seq
        heapq.heappush(self._index, (when, self._entry_seq, task))

    def _refresh(self) -> None:
        """Bring the index up to date: look again at what may have changed."""
        mode = self._clock.mode
        if self._all_unsure or mode != self._indexed_mode:
            # due() reads the clock's mode (a realtime gate, an instant clock's scale)
            self._all_unsure, self._indexed_mode = False, mode
            self._index.clear()
            self._entry.clear()
            self._unsure.clear()
            for task in self._store.active_tasks():
                self._look(task)
            return
        if self._unsure:
            unsure, self._unsure = self._unsure, {}
            for task in unsure.values():
                self._look(task)
        if self._broken:  # a back-off that ended: its task's step is tried again
            mono = self._monotonic()
            for task_id, broken in list(self._broken.items()):
                if broken.retry_at <= mono and task_id not in self._entry:
                    found = self._store.task(task_id)
                    if found is not None:
                        self._look(found)
        if len(self._index) > 2 * len(self._entry) + 64:  # mostly stale: rebuilt
            entry = self._entry
            self._index = [e for e in self._index if entry.get(e[2].id) == e[1]]
            heapq.heapify(self._index)

    def _earliest(self) -> float | None:
        """The fake time of the first live entry of the index (stale ones dropped)."""
        index, entry = self._index, self._entry
        while index and entry.get(index[0][2].id) != index[0][1]:
            heapq.heappop(index)
        return index[0][0] if index else None

    def _backing_off(self) -> list[float]:
        return [broken.retry_at for broken in self._broken.values()]

    # ------------------------------------------------------------ the three questions
    def next_wake_locked(self) -> float:
        """Wall seconds until the next timer or due step (at most one)."""
        self._refresh()
        return self._wake(self._earliest(), self._backing_off())

    def pump_locked(self) -> float:
        """Run every due timer, then apply every due step, in order of due time (each
        task's due steps together). Returns the wall seconds until the next timer or due
        step, at most one: what :meth:`next_wake_locked` would answer now. Looks only at
        the tasks that changed and the tasks due (the index, above)."""
        if self.before_pump is not None:
            self.before_pump()
        now = self._clock.now()
        self._run_timers(now)
        self._refresh()
        earliest = self._earliest()
        if (earliest is None or earliest > now) and self._store.settled():
            return self._wake(earliest, self._backing_off())  # no pass: nothing due
        index, entry = self._index, self._entry
        extend_until = time.perf_counter() + PASS_EXTEND_SECONDS
        while index and index[0][0] <= now:
            stepped = 0
            with self.pass_batch():  # one commit per part; its frames told after it
                while stepped < PASS_CHUNK_TASKS and index and index[0][0] <= now:
                    _, number, task = heapq.heappop(index)
                    if entry.get(task.id) != number:
                        continue  # stale: the task was looked at again since
                    stepped += 1
                    when = self._pump_task(task, now) if self._may_try(task) else None
                    if when is None or task.terminal:
                        # held, gated, ended, backing off: see what it is (a task that
                        # ended is not stepped again, even with steps left in its plan, as
                        # before the index: an ended task leaves the store's active tasks)
                        self._look(task)
                    else:  # its next step's due time, found by the pump: indexed as _look
                        self.looks += 1
                        self._entry_seq += 1
                        entry[task.id] = self._entry_seq
                        heapq.heappush(index, (when, self._entry_seq, task))
            if time.perf_counter() < extend_until:
                now = self._clock.now()  # what fell due while this part was written joins
                self._refresh()  # and what its frames' listeners touched
        # the frames of the pass were told as it ended; a timer one of them set for a time
        # already reached (a socket ``delay`` fault's frame, due at once) fires now, not at
        # the engine's next wake-up: an advance() is over only when they have
        self._run_timers(now)
        self._refresh()  # what the frames' listeners touched
        return self._wake(self._earliest(), self._backing_off())

    def _run_timers(self, now: float) -> None:
        """Run every timer due at ``now``, in order of due time, then of setting."""
        while self._timers and self._timers[0][0] <= now:
            action = heapq.heappop(self._timers)[2]
            try:
                action()
            except Exception as exc:
                log.exception("mock-wiro timer error")
                self._report({"where": "timer", "error": repr(exc)})

    def _wake(self, earliest: float | None, backing_off: Iterable[float]) -> float:
        """Wall seconds until the first of: the next timer, the fake time ``earliest``
        (a due step's), the end of a back-off (monotonic times); at most one."""
        wake = 1.0  # re-check at least every second (mode switches, etc.)
        if self._timers:
            wait = self._clock.wall_seconds_until(self._timers[0][0])
            if wait is not None:
                wake = min(wake, wait)
        if earliest is not None:
            # one reading of the clock: the wall wait grows with the fake time
            wait = self._clock.wall_seconds_until(earliest)
            if wait is not None:
                wake = min(wake, wait)
        mono = self._monotonic()
        for retry_at in backing_off:
            if retry_at > mono:
                wake = min(wake, retry_at - mono)  # not before its back-off ends
        return max(wake, 0.0)

    def _pump_task(self, task: Task, now: float) -> float | None:
        """Apply the task's due steps; a step that raises is put back, reported and
        backed off (the other tasks go on). Returns the fake time its next step is due
        at (None: held, waiting for background work, ended, or backing off)."""
        step: Step | None = None
        next_due: float | None = None
        try:
            while (step := task.next_step()) is not None and gate_open(task, step):
                if task.terminal:  # its last frame was sent: nothing comes after it
                    break
                when = due(task, step, self._clock)
                if when is None or when > now:
                    next_due = when
                    break
                task.cursor += 1
                try:
                    with self._store.batch():  # a step's changes are kept together
                        self._apply(task, step, min(when, now))
                except StorageError:
                    # the step happened (in memory, which the store writes out whole at
                    # its next commit): not applied again, so nothing is billed twice
                    raise
                except Exception:
                    # tried again after the back-off. A step that raised after it had
                    # already sent a frame or changed the task sends or changes it again:
                    # for a bug this is the price of going on, and the journal says so.
                    if task.cursor > 0 and task.plan[task.cursor - 1] is step:
                        task.cursor -= 1
                    raise
        except Exception as exc:
            self._step_failed(task, step.type if step is not None else "(next step)", exc)
            return None
        self._broken.pop(task.id, None)
        return next_due

    def blocked_on_work_locked(self) -> bool:
        """True if some task's due step waits for an image check or a render."""
        now = self._clock.now()
        for task in self._store.active_tasks():
            step = task.next_step()
            if step is None or gate_open(task, step) or not self._may_try(task):
                continue
            when = due(task, step, self._clock)
            if when is not None and when <= now:
                return True
        return False

    # ------------------------------------------------------------ moving on
    def pump_if_late(self) -> None:
        """Apply the due steps now if the engine is late for them: its wake-up time has
        passed and it has not run yet (busy, or, on one event loop, queued behind the
        socket writers that the last pass woke). Called by a socket writer before it
        takes its frames, so frames already due join that write instead of costing one
        wake-up and one write each. One float comparison when the engine is on time;
        a hint only: a wake-up time that is stale costs a pump with nothing due, or
        leaves the pump to the engine, as before. Notes the writer's wake-up
        (:attr:`writers_at`)."""
        mono = self.writers_at = self._monotonic()
        if self.closed or mono < self.late_at:
            return
        with self._cond:
            if self.closed or self._monotonic() < self.late_at:
                return
            try:
                self.late_at = self._monotonic() + self.pump_locked()
            except Exception:  # the engine's own pass reports it: the caller goes on
                log.exception("mock-wiro: a catch-up pump failed")
                self.late_at = self._monotonic() + 1.0

    def pump(self) -> None:
        """Apply every due step, and wake the engine to work out its next wake-up again:
        the clock may have just changed mode or speed."""
        with self._cond:
            self.pump_locked()
            self._cond.notify_all()

    def settle(self, *, timeout: float = 30.0) -> None:
        """Apply every due step, first waiting (bounded) for the background work they need.
        Woken by the workers' notifications, never by polling."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                self.pump_locked()
                if not self.blocked_on_work_locked():
                    if self.tidy is not None:
                        self.tidy(None)
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    def wait_for(self, task: Task, statuses: Iterable[str] | None, timeout: float) -> bool:
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
                    or self._store.task(task.id) is not task
                    or self.closed
                ),
                timeout=timeout,
            )
            return reached()

    # ------------------------------------------------------------ hold, release, push
    def hold(self, task: Task, stage: str) -> Task:
        """Stop the task just before its next ``stage`` step until :meth:`release`."""
        _check_stage(stage)
        with self._cond:
            self.pump_locked()
            if task.terminal:
                raise StateError(f"task {task.id} has already ended ({task.status})")
            repeated = stage in ("task_output", "task_error")
            if not repeated and any(e.type == stage for e in task.events):
                raise StateError(f"task {task.id} is already past {stage} ({task.status})")
            if task.validated.is_set() and stage not in (s.type for s in task.plan[task.cursor :]):
                raise StateError(f"task {task.id} will not reach {stage} ({task.status})")
            task.hold_at = stage
            self.touch(task)
            self._store.save_task(task)  # a held task stays held across a restart
            self._cond.notify_all()
            return task

    def release(self, task: Task) -> str | None:
        """Let a held task go on (its held stage comes no earlier than now)."""
        with self._cond:
            stage = task.hold_at
            if stage is not None:
                task.hold_at = None
                task.not_before = max(task.not_before, self._clock.now())
                self.touch(task)
                self._store.save_task(task)
                self.pump_locked()
                self._cond.notify_all()
            return stage

    def push(self, task: Task, stage: str, *, timeout: float = 30.0) -> Task:
        """Apply every step up to and including the task's next ``stage`` step now, all
        stamped with the current fake time (never before the task's last frame). Waits
        (bounded) for the image check or the render when a pushed step needs it; passes
        through a hold. Later steps follow at their usual delays from there."""
        _check_stage(stage)
        deadline = time.monotonic() + timeout
        with self._cond:
            self.pump_locked()
            if task.terminal:
                raise StateError(f"task {task.id} has already ended ({task.status})")
            self._wait_for_plan(task, stage, deadline, timeout)
            start = len(task.events)
            while (
                not task.terminal
                and self._store.task(task.id) is task  # not forgotten by a reset meanwhile
                and not any(e.type == stage for e in task.events[start:])
            ):
                step = task.next_step()
                if step is None:
                    break
                if not gate_open(task, step):
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
                self.touch(task)
                with self._store.batch():  # a step's changes are kept together
                    self._apply(task, step, max(self._clock.now(), task.last_time))
            return task

    def _wait_for_plan(self, task: Task, stage: str, deadline: float, timeout: float) -> None:
        """Wait until ``stage`` is in the task's plan: the plan after preprocessing is
        known once the image is checked."""
        while stage not in (s.type for s in task.plan[task.cursor :]):
            if self._store.task(task.id) is not task:
                raise StateError(f"task {task.id} was forgotten by a reset")
            if task.validated.is_set() or task.terminal:
                raise StateError(f"task {task.id} will not reach {stage} ({task.status})")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StateError(f"task {task.id}: its image check took over {timeout}s")
            self._cond.wait(remaining)
