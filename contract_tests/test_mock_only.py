"""What only the fake can stage, checked against the documented rules: the concurrency
limit (code 96), an empty wallet (code 97), a held queue, a task failing at each stage,
and a bad input image. Everything here uses the fake's control surface (``/_mock``)."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

import pytest

from mock_wiro_fixtures import INVALID_IMAGES

from .conftest import Budget, Control, Target, image_part, observe, run_task
from .contract import (
    BALANCE_CODE,
    CONCURRENCY_CODE,
    LIFECYCLE,
    MODEL_RUN,
    SUCCESS_FRAMES,
    TERMINAL,
    lifecycle_rank,
)
from .test_lifecycle import missing_from_raw
from .wire import Api, Recorder, SocketResult

pytestmark = pytest.mark.mock_only

LIMIT_MESSAGE = re.compile(  # [docs], with the balance and n substituted
    r"You have reached your concurrent task limit\. With your current balance of "
    r"\$(?P<balance>\d+(?:\.\d+)?), you can run up to (?P<n>\d+) tasks at the same time\. "
    r"Add funds to increase your limit\."
)
INSUFFICIENT = "Insufficient balance"  # [docs]
FAILURE_TAIL = ["task_end", "task_postprocess_start", "task_postprocess_end"]  # [docs]
# The stages the fake can fail a task right after (``fail_at``, mock_wiro/scenarios.py).
FAIL_STAGES = LIFECYCLE[: LIFECYCLE.index("task_output_full") + 1]
FIRST_STDERR = "contract test: a first stderr line"


# ---------------------------------------------------------------- helpers


def concurrency_limit(balance: Decimal) -> int | None:
    """[docs] max(1, floor(balance * 0.10)) at $250 or less; None: unlimited."""
    if balance > 250:
        return None
    return max(1, math.floor(balance * Decimal("0.10")))


def new_project(
    control: Control, target: Target, recorder: Recorder, budget: Budget, balance: str
) -> tuple[Api, dict[str, Any]]:
    """A fresh signature project with this balance: its client and its control record."""
    project = control.post("projects", {"balance": balance})
    key, secret = project["api_key"], project["api_secret"]
    made = Api(
        target.base_url, key, secret, recorder, on_task=budget.note, on_tasks=budget.money.saw
    )
    return made, project


def wait(control: Control, target: Target, taskid: str, status: str = "terminal") -> None:
    """Block until the task reaches ``status`` (the fake's wait, no polling)."""
    timeout = min(target.task_timeout, 300)
    answer = control.post(f"tasks/{taskid}/wait", {"status": status, "timeout": timeout})
    assert answer["reached"], (taskid, status, answer)


def refused(api: Api) -> dict[str, Any]:
    """A Run (as ``run_task`` sends it) that must be refused: HTTP 200, result false, no
    task; its single error."""
    data = {"inputImageFirstUrl": "", "prompt": "the sea moves slowly", "callbackUrl": ""}
    response = api.post(MODEL_RUN, data=data, files=image_part())
    assert response.status_code == 200, (response.status_code, response.text[:300])
    body = response.json()
    assert body["result"] is False, body
    assert not body.get("taskid"), body
    assert isinstance(body["errors"], list) and len(body["errors"]) == 1, body
    error: dict[str, Any] = body["errors"][0]
    return error


def assert_succeeded(task: dict[str, Any]) -> None:
    """[docs] success: task_postprocess_end, pexit "0", outputs non-empty."""
    assert task["status"] == "task_postprocess_end", task["status"]
    assert task["pexit"] == "0", (task["pexit"], task["debugerror"])
    assert task["outputs"], task


def assert_failed(task: dict[str, Any]) -> None:
    """[docs] failure: task_postprocess_end, pexit != "0", no outputs, totalcost zero, the
    reason in debugerror."""
    assert task["status"] == "task_postprocess_end", task["status"]
    assert task["pexit"] != "0", task["pexit"]
    assert task["outputs"] == [], task["outputs"]
    assert Decimal(task["totalcost"]) == 0, task["totalcost"]
    assert isinstance(task["debugerror"], str) and task["debugerror"].strip(), task


def assert_never_backwards(statuses: list[str], where: str) -> None:
    """Each status at or after the one before it in the documented lifecycle."""
    ranks = [lifecycle_rank(s) for s in statuses]
    unknown = [s for s, r in zip(statuses, ranks, strict=True) if r < 0]
    assert not unknown, f"{where}: unknown statuses {unknown}"
    back = [(statuses[i - 1], statuses[i]) for i in range(1, len(ranks)) if ranks[i] < ranks[i - 1]]
    assert not back, f"{where}: went backwards at {back} in {statuses}"


# ---------------------------------------------------------------- code 96 and code 97


@pytest.mark.spends(4)
@pytest.mark.parametrize("balance", ["1", "25"])
@pytest.mark.rule("limits.concurrency")
def test_concurrency_limit(
    control: Control, target: Target, recorder: Recorder, budget: Budget, balance: str
) -> None:
    """[docs] At most max(1, floor(balance*0.10)) active tasks; over it, code 96 with the
    documented message; a cancelled queued task frees its slot."""
    api, project = new_project(control, target, recorder, budget, balance)
    limit = concurrency_limit(Decimal(balance))
    assert limit is not None and limit <= 2
    control.post("scenarios", {"project": project["api_key"], "times": limit, "stay_queued": True})
    held = [str(run_task(api)["taskid"]) for _ in range(limit)]
    try:
        assert [api.detail(t)["status"] for t in held] == ["task_queue"] * limit
        error = refused(api)
        assert error["code"] == CONCURRENCY_CODE, error
        match = LIMIT_MESSAGE.fullmatch(error["message"])
        assert match, error["message"]
        assert Decimal(match["balance"]) == Decimal(balance), error["message"]
        assert int(match["n"]) == limit, error["message"]

        cancelled = api.ok("Task/Cancel", {"taskid": held[0]})
        assert cancelled["tasklist"][0]["status"] == "task_cancel", cancelled
        freed = str(run_task(api)["taskid"])
        wait(control, target, freed)
        assert_succeeded(api.detail(freed))
    finally:
        for taskid in held:
            control.session.post(f"{control.url}/tasks/{taskid}/release", json={}, timeout=60)


@pytest.mark.spends(3)
@pytest.mark.rule("limits.concurrency")
def test_released_task_frees_its_slot(
    control: Control, target: Target, recorder: Recorder, budget: Budget
) -> None:
    """[docs] Active means until a terminal status: once the held task finishes, Run works."""
    api, project = new_project(control, target, recorder, budget, "1")
    control.post("scenarios", {"project": project["api_key"], "times": 1, "stay_queued": True})
    held = str(run_task(api)["taskid"])
    assert refused(api)["code"] == CONCURRENCY_CODE
    control.post(f"tasks/{held}/release")
    wait(control, target, held)
    assert_succeeded(api.detail(held))
    after = str(run_task(api)["taskid"])
    wait(control, target, after)
    assert_succeeded(api.detail(after))


@pytest.mark.spends(1)
@pytest.mark.parametrize("balance", ["0.49", "0.10", "0"])
@pytest.mark.rule("limits.balance")
def test_insufficient_balance(
    control: Control, target: Target, recorder: Recorder, budget: Budget, balance: str
) -> None:
    """[docs] Below the minimum balance ($0.50): code 97 ``Insufficient balance``."""
    api, _ = new_project(control, target, recorder, budget, balance)
    assert refused(api) == {"code": BALANCE_CODE, "message": INSUFFICIENT}


@pytest.mark.spends(1)
@pytest.mark.rule("limits.balance")
def test_minimum_balance_runs(
    control: Control, target: Target, recorder: Recorder, budget: Budget
) -> None:
    """[docs] $0.50 is not below the minimum: the Run is accepted."""
    api, project = new_project(control, target, recorder, budget, "0.50")
    taskid = str(run_task(api)["taskid"])
    wait(control, target, taskid)
    assert_succeeded(api.detail(taskid))
    # and lowering the balance afterwards (the control surface) turns Run away
    control.post(f"projects/{project['api_key']}/balance", {"balance": "0.49"})
    assert refused(api) == {"code": BALANCE_CODE, "message": INSUFFICIENT}


# ---------------------------------------------------------------- a held queue


@pytest.mark.spends(2)
@pytest.mark.rule("lifecycle.queue", "lifecycle.order")
def test_held_task_stays_queued_while_others_finish(
    api: Api, target: Target, control: Control, recorder: Recorder
) -> None:
    marker = "[[contract-held]]"
    control.post("scenarios", {"times": 1, "prompt_contains": marker, "stay_queued": True})
    held_run = run_task(api, prompt=f"the sea {marker}")
    held = str(held_run["taskid"])
    try:
        other = str(run_task(api)["taskid"])
        wait(control, target, other)
        assert_succeeded(api.detail(other))
        still = api.detail(held)
        assert still["status"] == "task_queue", still["status"]
        assert still["outputs"] == [], still
        released = control.post(f"tasks/{held}/release")
        assert released["released"] == "task_accept", released
        watched = observe(api, target, recorder, held_run)
    finally:
        control.session.post(f"{control.url}/tasks/{held}/release", json={}, timeout=60)
    assert_succeeded(watched.final)
    assert watched.socket.ended == "terminal", watched.socket
    assert SUCCESS_FRAMES.fullmatch(" ".join(watched.socket.types)), watched.socket.types
    assert_never_backwards([t["status"] for t in watched.polled], "Task/Detail")


# ---------------------------------------------------------------- failures


def _check_failure_frames(socket: SocketResult, stage: str, debugerror: str) -> None:
    types = socket.types
    assert socket.ended == "terminal", (socket.ended, types)
    assert types[-3:] == FAILURE_TAIL, types
    assert socket.frames[-1]["message"] == [], socket.frames[-1]  # no outputs
    assert "task_error" in types and "task_error_full" in types, types
    # The fake (README, Scenarios): normal stages up to and including ``stage``, then the
    # failure; nothing of the stages after it.
    # stderr lines are interim output, so failing "at" task_output_full puts them first.
    head = types[: types.index("task_error")]
    last = stage if stage != "task_output_full" else "task_output"
    expected = [s for s in LIFECYCLE[: LIFECYCLE.index(last) + 1] if s not in ("task_output",)]
    assert [t for t in head if t != "task_output"] == expected, (stage, types)
    assert head[-1] == last, (stage, types)
    # every stage passed, and each stage of the failure's tail, comes exactly once
    passed = [s for s in LIFECYCLE[: LIFECYCLE.index(stage) + 1] if s != "task_output"]
    once = {*passed, "task_error_full", *FAILURE_TAIL}
    counts = {s: types.count(s) for s in sorted(once)}
    assert all(n == 1 for n in counts.values()), (stage, counts, types)
    errors = [f["message"] for f in socket.frames if f["type"] == "task_error"]
    assert errors[-1] == debugerror, errors
    assert FIRST_STDERR in errors, errors
    [full] = [f["message"] for f in socket.frames if f["type"] == "task_error_full"]
    assert isinstance(full, dict) and isinstance(full.get("raw"), str), full
    assert not missing_from_raw(errors, full["raw"]), (errors, full)  # each a whole line


@pytest.mark.spends(1)
@pytest.mark.parametrize("stage", FAIL_STAGES)
@pytest.mark.rule(
    "lifecycle.failure",
    "billing.free_when_not_successful",
    "socket.error_frames",
    "lifecycle.order",
)
def test_task_fails_at_stage(
    api: Api, target: Target, control: Control, recorder: Recorder, stage: str
) -> None:
    marker = f"[[contract-fail-{stage}]]"
    debugerror = f"contract test: failed at {stage}"
    control.post(
        "scenarios",
        {
            "times": 1,
            "prompt_contains": marker,
            "fail_at": stage,
            "pexit": "3",
            "stderr": [FIRST_STDERR],
            "debugerror": debugerror,
        },
    )
    watched = observe(api, target, recorder, run_task(api, prompt=f"the sea {marker}"))
    final = watched.final
    assert_failed(final)
    assert final["pexit"] == "3", final["pexit"]
    assert debugerror in final["debugerror"], final["debugerror"]
    assert_never_backwards([t["status"] for t in watched.polled], "Task/Detail")
    _check_failure_frames(watched.socket, stage, debugerror)
    # last: the order rule over every frame (task_error ranks with task_output)
    assert_never_backwards(watched.socket.types, "socket")


@pytest.mark.spends(1)
@pytest.mark.parametrize(("image", "rule"), sorted(INVALID_IMAGES.items()))
@pytest.mark.rule("run.image_rules", "lifecycle.failure", "billing.free_when_not_successful")
def test_bad_image_fails_the_task(
    api: Api, target: Target, control: Control, image: str, rule: str
) -> None:
    """[A] realistic: Run accepts a bad first frame; the task fails naming the rule."""
    run = run_task(api, image=image)
    taskid = str(run["taskid"])
    wait(control, target, taskid)
    final = api.detail(taskid)
    assert final["status"] in TERMINAL
    assert_failed(final)
    assert f"rule: {rule}" in final["debugerror"], final["debugerror"]


@pytest.mark.spends(21)
@pytest.mark.rule("list.paging")
def test_list_pages_twenty_by_default(
    control: Control, target: Target, recorder: Recorder, budget: Budget
) -> None:
    """[docs] Task/List's ``limit`` is 20 by default: with 21 tasks, a page without
    ``limit`` holds the 20 newest and ``total`` says 21. (21 tasks: the fake only.)"""
    api, _ = new_project(control, target, recorder, budget, "300")  # no concurrency limit
    made = [int(run_task(api)["taskid"]) for _ in range(21)]
    page = api.ok("Task/List", {"start": "0"})
    assert str(page["total"]) == "21", page["total"]
    assert [int(t["id"]) for t in page["tasklist"]] == sorted(made, reverse=True)[:20]
