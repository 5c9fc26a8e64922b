"""The failure path on any target: a first frame that breaks the model's image rules.

MiniMax's rules for the first frame [minimax]: short side over 300 px, aspect ratio between
2:5 and 5:2, a JPG/PNG/WebP image. Whether Wiro refuses such an image at Run or runs a task
that fails is not documented, so both outcomes are the contract and the test records which
one the target chose (finding ``bad_image.<rule>``: ``reject`` or ``fail``; the fake runs
and fails it [A: ``mock_wiro/engine/images.py``]):

- ``reject``: the documented error envelope, code 0 (validation) [docs], and no task;
- ``fail``: the task ends at ``task_postprocess_end`` with ``pexit`` not "0", no
  ``outputs``, ``totalcost`` "0" and the reason in ``debugerror`` [docs]; the socket tells
  the same ending as Task/Detail (its terminal frame last, carrying the same empty outputs,
  after ``task_end`` and postprocessing, in lifecycle order); a callback (the fake's
  loopback receiver, or ``WIRO_CALLBACK_URL`` on another target) comes once the task is
  terminal and agrees with Task/Detail; the money fields stay as they were.

Cost on the real API: nothing, either way (a refused Run makes no task, a failed task is
not billed [docs]). Each case is still ``spends(1)``: a server that ran the bad image to
success would bill it, and the budget counts tasks.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from mock_wiro_fixtures import INVALID_IMAGES

from .conftest import Finding, Receiver, Target, image_part
from .contract import MODEL_RUN, TERMINAL, lifecycle_rank
from .money import assert_money, money_of
from .test_callbacks import Channel, assert_describes, channel_for
from .test_cancel_kill import frames_of, subscription
from .test_lifecycle import missing_from_raw
from .test_run import SEED_FIELDS, assert_no_task_created, check_run_envelope, listing, refusal
from .wire import Api, Recorder, SocketResult

BAD_IMAGES = ("too_small_short_side.jpg", "too_wide_3x1.jpg", "not_an_image.jpg")
"""One image per rule a real target is asked to judge: short side, aspect ratio, unreadable."""
FAILURE_TAIL = ["task_end", "task_postprocess_start", "task_postprocess_end"]  # [docs]


def optional_channel(target: Target, receiver: Receiver) -> Channel | None:
    """Where the failed task's callback goes: the loopback receiver on the fake, the
    configured receiver on another target, or nowhere (the callback is then not judged)."""
    if target.is_fake or (target.callback_url and target.callback_read_url):
        return channel_for(target, receiver)
    return None


def follow(api: Api, target: Target, taskid: str, channel: Channel | None) -> list[dict[str, Any]]:
    """Task/Detail until terminal, every snapshot; fails if a callback for the task had
    arrived before a snapshot that was still not terminal."""
    deadline = time.monotonic() + target.task_timeout
    seen: list[dict[str, Any]] = []
    while True:
        early = channel.tasks(taskid) if channel is not None else []  # read before Detail
        task = api.detail(taskid)
        seen.append(task)
        if task["status"] in TERMINAL:
            return seen
        assert not early, f"a callback arrived while Task/Detail said {task['status']}: {early}"
        assert time.monotonic() < deadline, f"task {taskid} not terminal: {task['status']}"
        time.sleep(target.poll_interval)  # the real API is polled; there is no event to wait on


def assert_failed(task: dict[str, Any]) -> None:
    """A failed task [docs]: task_postprocess_end, pexit not "0", no outputs, totalcost
    "0" (a decimal string of value zero), the reason in debugerror."""
    assert task["status"] == "task_postprocess_end", (task["status"], task.get("debugerror"))
    assert isinstance(task["pexit"], str) and task["pexit"] not in ("0", ""), task["pexit"]
    assert task["outputs"] == [], task["outputs"]
    assert_money(task)  # a failure costs "0"
    debugerror = task["debugerror"]
    assert isinstance(debugerror, str) and debugerror.strip(), f"debugerror {debugerror!r}"


def assert_socket_agrees(
    socket: SocketResult, polled: list[dict[str, Any]], taskid: str, token: str
) -> None:
    """The socket's story of the failure is Task/Detail's."""
    final = polled[-1]
    types = socket.types
    assert socket.ended == "terminal", (socket.ended, types)
    assert types[-1] == final["status"], (types, final["status"])
    assert types[-3:] == FAILURE_TAIL, f"a failed task ends {FAILURE_TAIL} [docs]: {types}"
    assert types.count(final["status"]) == 1, types
    ranks = [lifecycle_rank(t) for t in types]
    assert all(r >= 0 for r in ranks) and ranks == sorted(ranks), f"out of order: {types}"
    for frame in socket.frames:
        assert frame.get("id") == taskid, frame
        assert frame.get("tasktoken") == token, "a frame's tasktoken is not the Run's"
        assert frame.get("result") is True, frame
    assert socket.frames[-1].get("message") == final["outputs"] == [], socket.frames[-1]
    missing = [t["status"] for t in polled if t["status"] not in set(types)]
    assert not missing, f"polled statuses the socket never sent: {missing}"
    assert_stderr_agrees(socket, final["debugerror"])


def assert_stderr_agrees(socket: SocketResult, debugerror: str) -> None:
    """The failure's stderr is one story [docs]: every ``task_error`` line the socket sent
    is a line of ``debugerror``, and ``task_error_full``'s ``raw`` (the whole stderr) holds
    every line of ``debugerror``."""
    errors = [f["message"] for f in socket.frames if f.get("type") == "task_error"]
    unsent = missing_from_raw([str(e) for e in errors], debugerror)
    assert not unsent, f"task_error lines not in debugerror {debugerror!r:.300}: {unsent}"
    fulls = [f["message"] for f in socket.frames if f.get("type") == "task_error_full"]
    assert len(fulls) <= 1, f"task_error_full sent {len(fulls)} times"
    if fulls:
        raw = fulls[0].get("raw") if isinstance(fulls[0], dict) else None
        assert isinstance(raw, str), f"task_error_full message {fulls[0]!r:.200} [docs]"
        lines = [line for line in debugerror.split("\n") if line.strip()]
        absent = missing_from_raw(lines, raw)
        assert not absent, f"debugerror lines not in task_error_full's raw {raw!r:.300}: {absent}"


def assert_callback_agrees(found: list[dict[str, Any]], final: dict[str, Any]) -> None:
    """The callback names the task terminal, as Task/Detail does; whatever it says of the
    failure (``pexit``, ``outputs``, ``totalcost``: its body is undocumented [A]) agrees."""
    assert_describes(found, final)
    for task in found:
        if "pexit" in task:
            assert task["pexit"] == final["pexit"], (task["pexit"], final["pexit"])
        if "outputs" in task:
            assert task["outputs"] == [], task["outputs"]
        if "totalcost" in task:
            assert_money({**final, "totalcost": task["totalcost"]})


@pytest.mark.spends(1)
@pytest.mark.parametrize("image", BAD_IMAGES)
@pytest.mark.rule(
    "run.image_rules",
    "lifecycle.failure",
    "billing.free_when_not_successful",
    "run.validation.no_task",
    "socket.error_frames",
)
def test_bad_image_is_refused_or_fails(
    api: Api,
    target: Target,
    recorder: Recorder,
    receiver: Receiver,
    finding: Finding,
    image: str,
) -> None:
    """A first frame breaking one image rule: refused at Run with code 0, or a task that
    runs and fails; either way judged, and the outcome recorded."""
    rule = INVALID_IMAGES[image]
    channel = optional_channel(target, receiver)
    before = listing(api)
    data = {**SEED_FIELDS, "callbackUrl": channel.url if channel is not None else ""}
    response = api.post(MODEL_RUN, data=data, files=image_part(image))
    body = response.json()
    outcome = "fail" if isinstance(body, dict) and body.get("result") is True else "reject"
    finding(f"bad_image.{rule}", outcome)
    expected = target.expect.get("bad_image")
    assert outcome == expected or expected is None, (outcome, expected, body)
    if outcome == "reject":
        pairs = refusal(response)
        assert all(code == 0 for code, _ in pairs), f"a bad image is a validation error: {pairs}"
        assert_no_task_created(api, before)
        return

    check_run_envelope(body)
    taskid, token = str(body["taskid"]), str(body["socketaccesstoken"])
    with subscription(target, recorder, token) as future:
        polled = follow(api, target, taskid, channel)
        socket = frames_of(future, target)
    final = polled[-1]
    assert_failed(final)
    statuses = [t["status"] for t in polled]
    ranks = [lifecycle_rank(s) for s in statuses]
    assert ranks == sorted(ranks) and min(ranks) >= 0, f"polled out of order: {statuses}"
    assert_socket_agrees(socket, polled, taskid, token)
    if channel is not None:
        assert_callback_agrees(channel.wait(taskid, target.task_timeout), final)
    again = api.detail(taskid)  # a terminal task's money does not move
    assert money_of(again) == money_of(final), (money_of(final), money_of(again))
    assert (again["status"], again["pexit"], again["outputs"]) == (
        final["status"],
        final["pexit"],
        final["outputs"],
    ), "a failed task changed after it ended"
