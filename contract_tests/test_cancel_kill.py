"""Task/Cancel and Task/Kill [seed][docs].

Cancel is for a task still queued; after that it answers code 1 ``Task is not in a
cancellable state.``. Kill stops a running task, which ends at ``task_cancel``; a kill
that cannot happen answers code 1 ``Task could not be killed: {reason}``. Both answer
the seed's shape: ``{"errors": [], "tasklist": [TASK with status "task_cancel"],
"result": true}``.

The real API's timing is not ours to control, so tests that race it accept every
outcome the contract allows and then check that the outcome is consistent everywhere
(the answer, Task/Detail, the socket). Where the fake can hold a task at a stage, a
``held`` variant (mock_only) makes the same rule deterministic. A test that acts on a task
in a given state acts on the socket's frame for that state (the fastest signal), and when
the state was missed anyway (the task had ended before the act) it does not pass: it skips
as "not judged", after checking that what happened is consistent.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from .conftest import Control, Observed, Target, poll_until_terminal, run_task
from .contract import (
    KILL_REFUSED_PREFIX,
    NOT_CANCELLABLE,
    SEED_CANCEL,
    SEED_KILL,
    TERMINAL,
    check_like_seed,
    lifecycle_rank,
)
from .wire import Api, Recorder, SocketResult, read_frames

CANCEL = "Task/Cancel"
KILL = "Task/Kill"
ASSIGNED = lifecycle_rank("task_assign")
STARTED = lifecycle_rank("task_start")
KILL_REFUSED = re.compile(re.escape(KILL_REFUSED_PREFIX) + r": .+", re.DOTALL)
"""``Task could not be killed: {reason}`` [docs]."""
# Fields a kill or a cancel would change; Task/Detail of a task it refused keeps them.
OUTCOME_FIELDS = (
    "status",
    "pexit",
    "totalcost",
    "canceltime",
    "endtime",
    "postprocessendtime",
    "debugerror",
)

HELD = pytest.param("held", marks=pytest.mark.mock_only, id="held")
ANY_TIMING = pytest.param("any_timing", id="any_timing")


NOT_JUDGED = "not judged: "
"""The prefix of a skip whose rule was not judged (the state to act on was missed)."""


# ---------------------------------------------------------------- helpers
class Frames:
    """A subscription's frame types as they arrive, for a test that acts on a state."""

    def __init__(self) -> None:
        self.types: list[str] = []
        self.ended = False
        self.arrived = threading.Condition()

    def add(self, frame: dict[str, Any]) -> None:
        """One frame arrived."""
        with self.arrived:
            self.types.append(str(frame.get("type")))
            self.arrived.notify_all()

    def close(self) -> None:
        """The subscription ended."""
        with self.arrived:
            self.ended = True
            self.arrived.notify_all()

    def wait_for(self, reached: Callable[[str], bool], timeout: float) -> str:
        """Block until a frame whose type is ``reached`` or terminal arrives; its type
        (the subscription's end or ``timeout`` fails the test)."""
        with self.arrived:

            def found() -> str | None:
                hits = [t for t in self.types if reached(t) or t in TERMINAL]
                return hits[0] if hits else None

            self.arrived.wait_for(lambda: found() is not None or self.ended, timeout)
            hit = found()
            assert hit is not None, f"the socket never reached the state: {self.types}"
            return hit


@contextmanager
def subscription(
    target: Target,
    recorder: Recorder,
    token: str,
    before_exit: Callable[[], None] = lambda: None,
    watch: Frames | None = None,
) -> Iterator[Future[SocketResult]]:
    """Follow ``token`` on the socket in the background from now on; the future gives
    every frame up to the terminal one. Subscribed before acting, so nothing depends on
    what a late subscriber receives (undocumented [A]). ``before_exit`` runs before the
    reader is waited for (release a held task, so a failing test does not hang); ``watch``
    sees every frame as it arrives."""
    registered = threading.Event()
    frames = watch or Frames()

    def read() -> SocketResult:
        try:
            return read_frames(
                target.socket_url,
                token,
                recorder,
                target.task_timeout,
                registered=registered,
                on_frame=frames.add,
            )
        finally:
            frames.close()

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(read)
        deadline = time.monotonic() + 60
        while not registered.wait(0.01):
            if future.done():
                future.result()  # raises what stopped it
                break
            assert time.monotonic() < deadline, "the socket did not connect"
        try:
            yield future
        finally:
            before_exit()


def frames_of(future: Future[SocketResult], target: Target) -> SocketResult:
    """The subscription's frames, once it has seen a terminal frame."""
    socket = future.result(timeout=target.task_timeout + 30)
    assert socket.ended == "terminal", (socket.ended, socket.types)
    return socket


def answer(response: requests.Response) -> dict[str, Any]:
    """The JSON envelope of a Cancel/Kill answer: always HTTP 200 [docs]."""
    assert response.status_code == 200, (response.status_code, response.text[:500])
    body: dict[str, Any] = response.json()
    assert isinstance(body, dict) and isinstance(body.get("result"), bool), body
    return body


def refusal(body: dict[str, Any]) -> tuple[Any, Any]:
    """The (code, message) of a refused call's single error."""
    assert body["result"] is False, body
    errors = body.get("errors")
    assert isinstance(errors, list) and len(errors) == 1, body
    assert isinstance(errors[0], dict), body
    return errors[0].get("code"), errors[0].get("message")


def assert_refused_not_cancellable(body: dict[str, Any]) -> None:
    """Cancel's refusal [docs]: code 1, ``Task is not in a cancellable state.``."""
    assert refusal(body) == (1, NOT_CANCELLABLE), body


def assert_kill_refused(body: dict[str, Any]) -> None:
    """Kill's refusal [docs]: code 1, ``Task could not be killed: {reason}``."""
    code, message = refusal(body)
    assert code == 1, body
    assert isinstance(message, str) and KILL_REFUSED.fullmatch(message), body


def assert_seed_shape(body: dict[str, Any], seed: dict[str, Any], taskid: str) -> dict[str, Any]:
    """Cancel/Kill's success answer in the seed's shape, its one task at task_cancel."""
    assert body["result"] is True and body["errors"] == [], body
    problems = check_like_seed(body, seed, "answer")
    tasks = body.get("tasklist")
    assert isinstance(tasks, list) and len(tasks) == 1, body
    task: dict[str, Any] = tasks[0]
    problems += check_like_seed(task, seed["tasklist"][0], "answer.tasklist[0]")
    assert not problems, problems
    assert task["id"] == taskid, (task["id"], taskid)
    assert task["status"] == "task_cancel", task["status"]
    return task


def assert_ended_cancelled(socket: SocketResult) -> None:
    """The socket's story of a cancelled or killed task: task_cancel last and only once,
    never task_postprocess_end, the earlier frames in lifecycle order."""
    types = socket.types
    assert types and types[-1] == "task_cancel", types
    assert types.count("task_cancel") == 1, types
    assert "task_postprocess_end" not in types, types
    ranks = [lifecycle_rank(t) for t in types[:-1]]
    assert all(r >= 0 for r in ranks) and ranks == sorted(ranks), types


def assert_finished_normally(api: Api, taskid: str, target: Target, socket: SocketResult) -> None:
    """A task whose cancel or kill was refused runs to a successful end [docs]."""
    final = poll_until_terminal(api, taskid, target)[-1]
    assert final["status"] == "task_postprocess_end", final["status"]
    assert final["pexit"] == "0", (final["pexit"], final.get("debugerror"))
    assert isinstance(final["outputs"], list) and final["outputs"], final["outputs"]
    assert "task_cancel" not in socket.types, socket.types
    assert socket.types[-1] == "task_postprocess_end", socket.types


def hold_next_run(request: pytest.FixtureRequest, api: Api, **behaviour: Any) -> Control:
    """On the fake: the project's next Run is held as ``behaviour`` says (a scenario)."""
    control: Control = request.getfixturevalue("control")
    control.post("scenarios", {"project": api.api_key, "times": 1, **behaviour})
    return control


def release(control: Control | None, taskid: str) -> None:
    """Let a held task go on (harmless on a task that has ended)."""
    if control is not None:
        control.post(f"tasks/{taskid}/release")


# ---------------------------------------------------------------- cancel
@pytest.mark.mock_only
@pytest.mark.spends(1)
@pytest.mark.rule("cancel.queued", "socket.cancel", "terminal.final")
def test_cancel_queued_task_shape(
    api: Api, target: Target, recorder: Recorder, control: Control
) -> None:
    """A queued task cancels: the seed's answer, task_cancel in Detail and on the socket."""
    control.post("scenarios", {"project": api.api_key, "times": 1, "stay_queued": True})
    run = run_task(api)
    taskid = str(run["taskid"])
    try:
        with subscription(
            target, recorder, run["socketaccesstoken"], lambda: release(control, taskid)
        ) as future:
            queued = api.detail(taskid)
            assert queued["status"] == "task_queue", f"the fake did not hold it: {queued}"
            body = answer(api.post(CANCEL, {"taskid": taskid}))
            assert_seed_shape(body, SEED_CANCEL, taskid)
            assert api.detail(taskid)["status"] == "task_cancel"
            socket = frames_of(future, target)
        assert_ended_cancelled(socket)
        assert set(socket.types) <= {"task_queue", "task_cancel"}, socket.types
    finally:
        release(control, taskid)
    # a cancelled task stays cancelled once nothing holds it any more
    assert api.detail(taskid)["status"] == "task_cancel"


@pytest.mark.spends(1)
@pytest.mark.parametrize("mode", [HELD, ANY_TIMING])
@pytest.mark.rule("cancel.queue_only", "errors.envelope")
def test_cancel_refused_once_running(
    api: Api, target: Target, recorder: Recorder, request: pytest.FixtureRequest, mode: str
) -> None:
    """Past the queue, Cancel is refused (code 1) and the task finishes normally."""
    control = hold_next_run(request, api, hold_at="task_start") if mode == "held" else None
    run = run_task(api)
    taskid = str(run["taskid"])
    watch = Frames()
    try:
        with subscription(
            target, recorder, run["socketaccesstoken"], lambda: release(control, taskid), watch
        ) as future:
            # act on the socket's first frame past the queue, not on a later poll
            seen = watch.wait_for(lambda t: lifecycle_rank(t) >= ASSIGNED, target.task_timeout)
            body = answer(api.post(CANCEL, {"taskid": taskid}))
            after = api.detail(taskid)
            if mode == "held":
                assert after["status"] == "task_assign", f"the fake did not hold it: {after}"
            # a task already terminal can't be cancelled either ("after that" [docs])
            assert_refused_not_cancellable(body)
            assert after["status"] != "task_cancel", after["status"]
            release(control, taskid)
            socket = frames_of(future, target)
        assert_finished_normally(api, taskid, target, socket)
    finally:
        release(control, taskid)
    if seen in TERMINAL or after["status"] in TERMINAL:
        # the status only moves forwards: still running after the answer means it was
        # running when Cancel met it; terminal may mean it had already ended
        pytest.skip(
            f"{NOT_JUDGED}the task ended ({after['status']}) before Cancel was shown "
            "to meet it running"
        )


@pytest.mark.spends(1)
@pytest.mark.rule("cancel.queued", "cancel.queue_only", "socket.cancel")
def test_cancel_right_after_run(api: Api, target: Target, recorder: Recorder) -> None:
    """Cancel at once: either it was still queued (cancelled everywhere) or it was not
    (refused, and it finishes normally). Both are the contract; mixing them is not."""
    run = run_task(api)
    taskid = str(run["taskid"])
    with subscription(target, recorder, run["socketaccesstoken"]) as future:
        body = answer(api.post(CANCEL, {"taskid": taskid}))
        after = api.detail(taskid)
        socket = frames_of(future, target)
    if body["result"]:
        assert_seed_shape(body, SEED_CANCEL, taskid)
        final = poll_until_terminal(api, taskid, target)[-1]
        assert final["status"] == "task_cancel", final["status"]
        assert_ended_cancelled(socket)
        # only a queued task cancels, so nothing past the queue was ever sent
        assert set(socket.types) <= {"task_queue", "task_cancel"}, socket.types
    else:
        assert_refused_not_cancellable(body)
        # still queued after the refusal means it was queued when Cancel came: refused wrongly
        assert after["status"] != "task_queue", "Cancel refused a queued task"
        assert_finished_normally(api, taskid, target, socket)


# ---------------------------------------------------------------- kill
@pytest.mark.spends(1)
@pytest.mark.parametrize("mode", [HELD, ANY_TIMING])
@pytest.mark.rule("kill.running", "socket.cancel", "billing.free_when_not_successful")
def test_kill_running_task(
    api: Api, target: Target, recorder: Recorder, request: pytest.FixtureRequest, mode: str
) -> None:
    """Kill a started task: the seed's answer, task_cancel in Detail and last on the socket.
    ``held``: the fake holds it at task_start (before any output), so the kill must win.
    ``any_timing``: it may have finished first; then Kill is refused and nothing changes."""
    control = hold_next_run(request, api, hold_at="task_output") if mode == "held" else None
    run = run_task(api)
    taskid = str(run["taskid"])
    watch = Frames()
    try:
        with subscription(
            target, recorder, run["socketaccesstoken"], lambda: release(control, taskid), watch
        ) as future:
            # act on the socket's task_start frame, not on a later poll
            seen = watch.wait_for(lambda t: lifecycle_rank(t) >= STARTED, target.task_timeout)
            if mode == "held":
                task = api.detail(taskid)
                assert task["status"] == "task_start", f"the fake did not hold it: {task}"
            body = answer(api.post(KILL, {"taskid": taskid}))
            after = api.detail(taskid)
            killed = mode == "held" or body["result"] is True
            if killed:
                assert_seed_shape(body, SEED_KILL, taskid)
                assert after["status"] == "task_cancel", after["status"]
            else:
                # refused: only a task that had already finished may refuse here; still
                # running after the refusal means Kill refused a running task
                assert_kill_refused(body)
                assert after["status"] in TERMINAL, f"Kill refused while {after['status']}"
            socket = frames_of(future, target)
        if killed:
            final = poll_until_terminal(api, taskid, target)[-1]
            assert final["status"] == "task_cancel", final["status"]
            assert_ended_cancelled(socket)
            if mode == "held":
                # killed before its first output: it has produced nothing
                assert final["outputs"] == [], final["outputs"]
                release(control, taskid)
                after = api.detail(taskid)
                assert after["status"] == "task_cancel", "a killed task came back to life"
                assert after["outputs"] == [], after["outputs"]
        else:
            assert_finished_normally(api, taskid, target, socket)
    finally:
        release(control, taskid)
    if not killed:
        pytest.skip(f"{NOT_JUDGED}the task had finished (socket: {seen}) before Kill came")


@pytest.mark.spends(1)
@pytest.mark.rule("kill.finished_refused", "terminal.final")
def test_kill_finished_task_refused(api: Api, finished: Observed) -> None:
    """A finished task can't be killed: code 1 ``Task could not be killed: ...``, and its
    Task/Detail is what it was."""
    before = api.detail(finished.taskid)
    assert before["status"] == "task_postprocess_end", before["status"]
    body = answer(api.post(KILL, {"taskid": finished.taskid}))
    assert_kill_refused(body)
    after = api.detail(finished.taskid)
    changed = {
        k: (before.get(k), after.get(k)) for k in OUTCOME_FIELDS if before.get(k) != after.get(k)
    }
    assert not changed, changed

    def outputs(task: dict[str, Any]) -> list[tuple[Any, Any, Any]]:
        return [(o.get("url"), o.get("size"), o.get("name")) for o in task["outputs"]]

    assert outputs(after) == outputs(before), (before["outputs"], after["outputs"])
