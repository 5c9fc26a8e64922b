"""One rule for when a step is due (:func:`mock_wiro.engine.scheduler.due`), and the
scheduler's three questions (apply now? wake when? blocked on work?) agreeing with it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mock_wiro.engine.clock import Clock
from mock_wiro.engine.context import Context
from mock_wiro.engine.lifecycle import Step
from mock_wiro.engine.models import ImageRef, Task
from mock_wiro.engine.params import RunParams
from mock_wiro.engine.scheduler import Scheduler, due
from mock_wiro.engine.store import MemoryStore
from mock_wiro.settings import Settings

START = 1_000_000.0


def _task(*steps: Step, last_time: float = START) -> Task:
    params = RunParams("https://example.com/a.jpg", "p", True, "768P", "6", "")
    image = ImageRef("external", params.image_url)
    return Task("1", "u", "t" * 30, "7", params, image, "task_queue", list(steps), last_time)


class _Manual:
    """A manual clock and a wall clock moved by hand (for realtime)."""

    def __init__(self, mode: str = "manual") -> None:
        self.wall = [0.0]
        self.clock = Clock("manual", 10.0, start=START, monotonic=lambda: self.wall[0])
        if mode != "manual":
            self.clock.set_mode(mode)  # type: ignore[arg-type]


def test_a_step_is_due_its_delay_after_the_last_frame() -> None:
    clock = _Manual().clock
    assert due(_task(), Step("task_accept", 1.5), clock) == START + 1.5


def test_a_held_step_is_never_due() -> None:
    clock = _Manual().clock
    task = _task()
    task.hold_at = "task_accept"
    assert due(task, Step("task_accept", 1.0), clock) is None
    assert due(task, Step("task_assign", 1.0), clock) == START + 1.0


def test_a_released_step_comes_no_earlier_than_its_release() -> None:
    clock = _Manual().clock
    task = _task()
    task.not_before = START + 30
    assert due(task, Step("task_accept", 1.0), clock) == START + 30


def test_instant_clock_takes_no_stage_time() -> None:
    clock = _Manual("instant").clock
    assert due(_task(), Step("task_accept", 50.0), clock) == START


@pytest.mark.parametrize("mode", ["manual", "realtime"])
def test_on_a_running_clock_gated_work_takes_fake_time(mode: str) -> None:
    clock = _Manual(mode).clock
    task = _task()
    step = Step("task_preprocess_end", 1.0, gate="validated")
    assert due(task, step, clock) == START + 1.0  # gate closed: when its delay has come
    task.validated_at = START + 20
    task.validated.set()
    assert due(task, step, clock) == (START + 20 if mode == "realtime" else START + 1.0)


def _scheduler(task: Task, clock: Clock) -> tuple[Scheduler, list[tuple[str, float]]]:
    store = MemoryStore()
    store.add_task(task)
    applied: list[tuple[str, float]] = []

    def apply(t: Task, step: Step, when: float) -> None:
        applied.append((step.type, when))
        t.last_time = when

    lock = threading.Condition(threading.RLock())
    ctx = Context(Settings(), store, lock, clock, Path("/nonexistent"))
    return Scheduler(ctx, apply), applied


def test_pump_wake_and_blocked_agree_with_due() -> None:
    manual = _Manual()
    clock = manual.clock
    gated = Step("task_preprocess_end", 2.0, gate="validated")
    task = _task(Step("task_accept", 1.0), gated, Step("task_assign", 3.0))
    scheduler, applied = _scheduler(task, clock)

    scheduler.pump_locked()
    assert applied == [] and not scheduler.blocked_on_work_locked()
    clock.advance(1.0)
    scheduler.pump_locked()
    assert applied == [("task_accept", START + 1.0)]
    clock.advance(2.0)  # the gated step's delay has come, its work has not
    scheduler.pump_locked()
    assert len(applied) == 1 and scheduler.blocked_on_work_locked()
    task.hold_at = "task_preprocess_end"  # a held step blocks nothing
    assert not scheduler.blocked_on_work_locked()
    task.hold_at = None
    task.validated_at = clock.now()
    task.validated.set()
    scheduler.touch(task)  # as the preparer does when a gate opens
    assert not scheduler.blocked_on_work_locked()
    scheduler.pump_locked()
    assert applied[-1] == ("task_preprocess_end", START + 3.0)
    assert scheduler.next_wake_locked() == 1.0  # manual: the next step never comes by itself


def test_realtime_wake_is_when_due_says() -> None:
    manual = _Manual("realtime")  # 10 fake seconds a wall second
    task = _task(Step("task_accept", 5.0))
    scheduler, applied = _scheduler(task, manual.clock)
    assert scheduler.next_wake_locked() == pytest.approx(0.5)
    task.not_before = START + 8  # a release pushes it later, and the wake with it
    scheduler.touch(task)  # (as release does)
    assert scheduler.next_wake_locked() == pytest.approx(0.8)
    manual.wall[0] = 0.8
    scheduler.pump_locked()
    assert applied == [("task_accept", START + 8)]


def test_a_timer_a_pass_sets_for_a_time_already_reached_fires_before_advance_returns() -> None:
    """A frame told at the end of the engine's pass may set a timer that is due at once
    (a socket ``delay`` fault's frame whose delay the advance already covered): it fires
    within that advance, not at the engine thread's next wake-up (here: none runs)."""
    from mock_wiro.app import create_app
    from mock_wiro.engine.backend import Backend
    from mock_wiro.testing import signed_headers

    backend = Backend(Settings(clock_mode="manual"))  # the engine thread is never started
    app = create_app(backend=backend)
    try:
        project = backend.create_project(balance="100")
        fired: list[str] = []

        def listener(task: Task, event: object) -> None:
            kind = getattr(event, "type", "")
            backend.call_at(backend.clock.now() - 1, lambda: fired.append(kind))

        backend.add_listener(listener)
        made = app.test_client().post(
            "/v1/Run/minimax/hailuo-2-3-fast",
            headers=signed_headers(project),
            json={"inputImageFirstUrl": "https://example.com/a.jpg"},
        )
        assert made.status_code == 200
        backend.advance(300)  # the whole lifecycle, in this call
        task = backend.task_by_id(made.get_json()["taskid"])
        assert task is not None and task.terminal
        assert fired == [e.type for e in task.events]  # every one, in order
    finally:
        backend.close()
