"""The task lifecycle as a hypothesis state machine: any sequence of client calls (Run,
Task/Detail, Task/Cancel, Task/Kill, Task/InputOutputDelete, Task/List) and control
actions (advance the manual clock; push, hold and release a task; scenarios that fail,
hold, moderate or refuse) keeps the invariants:

- a task's frames follow the documented order (``task_queue`` … ``task_postprocess_end``,
  or ``task_cancel`` from any active stage) and its status only moves forward;
- a terminal task never changes again (but for InputOutputDelete removing its outputs);
- ``pexit``, ``outputs``, ``totalcost``, ``cps`` and ``debugerror`` agree with how it
  ended: success, failure, cancel (pexit "0") or kill (pexit "-9");
- the timestamps of the stages passed are set, in order, and the others are "0";
- the accounting matches: the balance is the start less the price of every successful
  task (only those are billed), and Run answers code 97 / 96 / a task exactly when the
  balance and the number of active tasks say it must;
- Cancel, Kill and InputOutputDelete succeed exactly when the task's state allows them.

Everything goes over HTTP to a fake on a loopback port (client calls signed, controls
under ``/_mock``), on the manual clock. Bounded for the suite
(``MOCK_WIRO_FUZZ_EXAMPLES`` runs of ``MOCK_WIRO_FUZZ_STEPS`` steps);
``python -m benchmarks.fuzz`` runs it longer.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from mock_wiro.chaos.scenarios import HOLDABLE_STAGES
from mock_wiro.engine.backend import concurrency_limit
from mock_wiro.engine.lifecycle import LIFECYCLE, TERMINAL_STATUSES, TIMESTAMP_FIELDS
from mock_wiro.engine.models import Project
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import (
    KILLED_PEXIT,
    MINIMUM_BALANCE_USD,
    PRICE_TABLE_USD,
    RUN_PATH,
    Settings,
)
from mock_wiro.testing import signed_session
from mock_wiro_fixtures import image_bytes

EXAMPLES = int(os.environ.get("MOCK_WIRO_FUZZ_EXAMPLES") or 15)
STEPS = int(os.environ.get("MOCK_WIRO_FUZZ_STEPS") or 30)
SEED = int(os.environ.get("MOCK_WIRO_FUZZ_SEED") or 0)  # the suite always draws the same runs
MACHINE_SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# What the rules did (rule and outcome), for the summary of `python -m benchmarks.fuzz`.
STATS: Counter[str] = Counter()

# The documented order [docs]; task_error is a frame, never a status; task_output repeats.
ORDER = [s for s in LIFECYCLE if s != "task_cancel"]
RANK = {s: i for i, s in enumerate(ORDER)}
STAMPS_IN_ORDER = [TIMESTAMP_FIELDS[s] for s in ORDER if s in TIMESTAMP_FIELDS]
REPEATED = ("task_output", "task_error")

# Prompt markers for the scenarios every run of the machine has (see initialize).
SCENARIOS: dict[str, dict[str, Any]] = {
    "plain": {},
    "[[fail-preprocess]]": {"fail_at": "task_preprocess_start", "pexit": "2"},
    "[[fail-start]]": {"fail_at": "task_start"},
    "[[fail-output]]": {"fail_at": "task_output_full", "stderr": ["oom"]},
    "[[moderation]]": {"moderation": True},
    "[[held]]": {"hold_at": "task_start"},
    "[[queued]]": {"stay_queued": True},
    "[[no-kill]]": {"kill_refused": "the task is being processed"},
    "[[no-cancel]]": {"cancel_refused": True},
    "[[slow]]": {"timings": {"task_start": 120, "task_postprocess_end": 30}},
    "[[no-output]]": {"outputs": "missing"},
    "[[empty-output]]": {"outputs": "empty"},
}
FAILING = {"[[fail-preprocess]]", "[[fail-start]]", "[[fail-output]]", "[[moderation]]"}
IMAGES = {
    "file": ("landscape_16x9.jpg", True),
    "portrait": ("portrait_9x16.png", True),
    "bad": ("too_small_short_side.jpg", False),
    "not an image": ("not_an_image.jpg", False),
}


class Model:
    """What the test knows of one task."""

    def __init__(self, taskid: str, prompt: str, resolution: str, duration: str) -> None:
        self.id = taskid
        self.prompt = prompt
        self.price = PRICE_TABLE_USD[(resolution, duration)]
        self.cancel_refused = prompt == "[[no-cancel]]"
        self.kill_refused = prompt == "[[no-kill]]"
        self.stopped_by: str | None = None  # "cancel" or "kill", once one succeeded
        self.deleted = False  # InputOutputDelete succeeded
        self.final: dict[str, Any] | None = None  # the wire task when first seen terminal
        self.events_seen = 0


class Lifecycle(RuleBasedStateMachine):
    """One project on a freshly reset fake; rules are client calls and controls."""

    tasks = Bundle("tasks")

    def __init__(self, server: MockWiroServer) -> None:
        super().__init__()
        self.server = server
        self.control = requests.Session()
        self.models: dict[str, Model] = {}
        self.project: Project | None = None
        self.session: requests.Session | None = None
        self.initial = Decimal(0)

    # ------------------------------------------------------------ helpers
    def post(self, path: str, **json: Any) -> dict[str, Any]:
        assert self.session is not None
        response = self.session.post(path, json=json)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert isinstance(body["result"], bool) and isinstance(body["errors"], list), body
        return body

    def mock(self, path: str, **json: Any) -> requests.Response:
        return self.control.post(f"{self.server.url}/_mock/{path}", json=json, timeout=60)

    def settle(self) -> None:
        """Let every step that is due, and waits only for background work, happen: with
        the manual clock, nothing moves after this until the next action."""
        self.server.backend.settle()

    def wire(self, taskid: str) -> dict[str, Any]:
        body = self.post("Task/Detail", taskid=taskid)
        assert body["result"] is True, body
        task: dict[str, Any] = body["tasklist"][0]
        return task

    def balance(self) -> Decimal:
        assert self.project is not None
        return self.project.balance

    def billed(self) -> Decimal:
        """The price of every task the test has seen succeed."""
        total = Decimal(0)
        for taskid, model in self.models.items():
            task = self.server.task(taskid)
            if task.status == "task_postprocess_end" and task.pexit == "0":
                total += model.price
        return total

    # ------------------------------------------------------------ rules
    @initialize(target=tasks, balance=st.sampled_from(["0.6", "0.9", "1.2", "30.1", "100", "300"]))
    def start(self, balance: str) -> Any:
        """A fresh fake (reset), a project with this balance, the scenarios, a first task."""
        self.server.reset()
        self.server.set_clock("manual")
        self.project = self.server.create_project(balance=balance)
        self.session = signed_session(self.project, self.server.base_url)
        self.initial = Decimal(balance)
        for marker, behaviour in SCENARIOS.items():
            if behaviour:
                response = self.mock("scenarios", prompt_contains=marker, **behaviour)
                assert response.status_code == 201, response.text
        return self.run(prompt="plain", image="file", size=("768P", "6"), as_url=False)

    @rule(
        target=tasks,
        prompt=st.sampled_from(sorted(SCENARIOS)),
        image=st.sampled_from(sorted(IMAGES)),
        size=st.sampled_from(sorted(PRICE_TABLE_USD)),
        as_url=st.booleans(),
    )
    def run(self, prompt: str, image: str, size: tuple[str, str], as_url: bool) -> Any:
        self.settle()
        active = sum(1 for t in self.models if not self.server.task(t).terminal)
        balance = self.balance()
        assert balance == self.initial - self.billed(), "billing drifted"
        limit = concurrency_limit(balance)
        if balance < MINIMUM_BALANCE_USD:
            expected = 97
        elif limit is not None and active >= limit:
            expected = 96
        else:
            expected = None
        resolution, duration = size
        name, _ = IMAGES[image]
        fields = {"prompt": prompt, "resolution": resolution, "duration": duration}
        assert self.session is not None
        if as_url:
            answer = self.session.post(
                RUN_PATH, json={**fields, "inputImageFirstUrl": "https://example.com/x.jpg"}
            )
        else:
            files = {"inputImageFirst": (name, image_bytes(name))}
            answer = self.session.post(RUN_PATH, data=fields, files=files)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if expected is not None:
            assert body["result"] is False and body["errors"][0]["code"] == expected, (
                expected,
                active,
                balance,
                body,
            )
            STATS[f"run: code {expected}"] += 1
            return multiple()
        assert body["result"] is True, (active, balance, body)
        taskid = body["taskid"]
        self.models[taskid] = Model(taskid, prompt, resolution, duration)
        STATS["run: ok"] += 1
        return taskid

    @rule(balance=st.sampled_from(["0.4", "0.6", "1.1", "30.05", "260"]))
    def set_balance(self, balance: str) -> None:
        assert self.project is not None
        self.settle()
        response = self.mock(f"projects/{self.project.api_key}/balance", balance=balance)
        assert response.status_code == 200, response.text
        self.initial = Decimal(balance) + self.billed()  # what later billing is measured from
        STATS["set_balance"] += 1

    @rule(seconds=st.sampled_from([0.5, 1, 2, 5, 15, 60, 300]))
    def advance(self, seconds: float) -> None:
        response = self.mock("clock/advance", seconds=seconds)
        assert response.status_code == 200, response.text
        STATS["advance"] += 1

    @rule(taskid=tasks)
    def detail(self, taskid: str) -> None:
        task = self.wire(taskid)
        assert task["id"] == taskid
        STATS[f"detail: {task['status']}"] += 1

    @rule(taskid=tasks, by=st.sampled_from(["taskid", "tasktoken", "socketaccesstoken"]))
    def cancel(self, taskid: str, by: str) -> None:
        self.settle()
        model = self.models[taskid]
        task = self.server.task(taskid)
        allowed = task.status == "task_queue" and not model.cancel_refused
        ref = taskid if by == "taskid" else task.token
        body = self.post("Task/Cancel", **{by: ref})
        if allowed:
            assert body["result"] is True, body
            assert body["tasklist"][0]["status"] == "task_cancel"
            model.stopped_by = "cancel"
        else:
            assert body["errors"] == [{"code": 1, "message": "Task is not in a cancellable state."}]
        STATS[f"cancel: {'ok' if allowed else 'refused'}"] += 1

    @rule(taskid=tasks)
    def kill(self, taskid: str) -> None:
        self.settle()
        model = self.models[taskid]
        allowed = not self.server.task(taskid).terminal and not model.kill_refused
        body = self.post("Task/Kill", taskid=taskid)
        if allowed:
            assert body["result"] is True, body
            assert body["tasklist"][0]["status"] == "task_cancel"
            assert body["tasklist"][0]["pexit"] == KILLED_PEXIT
            model.stopped_by = "kill"
        else:
            assert body["result"] is False and body["errors"][0]["code"] == 1, body
            assert body["errors"][0]["message"].startswith("Task could not be killed: ")
        STATS[f"kill: {'ok' if allowed else 'refused'}"] += 1

    @rule(taskid=tasks)
    def input_output_delete(self, taskid: str) -> None:
        self.settle()
        model = self.models[taskid]
        finished = self.server.task(taskid).terminal
        body = self.post("Task/InputOutputDelete", taskid=taskid)
        assert body["result"] is finished, body
        if finished:
            model.deleted = True
            if model.final is not None:  # its outputs go, and nothing else changes
                model.final = {**model.final, "outputs": [], "size": "0"}
        STATS[f"input_output_delete: {'ok' if finished else 'refused'}"] += 1

    @rule(stage=st.sampled_from(HOLDABLE_STAGES), taskid=tasks)
    def push(self, taskid: str, stage: str) -> None:
        before = len(self.server.task(taskid).events)
        response = self.mock(f"tasks/{taskid}/push", stage=stage)
        assert response.status_code in (200, 409), response.text
        if response.status_code == 200:
            events = [e["type"] for e in response.json()["events"][before:]]
            assert stage in events or response.json()["status"] in TERMINAL_STATUSES, events
        STATS[f"push: {response.status_code}"] += 1

    @rule(stage=st.sampled_from(HOLDABLE_STAGES), taskid=tasks)
    def hold(self, taskid: str, stage: str) -> None:
        response = self.mock(f"tasks/{taskid}/hold", stage=stage)
        assert response.status_code in (200, 409), response.text
        if response.status_code == 200:
            assert response.json()["held_at"] == stage
        STATS[f"hold: {response.status_code}"] += 1

    @rule(taskid=tasks)
    def release(self, taskid: str) -> None:
        response = self.mock(f"tasks/{taskid}/release")
        assert response.status_code == 200, response.text
        assert response.json()["held_at"] is None
        STATS["release"] += 1

    @rule()
    def list_tasks(self) -> None:
        body = self.post("Task/List", limit=1000, order="ASC")
        assert body["total"] == str(len(self.models))
        assert [t["id"] for t in body["tasklist"]] == sorted(self.models, key=int)
        STATS["list"] += 1

    # ------------------------------------------------------------ invariants
    @invariant()
    def every_task_keeps_the_rules(self) -> None:
        if not self.models:
            return
        response = self.control.get(f"{self.server.url}/_mock/tasks", timeout=60)
        assert response.status_code == 200
        for found in response.json()["tasks"]:
            model = self.models.get(found["id"])
            assert model is not None, f"a task the test did not make: {found['id']}"
            events = [e["type"] for e in found.pop("events")]
            self.check_order(model, events, found)
            self.check_ending(model, found)
            self.check_stamps(found)
            STATS[f"seen: {found['status']} pexit {found['pexit']}"] += 1
        assert self.balance() == self.initial - self.billed(), "billing drifted"

    def check_order(self, model: Model, events: list[str], task: dict[str, Any]) -> None:
        assert events[0] == "task_queue", events
        assert events[: model.events_seen] == events[: model.events_seen]
        ranks = [RANK[e] for e in events if e != "task_cancel"]
        assert ranks == sorted(ranks), events  # forward only, never back
        singles = [e for e in events if e not in REPEATED]
        assert len(singles) == len(set(singles)), events  # no stage twice
        ends = [i for i, e in enumerate(events) if e in TERMINAL_STATUSES]
        assert len(ends) <= 1 and (not ends or ends[0] == len(events) - 1), events
        status = next(e for e in reversed(events) if e != "task_error")
        assert task["status"] == status, (task["status"], events)
        if "task_error_full" in events:
            assert events.index("task_error") < events.index("task_error_full"), events
        if model.final is not None:  # terminal: frozen
            assert len(events) == model.events_seen, events
            assert task == model.final, "a terminal task changed"
        elif task["status"] in TERMINAL_STATUSES:
            model.final = task
        model.events_seen = len(events)

    def check_ending(self, model: Model, task: dict[str, Any]) -> None:
        status, pexit = task["status"], task["pexit"]
        if status not in TERMINAL_STATUSES:
            assert pexit == "0" and task["outputs"] == [] and task["totalcost"] == "0", task
            return
        if status == "task_cancel":
            assert model.stopped_by is not None, "ended at task_cancel without a cancel/kill"
            assert pexit == ("0" if model.stopped_by == "cancel" else KILLED_PEXIT)
            assert task["outputs"] == [] and task["totalcost"] == "0" and task["cps"] == "0"
            assert task["canceltime"] != "0"
            return
        assert model.stopped_by is None
        if pexit == "0":  # success: billed, an output (unless deleted)
            assert model.prompt not in FAILING, model.prompt
            assert Decimal(task["totalcost"]) == model.price
            elapsed = Decimal(task["elapsedseconds"])
            if elapsed > 0:  # cps * elapsedseconds == totalcost [seed]; no rate for no time
                assert abs(Decimal(task["cps"]) * elapsed - model.price) < Decimal("0.001")
            else:
                assert task["cps"] == "0", task
            assert task["debugerror"] == ""
            outputs = 0 if model.deleted or model.prompt == "[[no-output]]" else 1
            assert len(task["outputs"]) == outputs, task["outputs"]
            if task["outputs"]:
                assert task["outputs"][0]["contenttype"] == "video/mp4"
                assert task["size"] == task["outputs"][0]["size"]
                assert (task["size"] == "0") == (model.prompt == "[[empty-output]]"), task
        else:  # failure: no output, not billed, a reason
            assert task["outputs"] == [] and task["totalcost"] == "0" and task["cps"] == "0"
            assert task["debugerror"], task
            if model.prompt == "[[fail-preprocess]]":
                assert pexit == "2"

    @staticmethod
    def check_stamps(task: dict[str, Any]) -> None:
        stamps = [int(task[f]) for f in STAMPS_IN_ORDER if task[f] != "0"]
        assert stamps == sorted(stamps), task
        assert task["createtime"] != "0"
        if task["status"] != "task_cancel":
            assert task["canceltime"] == "0"

    def teardown(self) -> None:
        self.control.close()
        if self.session is not None:
            self.session.close()


@pytest.fixture(scope="module")
def lifecycle_server() -> Iterator[MockWiroServer]:
    with MockWiroServer(Settings(clock_mode="manual")) as server:
        yield server


def test_any_sequence_of_actions_keeps_the_invariants(lifecycle_server: MockWiroServer) -> None:
    @seed(SEED)
    def machine() -> Lifecycle:
        return Lifecycle(lifecycle_server)

    run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)
