"""Task/Detail and Task/List [seed][docs]: a task as the API describes it.

A finished task has the seed's fields with the seed's JSON types (ids and numbers are
strings, ``categories`` is a JSON array encoded as a string); it can be asked for by id
or by token; the documented errors; and another project never sees it.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from typing import Any

import pytest

from .conftest import RUN_TASK_FIELDS, Observed, image_part
from .contract import (
    FILE_FIELDS,
    ID_REQUIRED,
    MODEL_RUN,
    NEWER_TASK_FIELDS,
    NO_TASK,
    PROMPT_MAX_CHARS,
    SEED_DETAIL,
    SEED_OUTPUT,
    SEED_TASK,
    check_like_seed,
    parameters_problems,
)
from .test_run import SEED_SAMPLE_URL
from .wire import Api

DETAIL = "Task/Detail"
LIST = "Task/List"
PAGE = 50
MAX_PAGES = 20

NUMBER = re.compile(r"-?\d+(\.\d+)?")
NUMERIC_TASK_FIELDS = tuple(
    k for k, v in SEED_TASK.items() if isinstance(v, str) and NUMBER.fullmatch(v)
)
"""The task fields the seed shows as numbers in strings (id, times, costs, pexit, size)."""
NUMERIC_OUTPUT_FIELDS = tuple(
    k for k, v in SEED_OUTPUT.items() if isinstance(v, str) and NUMBER.fullmatch(v)
)
"""The output fields the seed shows as numbers in strings (size, times, counts)."""
IDENTITY = ("id", "uuid", "socketaccesstoken", "projectid", "createtime")


# ----------------------------------------------------------------- helpers
def refused(api: Api, body: dict[str, str]) -> list[tuple[Any, Any]]:
    """POST Task/Detail expecting the error envelope [docs]: HTTP 200, ``result``
    false; its ``(code, message)`` pairs."""
    response = api.post(DETAIL, body)
    assert response.status_code == 200, (response.status_code, response.text[:300])
    answer = response.json()
    assert answer.get("result") is False, answer
    errors = answer.get("errors")
    assert isinstance(errors, list) and errors, answer
    assert not answer.get("tasklist"), f"an error names tasks: {answer}"
    for error in errors:
        assert type(error.get("code")) is int, f"code must be an integer: {error}"
    return [(e.get("code"), e.get("message")) for e in errors]


def by_token(api: Api, token: str) -> dict[str, Any]:
    """Task/Detail by ``tasktoken``, the seed's own request; its one task."""
    body = api.ok(DETAIL, {"tasktoken": token})
    assert body.get("total") == "1", body.get("total")
    assert isinstance(body["tasklist"], list) and len(body["tasklist"]) == 1, body
    task: dict[str, Any] = body["tasklist"][0]
    return task


def listed(api: Api, want: str | None = None) -> list[dict[str, Any]]:
    """The project's tasks from Task/List, page by page (``start``/``limit`` [docs]),
    until ``want`` (a task id) appears, a short page ends the list, or MAX_PAGES."""
    tasks: list[dict[str, Any]] = []
    for page in range(MAX_PAGES):
        body = api.ok(LIST, {"start": str(page * PAGE), "limit": str(PAGE)})
        chunk = body["tasklist"]
        assert isinstance(chunk, list), body
        if "total" in body:  # not documented for Task/List; a number, so a string [docs]
            assert isinstance(body["total"], str) and body["total"].isdigit(), body["total"]
        tasks += chunk
        if len(chunk) < PAGE or (want is not None and any(t.get("id") == want for t in chunk)):
            break
    return tasks


def random_token() -> str:
    """A token shaped like the seed's (30 letters and digits) that names no task."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(30))


# ----------------------------------------------------------------- a finished task
@pytest.mark.spends(1)
@pytest.mark.rule("detail.shape", "outputs.metadata")
def test_detail_fields_like_seed(api: Api, finished: Observed) -> None:
    """Task/Detail answers the seed's envelope ``{"total":"1","errors":[],"tasklist":
    [TASK],"result":true}``, TASK with the seed's fields and types (plus, at most, the
    newer docs' three) and each output with the seed's output fields [seed][docs]."""
    body = api.ok(DETAIL, {"taskid": finished.taskid})
    problems = check_like_seed(body, SEED_DETAIL, "detail")
    assert body["total"] == SEED_DETAIL["total"] == "1", body["total"]
    assert body["errors"] == [] and body["result"] is True
    assert len(body["tasklist"]) == 1, body["tasklist"]
    task = body["tasklist"][0]
    problems += check_like_seed(task, SEED_TASK, "task")
    extra = set(task) - set(SEED_TASK) - NEWER_TASK_FIELDS
    if extra:
        problems.append(f"task: fields in neither the seed nor the docs: {sorted(extra)}")
    assert task["outputs"], "a finished (successful) task has outputs [docs]"
    for n, output in enumerate(task["outputs"]):
        problems += check_like_seed(output, SEED_OUTPUT, f"task.outputs[{n}]")
        if extra := set(output) - set(SEED_OUTPUT):
            problems.append(f"task.outputs[{n}]: fields not in the seed: {sorted(extra)}")
    assert not problems, "\n".join(problems)
    assert task["id"] == finished.taskid
    assert task["socketaccesstoken"] == finished.run["socketaccesstoken"]


@pytest.mark.spends(1)
@pytest.mark.rule("detail.categories")
def test_categories_is_a_json_array_in_a_string(api: Api, finished: Observed) -> None:
    """The seed's ``categories`` is ``"[\\"tool\\",...]"``: a string to decode [seed]."""
    categories = api.detail(finished.taskid)["categories"]
    assert isinstance(categories, str), f"categories is {categories!r}, expected a string"
    decoded = json.loads(categories)
    assert isinstance(decoded, list), f"categories decodes to {decoded!r}, expected an array"
    assert all(isinstance(c, str) for c in decoded), decoded


@pytest.mark.spends(1)
@pytest.mark.rule("errors.strings")
def test_ids_and_numbers_are_strings(api: Api, finished: Observed) -> None:
    """All ids and numbers are strings [seed][docs]: every field the seed shows as a
    number in a string holds a number in a string."""
    task = api.detail(finished.taskid)
    bad = [
        f"task.{k}={task.get(k)!r}"
        for k in NUMERIC_TASK_FIELDS
        if not (isinstance(task.get(k), str) and NUMBER.fullmatch(task[k]))
    ]
    for n, output in enumerate(task["outputs"]):
        bad += [
            f"task.outputs[{n}].{k}={output.get(k)!r}"
            for k in NUMERIC_OUTPUT_FIELDS
            if not (isinstance(output.get(k), str) and NUMBER.fullmatch(output[k]))
        ]
    assert not bad, "numbers not given as strings of digits: " + ", ".join(bad)
    assert task["id"].isdigit() and task["projectid"].isdigit(), (task["id"], task["projectid"])


@pytest.mark.spends(1)
@pytest.mark.rule("detail.by_token")
def test_detail_by_taskid_and_by_tasktoken_agree(api: Api, finished: Observed) -> None:
    """``{"taskid"}`` and ``{"tasktoken": <socketaccesstoken>}`` name the same task [seed]."""
    one = api.detail(finished.taskid)
    other = by_token(api, finished.run["socketaccesstoken"])
    assert {k: other.get(k) for k in IDENTITY} == {k: one.get(k) for k in IDENTITY}
    assert other["status"] == one["status"] and other["pexit"] == one["pexit"]
    assert [o["id"] for o in other["outputs"]] == [o["id"] for o in one["outputs"]]


# ----------------------------------------------------------------- errors
@pytest.mark.rule("detail.errors", "errors.envelope")
def test_detail_without_an_id(api: Api) -> None:
    """Neither ``taskid`` nor a token: code 0 ``taskid or socketaccesstoken is required``
    [docs]."""
    assert refused(api, {}) == [(0, ID_REQUIRED)]


@pytest.mark.parametrize("field", ["taskid", "tasktoken"])
@pytest.mark.rule("detail.errors", "errors.envelope")
def test_detail_of_an_unknown_task(api: Api, field: str) -> None:
    """An id or token naming no task: code 1 ``There is no task yet.`` [docs]."""
    value = "987654321987" if field == "taskid" else random_token()
    assert refused(api, {field: value}) == [(1, NO_TASK)]


@pytest.mark.spends(1)
@pytest.mark.parametrize("field", ["taskid", "tasktoken"])
@pytest.mark.rule("detail.project_isolation")
def test_another_project_cannot_see_the_task(
    api: Api, second_api: Api, finished: Observed, field: str
) -> None:
    """Another project's task answers as an unknown one: code 1 ``There is no task yet.``
    [docs], by id and by token alike (while its own project sees it)."""
    value = finished.taskid if field == "taskid" else finished.run["socketaccesstoken"]
    assert api.ok(DETAIL, {field: value})["tasklist"][0]["id"] == finished.taskid
    assert refused(second_api, {field: value}) == [(1, NO_TASK)]


@pytest.mark.spends(1)
@pytest.mark.rule("detail.project_isolation")
def test_another_projects_list_does_not_contain_the_task(
    second_api: Api, finished: Observed
) -> None:
    """Task/List is the project's own tasks [docs]: another project's list lacks it."""
    theirs = listed(second_api, want=finished.taskid)
    assert finished.taskid not in {t.get("id") for t in theirs}
    assert finished.run["socketaccesstoken"] not in {t.get("socketaccesstoken") for t in theirs}


# ----------------------------------------------------------------- Task/List
@pytest.mark.spends(1)
@pytest.mark.rule("list.own_tasks")
def test_list_returns_the_projects_tasks_like_detail(api: Api, finished: Observed) -> None:
    """Task/List: the project's tasks, each shaped like a Task/Detail entry [docs]."""
    detail = api.detail(finished.taskid)
    tasks = listed(api, want=finished.taskid)
    mine = [t for t in tasks if t.get("id") == finished.taskid]
    assert len(mine) == 1, f"task {finished.taskid} listed {len(mine)} times"
    problems: list[str] = []
    for task in tasks:
        problems += check_like_seed(task, SEED_TASK, f"list[{task.get('id')}]")
        if task.get("projectid") != detail["projectid"]:
            problems.append(f"list[{task.get('id')}]: projectid {task.get('projectid')!r}")
    assert not problems, "\n".join(problems)
    listed_task = mine[0]
    assert {k: listed_task[k] for k in IDENTITY} == {k: detail[k] for k in IDENTITY}
    assert listed_task["status"] == detail["status"]
    assert [o["id"] for o in listed_task["outputs"]] == [o["id"] for o in detail["outputs"]]


def _ids(api: Api, **page: str) -> list[int]:
    """The task ids of one Task/List page, in the order listed."""
    tasks = api.ok("Task/List", page)["tasklist"]
    assert isinstance(tasks, list), tasks
    return [int(t["id"]) for t in tasks]


@pytest.mark.spends(2)
@pytest.mark.rule("list.paging")
def test_list_orders_and_pages(api: Api, finished: Observed) -> None:
    """Task/List ``{start, limit, order}`` [docs][clients]: newest first by default,
    ``ASC`` oldest first, ``start`` skips (from 0 when left out), ``limit`` bounds the
    page (20 by default). It reads the tasks the session already made; with fewer than
    two, it makes one more and cancels it at once (a stopped task is not billed [docs])."""
    newest = _ids(api, start="0", limit="50")
    if len(newest) < 2:
        extra = api.ok(MODEL_RUN, data={"prompt": "the sea moves slowly"}, files=image_part())
        stop_quietly(api, str(extra["taskid"]))
        newest = _ids(api, start="0", limit="50")
    assert len(newest) >= 2, newest
    assert newest == sorted(newest, reverse=True), newest
    assert _ids(api, limit="50") == newest, "a page without start must start at 0"
    assert _ids(api, start="100000", limit="5") == [], "a start past the end: an empty page"
    assert _ids(api, start="0", limit="2", order="DESC") == newest[:2]
    assert _ids(api, start="1", limit="1") == newest[1:2]
    oldest = _ids(api, start="0", limit="50", order="ASC")
    assert oldest == sorted(oldest), oldest
    assert oldest[0] <= newest[-1], (oldest[:3], newest[-3:])
    assert len(_ids(api, start="0")) <= 20


LIFECYCLE_TIMES = (  # [seed] a finished task's times, in the order its stages came
    "createtime",
    "accepttime",
    "preprocessstarttime",
    "preprocessendtime",
    "assigntime",
    "starttime",
    "endtime",
    "postprocessstarttime",
    "postprocessendtime",
)


@pytest.mark.spends(1)
@pytest.mark.rule("detail.timestamps")
def test_a_finished_tasks_times_are_set_and_in_order(api: Api, finished: Observed) -> None:
    """The seed's finished task has every lifecycle time set (Unix seconds, as strings)
    and in the order of its stages (``createtime`` 1734513807 ... ``postprocessendtime``
    1734513814); a task that went through every stage must too."""
    task = api.detail(finished.taskid)
    times = {name: task.get(name) for name in LIFECYCLE_TIMES}
    assert all(isinstance(v, str) and v.isdigit() and int(v) > 0 for v in times.values()), times
    values = [int(str(times[name])) for name in LIFECYCLE_TIMES]
    assert values == sorted(values), times


# ----------------------------------------------------------------- the Run's echo
@pytest.mark.spends(1)
@pytest.mark.rule("detail.parameters")
def test_parameters_echo_the_run_of_the_shared_task(finished: Observed) -> None:
    """Detail's ``parameters`` echo the Run's fields as sent, the upload as its URL
    [seed] (the session's task: run_task's multipart Run)."""
    sent = {k: v for k, v in RUN_TASK_FIELDS.items() if k not in FILE_FIELDS}
    problems = parameters_problems(finished.final, sent)
    assert not problems, "\n".join(problems)


@pytest.mark.spends(1)
@pytest.mark.rule("detail.parameters", "run.validation.prompt", "run.validation.choice")
def test_parameters_echo_a_sparse_run(api: Api) -> None:
    """A multipart Run that leaves the optional fields out (``resolution``: 768P by
    default [seed]), asks for 10 s (allowed at 768P [docs]), turns the prompt optimiser off
    and sends a prompt of exactly 2000 characters (the most allowed [minimax]): it is
    accepted, and Detail's ``parameters`` echo what was sent as sent [seed]. Read at once,
    then the task is cancelled (or killed): a stopped task is not billed [docs]."""
    prompt = f"a quiet harbour {secrets.token_hex(4)} "
    prompt = (prompt * (PROMPT_MAX_CHARS // len(prompt) + 1))[:PROMPT_MAX_CHARS]
    sent = {"prompt": prompt, "promptOptimizer": "false", "duration": "10"}
    run = api.ok(MODEL_RUN, data=sent, files=image_part())
    taskid = str(run["taskid"])
    try:
        task = api.detail(taskid)
        problems = parameters_problems(task, sent)
        assert not problems, "\n".join(problems)
    finally:
        stop_quietly(api, taskid)


def stop_quietly(api: Api, taskid: str) -> None:
    """Cancel the task, or kill it once it runs (best effort: spares the real API's bill)."""
    for path in ("Task/Cancel", "Task/Kill"):
        answer = api.post(path, {"taskid": taskid})
        if answer.status_code == 200 and answer.json().get("result") is True:
            return


@pytest.mark.spends(1)
@pytest.mark.rule("run.bodies", "detail.parameters")
def test_a_urlencoded_run_is_accepted_and_echoed(api: Api) -> None:
    """A url-encoded Run [docs] with the first frame as ``inputImageFirst`` given a URL
    [docs]: accepted, its fields echoed in Detail's ``parameters`` as sent [seed]. Read
    at once, then the task is cancelled (or killed): a stopped task is not billed [docs]."""
    sent = {
        "inputImageFirst": SEED_SAMPLE_URL,
        "prompt": f"a lighthouse at dusk {secrets.token_hex(4)}",
        "promptOptimizer": "false",
        "resolution": "768P",
        "duration": "6",
    }
    run = api.ok(MODEL_RUN, data=sent)  # no files: requests sends it url-encoded
    taskid = str(run["taskid"])
    try:
        task = api.detail(taskid)
        echo = {k: v for k, v in sent.items() if k != "inputImageFirst"}
        problems = parameters_problems(task, echo)
        assert not problems, "\n".join(problems)
        parameters = task["parameters"]
        shown = {parameters.get("inputImageFirst"), parameters.get("inputImageFirstUrl")}
        assert SEED_SAMPLE_URL in shown or not shown - {None, ""}, parameters
    finally:
        stop_quietly(api, taskid)


@pytest.mark.spends(1)
@pytest.mark.rule("run.bodies", "detail.parameters")
def test_a_json_run_with_a_boolean_and_no_prompt(api: Api) -> None:
    """A JSON Run whose ``promptOptimizer`` is a JSON ``false`` (as JSON clients send a
    checkbox [clients]) and with no prompt: refused with code 0, or accepted and echoed
    as the seed's strings, ``promptOptimizer`` "false" and the prompt left out or ""
    [seed]. Read at once, then cancelled (or killed): a stopped task is not billed."""
    body = {"inputImageFirstUrl": SEED_SAMPLE_URL, "promptOptimizer": False}
    response = api.post(MODEL_RUN, body)
    answer = response.json()
    if answer.get("result") is not True:
        codes = [e.get("code") for e in answer.get("errors", [])]
        assert response.status_code == 200 and codes == [0], (response.status_code, answer)
        return
    taskid = str(answer["taskid"])
    try:
        parameters = api.detail(taskid)["parameters"]
        assert isinstance(parameters, dict), parameters
        assert parameters.get("promptOptimizer", "false") == "false", parameters
        assert parameters.get("prompt", "") == "", parameters
    finally:
        stop_quietly(api, taskid)
