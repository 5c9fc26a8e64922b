"""The engine's side of fan-out: a writer that finds the engine late applies the due
steps itself (``pump_if_late``), ended tasks are packed between the engine's passes
(``retire_ended``) rather than inside the pass that tells their last frame, a writer's
frames are journaled together (``Journal.record_many``), and tokens come from one
random draw each.

The clock runs on a wall clock the test moves by hand; the engine thread is not
started, so nothing happens unless the test makes it happen.
"""

from __future__ import annotations

import hashlib
import hmac
import string
from collections.abc import Iterator
from typing import Any

import pytest

from mock_wiro.app import create_app
from mock_wiro.engine.backend import Backend
from mock_wiro.engine.clock import Clock
from mock_wiro.engine.journal import Entry, Journal
from mock_wiro.engine.models import Task, random_token
from mock_wiro.settings import Settings

RUN_PATH = "/v1/Run/minimax/hailuo-2-3-fast"


class Fake:
    """A backend on a realtime clock (speed 20) whose wall clock moves by hand."""

    def __init__(self) -> None:
        self.wall = 1000.0
        self.backend = Backend(
            Settings(), clock=Clock("realtime", 20.0, monotonic=lambda: self.wall)
        )
        self.app = create_app(backend=self.backend)  # the engine is not started
        self.project = self.backend.create_project(balance="1000")  # no concurrency limit
        self.nonce = 0

    def run(self) -> Task:
        self.nonce += 1
        p = self.project
        digest = hmac.new(
            p.api_key.encode(), (p.api_secret + str(self.nonce)).encode(), hashlib.sha256
        )
        headers = {"x-api-key": p.api_key, "x-nonce": str(self.nonce)}
        headers["x-signature"] = digest.hexdigest()
        body = {"inputImageFirstUrl": "https://example.com/a.jpg"}
        made: Any = self.app.test_client().post(RUN_PATH, headers=headers, json=body).get_json()
        task = self.backend.task_by_id(made["taskid"])
        assert task is not None
        return task


def fake_backend() -> Iterator[Fake]:
    """A :class:`Fake`, closed at teardown: the ``fake`` fixture of the engine tests on a
    hand-moved clock (this module's and ``test_due_index``'s)."""
    made = Fake()
    try:
        yield made
    finally:
        made.backend.close()


_fake = pytest.fixture(name="fake")(fake_backend)


def test_a_writer_applies_the_steps_due_when_the_engine_is_late(fake: Fake) -> None:
    task = fake.run()
    scheduler = fake.backend.scheduler
    fake.wall += 1.0  # 20 fake seconds: task_accept and more are due
    scheduler.late_at = float("inf")  # the engine is on time: a writer leaves it alone
    fake.backend.pump_if_late()
    assert [e.type for e in task.events] == ["task_queue"]
    scheduler.late_at = 0.0  # its wake-up time has passed and it has not run
    fake.backend.pump_if_late()
    assert "task_accept" in [e.type for e in task.events]
    # and it worked out the engine's next wake-up: on time again
    assert scheduler.late_at > 0.0


def test_an_ended_task_is_packed_after_the_pass_that_told_its_last_frame(fake: Fake) -> None:
    task = fake.run()
    assert task.validated.wait(10) and task.rendered.wait(10)  # its image check and render
    fake.wall += 10.0  # 200 fake seconds: the whole lifecycle is due
    fake.backend.pump()  # one pass: every frame told, nothing packed inside it
    assert task.terminal and not task.retired
    stepper = fake.backend.stepper
    assert stepper.retire_ended(0.0) is True  # asked only: one task waits
    assert not task.retired
    assert stepper.retire_ended(None) is False  # all of them
    assert task.retired
    events = [e.type for e in task.events]  # unpacked: what it showed before
    assert events[0] == "task_queue" and events[-1] == "task_postprocess_end"


def test_settle_packs_every_ended_task(fake: Fake) -> None:
    tasks = [fake.run() for _ in range(3)]
    assert all(t.validated.wait(10) and t.rendered.wait(10) for t in tasks)
    fake.wall += 10.0
    fake.backend.settle(timeout=10)
    assert all(t.terminal and t.retired for t in tasks)


def test_record_many_keeps_order_and_tells_each_entry() -> None:
    journal = Journal(lambda: 5.0, limit=4)
    heard: list[Entry | None] = []
    journal.add_listener(heard.append)
    journal.record("request", path="/v1/Run")
    made = journal.record_many(
        [("frame", {"connection": 1, "task": "t", "type": f"step{i}"}) for i in range(4)]
    )
    assert [e.seq for e in made] == [2, 3, 4, 5] and {e.time for e in made} == {5.0}
    assert heard[1:] == made
    # bounded as record: the oldest entry went
    assert [e.seq for e in journal.entries()] == [2, 3, 4, 5] and journal.dropped == 1
    assert journal.record_many([]) == []


def test_random_tokens_are_alphanumeric_of_the_length_asked_and_differ() -> None:
    tokens = {random_token() for _ in range(2000)}
    assert len(tokens) == 2000
    assert all(len(t) == 30 and set(t) <= set(string.ascii_letters + string.digits) for t in tokens)
    assert len(random_token(32)) == 32 and len(random_token(1)) == 1
    # every character of the alphabet comes up (60,000 draws: each about 970 times)
    assert set("".join(tokens)) == set(string.ascii_letters + string.digits)


def test_the_engine_tidies_after_the_writers_not_between_them() -> None:
    """Packing ended tasks waits for a pause with no socket writer waking (they send the
    frames just told first), or for TIDY_MAX_WAIT_SECONDS since the last slice; with steps
    due at once, a slice per pass. The monotonic clock is moved by hand."""
    from pathlib import Path
    from threading import Condition, RLock

    from mock_wiro.engine import scheduler as sched
    from mock_wiro.engine.context import Context
    from mock_wiro.engine.store import MemoryStore

    mono = [100.0]
    ctx = Context(Settings(), MemoryStore(), Condition(RLock()), Clock("manual"), Path("/x"))
    scheduler = sched.Scheduler(ctx, lambda *_: None, monotonic=lambda: mono[0])
    slices: list[float | None] = []
    left = [3]  # slices of work left

    def tidy(budget: float | None) -> bool:
        slices.append(budget)
        if budget:
            left[0] -= 1
        return left[0] > 0

    scheduler.tidy = tidy
    pause, slice_ = sched.TIDY_PAUSE_SECONDS, sched.TIDY_SLICE_SECONDS
    # the pass that ended the tasks: asked only, then a pause
    assert scheduler.tidy_between_passes(1.0) == pause and slices == [0.0]
    # writers woke during the pause: no slice yet, another pause
    mono[0] += pause
    scheduler.pump_if_late()  # a writer wakes (the engine is not late: nothing applied)
    mono[0] += pause / 2
    assert scheduler.tidy_between_passes(1.0) == pause and slices[-1] == 0.0
    # a whole pause with no writer: a slice
    mono[0] += pause
    assert scheduler.tidy_between_passes(1.0) == pause and slices[-1] == slice_
    # writers keep waking: the next slice waits for TIDY_MAX_WAIT_SECONDS, not for them
    waited = 0.0
    while slices[-1] == 0.0 or waited == 0.0:
        mono[0] += pause
        waited += pause
        scheduler.pump_if_late()
        scheduler.tidy_between_passes(1.0)
    assert waited == pytest.approx(sched.TIDY_MAX_WAIT_SECONDS, abs=pause)
    # steps due at once (never pausing): a slice per pass, writers or not
    scheduler.pump_if_late()
    assert scheduler.tidy_between_passes(0.0) == 0.0 and slices[-1] == slice_
    assert left[0] == 0
    # nothing left: the engine sleeps its full wake-up
    assert scheduler.tidy_between_passes(0.7) == 0.7


@pytest.mark.parametrize(
    "message",
    [
        {"type": "progressGenerate", "percentage": "50", "speed": "0.25", "elapsedTime": "20s"},
        {"nested": [1, 2.5, None, True, {"é": '🙂 " \\ \n'}], "big": 10**20, "f": 1e-7},
        [],
        3.5,
    ],
)
def test_an_output_line_is_json_dumps_text(message: object) -> None:
    import json

    from mock_wiro.engine.stepper import output_line

    assert output_line(message) == json.dumps(message)
