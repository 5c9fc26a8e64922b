"""The engine's index of due steps: a wake-up costs in proportion to what changed, not a
look at every active task (:attr:`Scheduler.looks` counts the looks; never timed).

The clock runs on a wall clock the test moves by hand; the engine thread is not started,
so nothing happens unless the test makes it happen.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from mock_wiro.engine import lifecycle
from mock_wiro.engine import scheduler as scheduler_module
from mock_wiro.engine.models import Task
from tests.engine.test_fanout_engine import Fake, fake_backend

N = 120


_fake = pytest.fixture(name="fake")(fake_backend)


def test_image_checks_ending_one_by_one_cost_a_look_each_not_one_per_task(fake: Fake) -> None:
    scheduler = fake.backend.scheduler
    tasks = [fake.run() for _ in range(N)]
    fake.backend.pump()
    before = scheduler.looks
    # each check and render that ends wakes the engine: N wake-ups over N active tasks
    for task in tasks:
        assert task.validated.wait(10) and task.rendered.wait(10)
        fake.backend.pump()
    # looking at every active task per wake-up would be N * N = 14,400 looks
    assert scheduler.looks - before <= 3 * N
    looks = scheduler.looks
    for _ in range(10):  # wake-ups with nothing changed and nothing due: no look at all
        fake.backend.pump()
    assert scheduler.looks == looks


def test_a_hold_a_release_and_due_steps_are_looked_at_and_nothing_else(fake: Fake) -> None:
    scheduler = fake.backend.scheduler
    tasks = [fake.run() for _ in range(N)]
    assert all(t.validated.wait(10) and t.rendered.wait(10) for t in tasks)
    fake.backend.pump()
    looks = scheduler.looks
    held = tasks[7]
    fake.backend.hold(held, "task_accept")
    fake.backend.pump()
    assert scheduler.looks - looks <= 2  # the held task, not the N others
    fake.wall += 0.1  # 2 fake seconds: every task's task_accept is due, but the held one's
    looks = scheduler.looks
    fake.backend.pump()
    assert scheduler.looks - looks <= 2 * N  # each due task: applied, then its next step
    events = [[e.type for e in t.events] for t in tasks]
    assert events[7] == ["task_queue"]
    assert all(e[:2] == ["task_queue", "task_accept"] for i, e in enumerate(events) if i != 7)
    looks = scheduler.looks
    fake.backend.release(held)  # due at once: applied by the release's own pass
    assert [e.type for e in held.events][-1] == "task_accept"
    assert scheduler.looks - looks <= 3
    # and the whole lifecycle still runs to its end for every task, held one included
    fake.wall += 20.0
    fake.backend.settle(timeout=10)
    assert all(t.terminal and t.status == "task_postprocess_end" for t in tasks)


def _restored_while_a_worker_holds_the_old_task(
    fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> tuple[Task, Task, threading.Event]:
    """Task A's worker is held (in its render, or its image check about to raise); a
    snapshot taken before A is installed (A forgotten) and task B runs: the snapshot's
    id counter gives B A's id. Returns (A, B, the gate that lets A's worker go on)."""
    backend = fake.backend
    path = str(tmp_path / "before.snapshot")
    backend.save_snapshot(path)
    gate, first = threading.Event(), [True]
    real = getattr(backend.preparer, where)

    def held(*args: Any) -> Any:
        if first[0]:
            first[0] = False
            assert gate.wait(10)
            if where == "_check_image":
                raise RuntimeError("an image library bug")
        return real(*args)

    monkeypatch.setattr(backend.preparer, where, held)
    old = fake.run()
    if where == "_render":
        assert old.validated.wait(10)
    backend.install_snapshot(backend.read_snapshot(path))
    new = fake.run()
    assert new.id == old.id  # the case that matters
    assert new.validated.wait(10) and new.rendered.wait(10)
    backend.pump()  # the new task is indexed
    return old, new, gate


@pytest.mark.parametrize("where", ["_render", "_check_image"])
def test_a_task_a_restore_forgot_never_unindexes_or_steps_in_place_of_a_live_one(
    fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The forgotten task's worker ends after the restore (a render done, or an error
    that fails it): it must not drop the live task with its id from the index, nor be
    stepped itself (its frames, its save) [review of the index]."""
    old, new, gate = _restored_while_a_worker_holds_the_old_task(fake, tmp_path, monkeypatch, where)
    gate.set()
    assert old.rendered.wait(10)
    fake.backend.pump()
    fake.wall += 60.0  # the whole lifecycle is due
    fake.backend.settle(timeout=5)
    assert fake.backend.task_by_id(new.id) is new
    assert new.status == "task_postprocess_end"
    assert [e.type for e in old.events] == ["task_queue"]  # never stepped after the restore


@pytest.mark.parametrize("wall_step", [0.005, 10.0], ids=["a-later-pass", "the-same-pass"])
def test_a_task_that_ended_is_not_stepped_again(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, wall_step: float
) -> None:
    """As before the index: a task that reaches a terminal status leaves the active tasks
    and gets no more steps, even with steps left in its plan (a plan with a step after
    its terminal one, the contract suite's mutant ``postprocess_end_before_task_end``),
    whether that step falls due in a later pass or in the pass that ended the task (the
    whole lifecycle due at once: the CI run where the mutant's task ended at task_end)."""
    tail = {s.type: s for s in lifecycle.SUCCESS_TAIL}
    order = ("task_output_full", "task_postprocess_start", "task_postprocess_end", "task_end")
    monkeypatch.setattr(lifecycle, "SUCCESS_TAIL", tuple(tail[s] for s in order))
    task = fake.run()
    assert task.validated.wait(10) and task.rendered.wait(10)
    for _ in range(20_000):  # a pass every ``wall_step`` (5 ms: 0.1 s of fake time)
        fake.wall += wall_step
        fake.backend.pump()
        if task.terminal:
            break
    assert task.status == "task_postprocess_end"
    for _ in range(200):
        fake.wall += 0.005
        fake.backend.pump()
    assert task.status == "task_postprocess_end"
    assert [e.type for e in task.events][-1] == "task_postprocess_end"


def test_a_big_pass_is_told_in_parts_and_takes_in_what_falls_due_meanwhile(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass over more tasks than :data:`PASS_CHUNK_TASKS` keeps and tells its frames
    part by part (the first sockets do not wait for the last task's step), and reads the
    clock again between parts: a step that fell due meanwhile joins the same pass."""
    monkeypatch.setattr(scheduler_module, "PASS_EXTEND_SECONDS", 60.0)  # a slow machine
    n = 2 * scheduler_module.PASS_CHUNK_TASKS + 10
    tasks = [fake.run() for _ in range(n)]
    assert all(t.validated.wait(10) and t.rendered.wait(10) for t in tasks)
    fake.backend.pump()
    parts: list[int] = []  # frames told when each part was flushed
    told: list[str] = []

    def flushed() -> None:
        parts.append(len(told))
        if len(parts) == 1:  # 0.5 fake s pass while the first part is written
            fake.wall += 0.025

    fake.backend.add_listener(lambda task, event: told.append(event.type), flush=flushed)
    fake.wall += 0.05  # 1 fake second: every task's task_accept is due
    fake.backend.pump()  # one pass
    assert parts[0] == scheduler_module.PASS_CHUNK_TASKS  # the first part, told on its own
    assert len(parts) >= 3 and parts == sorted(parts)
    # task_preprocess_start (0.5 s after task_accept) fell due during the pass: it joined it
    events = [[e.type for e in t.events] for t in tasks]
    assert all(e == ["task_queue", "task_accept", "task_preprocess_start"] for e in events)
