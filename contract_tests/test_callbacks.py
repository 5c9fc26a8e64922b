"""``callbackUrl`` [docs]: "Wiro will POST the task result to your URL when the task completes."

The body is undocumented [A]: the contract test checks only that the callback is JSON
that names the task and a terminal status agreeing with Task/Detail, and that it does
not come before the task is terminal. The fake's own choices (the Task/Detail shape,
callbacks for cancelled, killed and failed tasks, retries, the seed's sample text as
URL) are ``mock_only``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from .conftest import Control, Receiver, Target, run_task
from .contract import TERMINAL
from .wire import Api

SEED_CALLBACK_TEXT = "Optional: Webhook URL for task completion notifications"  # [seed]


# ---------------------------------------------------------------- finding the task in a body


def _parsed(value: Any) -> Any:
    if isinstance(value, bytes | str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def tasks_in(bodies: list[Any], taskid: str) -> list[dict[str, Any]]:
    """Every dict in ``bodies`` that names task ``taskid`` (``id`` or ``taskid``): at the top
    level, inside ``tasklist``, or inside a reader's wrapper (searched a few levels deep)."""
    found: list[dict[str, Any]] = []

    def walk(value: Any, depth: int) -> None:
        value = _parsed(value)
        if depth > 5:
            return
        if isinstance(value, dict):
            if str(value.get("id", value.get("taskid", ""))) == taskid:
                found.append(value)
                return
            for item in value.values():
                walk(item, depth + 1)
        elif isinstance(value, list):
            for item in value:
                walk(item, depth + 1)

    for body in bodies:
        walk(body, 0)
    return found


class Channel:
    """Where callbacks go (``url``) and how the test reads back what arrived."""

    def __init__(self, url: str, read: Callable[[], list[Any]], poll: float) -> None:
        self.url = url
        self.read = read
        self.poll = poll

    def tasks(self, taskid: str) -> list[dict[str, Any]]:
        """What arrived so far for ``taskid``."""
        return tasks_in(self.read(), taskid)

    def wait(self, taskid: str, timeout: float) -> list[dict[str, Any]]:
        """Block until a callback for ``taskid`` arrived (or ``timeout``); what arrived."""
        deadline = time.monotonic() + timeout
        while not (found := self.tasks(taskid)) and time.monotonic() < deadline:
            time.sleep(self.poll)  # a remote reader has no event to wait on
        return found


class ReceiverChannel(Channel):
    """The loopback receiver: waits on its condition, no polling."""

    def __init__(self, receiver: Receiver) -> None:
        super().__init__(receiver.url, lambda: receiver.wait(0, 0), 0.0)
        self.receiver = receiver

    def wait(self, taskid: str, timeout: float) -> list[dict[str, Any]]:
        with self.receiver.arrived:
            self.receiver.arrived.wait_for(
                lambda: bool(tasks_in(list(self.receiver.bodies), taskid)), timeout
            )
        return self.tasks(taskid)


def channel_for(target: Target, receiver: Receiver) -> Channel:
    """The fake: the loopback receiver. A real target: WIRO_CALLBACK_URL, read back with a
    GET of WIRO_CALLBACK_READ_URL (a JSON list); without them, skip."""
    if target.is_fake:
        return ReceiverChannel(receiver)
    if not (target.callback_url and target.callback_read_url):
        pytest.skip("a real target needs WIRO_CALLBACK_URL and WIRO_CALLBACK_READ_URL")
    read_url = target.callback_read_url

    def read() -> list[Any]:
        response = requests.get(read_url, timeout=60)
        assert response.status_code == 200, (read_url, response.status_code)
        bodies = response.json()
        assert isinstance(bodies, list), f"WIRO_CALLBACK_READ_URL: not a JSON list: {bodies!r:.200}"
        return bodies

    return Channel(target.callback_url, read, target.poll_interval)


def poll_watching(api: Api, target: Target, taskid: str, channel: Channel) -> dict[str, Any]:
    """Task/Detail until terminal; fails if a callback for the task had arrived before a
    snapshot that was still not terminal. The terminal snapshot."""
    deadline = time.monotonic() + target.task_timeout
    while True:
        early = channel.tasks(taskid)  # read first: anything here came before the Detail call
        task = api.detail(taskid)
        if task["status"] in TERMINAL:
            return task
        assert not early, f"a callback arrived while Task/Detail said {task['status']}: {early}"
        assert time.monotonic() < deadline, f"task {taskid} not terminal: {task['status']}"
        time.sleep(target.poll_interval)


def assert_describes(found: list[dict[str, Any]], final: dict[str, Any]) -> None:
    """The callback names the task with a terminal status equal to Task/Detail's."""
    assert found, f"no callback named task {final['id']}"
    for task in found:
        status = task.get("status")
        assert status in TERMINAL, f"callback status {status!r} is not terminal: {task}"
        assert status == final["status"], (status, final["status"])


@pytest.mark.spends(1)
@pytest.mark.rule("callback.delivery")
def test_callback_delivered(api: Api, target: Target, receiver: Receiver) -> None:
    channel = channel_for(target, receiver)
    run = run_task(api, callbackUrl=channel.url)
    taskid = str(run["taskid"])
    final = poll_watching(api, target, taskid, channel)
    assert_describes(channel.wait(taskid, target.task_timeout), final)


# ---------------------------------------------------------------- the fake's choices [A]


def wait_terminal(control: Control, taskid: str, target: Target) -> None:
    reached = control.post(
        f"tasks/{taskid}/wait", {"status": "terminal", "timeout": min(target.task_timeout, 300)}
    )
    assert reached["reached"], reached


def delivery(control: Control, taskid: str, target: Target) -> dict[str, Any]:
    """Block until the task's callback is final; its delivery record."""
    answer = control.post(f"callbacks/{taskid}/wait", {"timeout": min(target.task_timeout, 300)})
    assert answer["reached"], answer
    record: dict[str, Any] = answer["callback"]
    return record


def release_quietly(control: Control, taskid: str) -> None:
    """Let a held task go (cleanup: it must not keep a slot of the main project)."""
    control.session.post(f"{control.url}/tasks/{taskid}/release", json={}, timeout=60)


@pytest.mark.mock_only
@pytest.mark.spends(1)
@pytest.mark.rule("callback.body")
def test_fake_callback_is_the_task_detail_response(
    api: Api, target: Target, control: Control, receiver: Receiver
) -> None:
    """README: the body is the Task/Detail response, once, after the terminal event."""
    run = run_task(api, callbackUrl=receiver.url)
    taskid = str(run["taskid"])
    record = delivery(control, taskid, target)
    assert record["state"] == "delivered", record
    assert [(a["number"], a["status"]) for a in record["attempts"]] == [(1, 200)], record
    bodies = receiver.wait(1, target.task_timeout)
    assert len(bodies) == 1, bodies
    assert bodies[0] == api.ok("Task/Detail", {"taskid": taskid})
    events = control.get(f"tasks/{taskid}")["events"]
    assert events[-1]["type"] in TERMINAL, events[-1]
    assert record["attempts"][0]["time"] >= events[-1]["time"], (record, events[-1])


@pytest.mark.mock_only
@pytest.mark.spends(1)
@pytest.mark.parametrize("ending", ["cancel", "kill", "failure"])
@pytest.mark.rule("callback.every_ending")
def test_fake_callback_for_every_ending(
    api: Api, target: Target, control: Control, receiver: Receiver, ending: str
) -> None:
    """README: the fake calls back on success, failure and cancel/kill alike ([A]: the
    docs say only "when the task completes")."""
    marker = f"[[callback-{ending}]]"
    scenario: dict[str, Any] = {"times": 1, "prompt_contains": marker}
    endings: dict[str, dict[str, Any]] = {
        "cancel": {"stay_queued": True},
        "kill": {"hold_at": "task_output"},
        "failure": {"fail_at": "task_start", "debugerror": "contract-test failure"},
    }
    scenario |= endings[ending]
    control.post("scenarios", scenario)
    run = run_task(api, prompt=f"the sea {marker}", callbackUrl=receiver.url)
    taskid = str(run["taskid"])
    try:
        if ending == "cancel":
            answer = api.ok("Task/Cancel", {"taskid": taskid})
            assert answer["tasklist"][0]["status"] == "task_cancel", answer
        elif ending == "kill":
            reached = control.post(f"tasks/{taskid}/wait", {"status": "task_start"})
            assert reached["reached"], reached
            answer = api.ok("Task/Kill", {"taskid": taskid})
            assert answer["tasklist"][0]["status"] == "task_cancel", answer
        wait_terminal(control, taskid, target)
    finally:
        release_quietly(control, taskid)
    final = api.detail(taskid)
    assert final["status"] == ("task_postprocess_end" if ending == "failure" else "task_cancel")
    assert delivery(control, taskid, target)["state"] == "delivered"
    found = tasks_in(receiver.wait(1, target.task_timeout), taskid)
    assert_describes(found, final)
    if ending == "failure":
        assert [t["pexit"] for t in found] == [final["pexit"]] and final["pexit"] != "0"


@pytest.fixture
def flaky(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    """A receiver answering 500 to its first ``request.param`` POSTs."""
    made = Receiver(failures=request.param)
    yield made
    made.close()


@pytest.mark.mock_only
@pytest.mark.spends(1)
@pytest.mark.parametrize(
    ("flaky", "state", "attempts"),
    [(2, "delivered", 3), (5, "failed", 3)],
    ids=["third-attempt-succeeds", "gives-up-after-3"],
    indirect=["flaky"],
)
@pytest.mark.rule("callback.retries")
def test_fake_callback_retries(
    api: Api,
    target: Target,
    control: Control,
    flaky: Receiver,
    state: str,
    attempts: int,
) -> None:
    """README: a non-2xx answer is retried, ``callback_attempts`` (3) in all, same body."""
    run = run_task(api, callbackUrl=flaky.url)
    taskid = str(run["taskid"])
    record = delivery(control, taskid, target)
    assert record["state"] == state, record
    assert [a["number"] for a in record["attempts"]] == list(range(1, attempts + 1)), record
    assert [a["status"] for a in record["attempts"]] == flaky.statuses, record
    assert len(flaky.raw) == attempts
    assert len(set(flaky.raw)) == 1, "every attempt carries the same body"
    assert tasks_in([flaky.raw[0]], taskid), flaky.raw[0][:300]


@pytest.mark.mock_only
@pytest.mark.spends(1)
@pytest.mark.rule("callback.undeliverable")
def test_seed_sample_callback_text_is_undeliverable(
    api: Api, target: Target, control: Control
) -> None:
    """wiro-api.md: the seed's sample text as callbackUrl is accepted; the task runs and
    the callback is recorded as undeliverable."""
    run = run_task(api, callbackUrl=SEED_CALLBACK_TEXT)
    taskid = str(run["taskid"])
    wait_terminal(control, taskid, target)
    final = api.detail(taskid)
    assert final["status"] == "task_postprocess_end" and final["pexit"] == "0", final
    record = delivery(control, taskid, target)
    assert record["state"] == "undeliverable", record
    assert all(a["status"] is None for a in record["attempts"]), record
