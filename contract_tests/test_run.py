"""Run: ``POST /v1/Run/minimax/hailuo-2-3-fast`` [seed][docs].

What a Run answers when it is accepted (the seed's shape), which requests it must
refuse and with which documented message, and that a refused Run creates no task.
Messages the docs do not give ([A]: a value outside an allowed set, 1080P with 10 s)
are checked only against the documented error envelope. Issue 17's rules: file parameters
as JSON arrays [clients], the display-slug path [clients], and 1080P with 10 s (refused,
or run as 6 s: recorded as a finding).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from .conftest import (
    RUN_TASK_FIELDS,
    Control,
    Finding,
    Observed,
    Target,
    image_part,
    poll_until_terminal,
)
from .contract import (
    FILES_REQUIRED,
    HD_LONG_OUTCOMES,
    MODEL_RUN,
    MODEL_RUN_DISPLAY,
    NO_MODEL_RUN,
    NOT_A_NUMBER,
    SEED_RUN,
    URL_ERROR,
    parameters_problems,
)
from .wire import Api, mp4_seconds

LIST = "Task/List"
LIST_PAGE = {"start": "0", "limit": "50"}
SEED_SAMPLE_URL = (  # [seed] Option 2's inputImageFirstUrl, Wiro's own sample input
    "https://cdn.wiro.ai/uploads/sampleinputs/minimax-haulio-2-3-fast-input-3.jpg"
)

# The seed's multipart Run fields with a file as the first frame (its Option 1).
SEED_FIELDS: dict[str, str] = RUN_TASK_FIELDS


# ----------------------------------------------------------------- helpers
def check_run_envelope(body: dict[str, Any]) -> None:
    """An accepted Run answers exactly the seed's fields [seed], every one a string except
    ``result`` (true) and ``errors`` ([]); ids are strings of digits [seed][docs]."""
    assert set(body) == set(SEED_RUN), f"Run answered {sorted(body)}, seed has {sorted(SEED_RUN)}"
    assert body["result"] is True, body
    assert body["errors"] == [], body
    for key, value in body.items():
        if key not in ("result", "errors"):
            assert isinstance(value, str), f"Run.{key} is {value!r}, expected a string"
    assert body["taskid"].isdigit(), f"taskid {body['taskid']!r} is not all digits"
    token = body["socketaccesstoken"]
    assert token.strip(), f"socketaccesstoken {token!r} is empty"


def refusal(response: requests.Response) -> list[tuple[Any, Any]]:
    """The documented error envelope [docs] (HTTP 200, ``result`` false, ``errors`` a
    non-empty list of ``{code, message}``); its ``(code, message)`` pairs."""
    assert response.status_code == 200, (response.status_code, response.text[:300])
    body = response.json()
    assert isinstance(body, dict), body
    assert body.get("result") is False, body
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, f"errors must be a non-empty list: {body}"
    for error in errors:
        assert isinstance(error, dict), body
        assert type(error.get("code")) is int, f"code must be an integer: {error}"
        assert isinstance(error.get("message"), str) and error["message"], error
    assert not body.get("taskid"), f"a refused Run names a task: {body}"
    return [(e["code"], e["message"]) for e in errors]


@dataclass(frozen=True)
class Listing:
    """What Task/List shows of the project at one moment."""

    total: Any
    ids: tuple[str, ...]


def listing(api: Api) -> Listing:
    """The project's first page of Task/List (and ``total`` when the API gives it)."""
    body = api.ok(LIST, LIST_PAGE)
    tasks = body["tasklist"]
    assert isinstance(tasks, list), body
    return Listing(body.get("total"), tuple(str(t["id"]) for t in tasks))


def assert_no_task_created(api: Api, before: Listing) -> None:
    """Task/List is as it was before the refused Run."""
    after = listing(api)
    assert after.ids == before.ids, f"Task/List changed: {before.ids[:5]} -> {after.ids[:5]}"
    assert after.total == before.total, f"Task/List total {before.total} -> {after.total}"


# ----------------------------------------------------------------- refused Runs
# Each builds the POST's keyword arguments for ``api.post(MODEL_RUN, ...)``.
RunRequest = Callable[[], dict[str, Any]]


def no_image_multipart() -> dict[str, Any]:
    """The seed's Option 2 with the URL left empty too: ``-F inputImageFirst=`` (a plain
    field, not a file) and ``-F inputImageFirstUrl=``."""
    empty_field: Any = (None, b"", None)  # requests: a part without a filename
    return {"data": SEED_FIELDS, "files": {"inputImageFirst": empty_field}}


def no_image_json() -> dict[str, Any]:
    """A JSON Run [docs] with both image fields empty."""
    return {"json_body": {**SEED_FIELDS, "inputImageFirst": ""}}


def with_image(**fields: str) -> RunRequest:
    """A seed-style multipart Run with a valid image and ``fields`` overridden."""
    return lambda: {"data": {**SEED_FIELDS, **fields}, "files": image_part()}


DOCUMENTED_REFUSALS: dict[str, tuple[RunRequest, str]] = {
    # Hailuo 2.3 Fast is image-to-video only [minimax]; the message is [docs]'s
    # "Request files [{name}] required".
    "no-image-multipart": (no_image_multipart, FILES_REQUIRED),
    "no-image-json": (no_image_json, FILES_REQUIRED),
    # [docs] "Request parameter [{name}] must be integer or float"
    "duration-abc": (with_image(duration="abc"), NOT_A_NUMBER.format(name="duration")),
}


def urlencoded(**fields: str) -> RunRequest:
    """A url-encoded Run [docs] (no file: the first frame by URL) with ``fields``."""
    body = {**SEED_FIELDS, "inputImageFirstUrl": SEED_SAMPLE_URL, **fields}
    return lambda: {"data": body}


UNDOCUMENTED_REFUSALS: dict[str, RunRequest] = {
    # [seed] resolution is 768P or 1080P; the message for another value is [A].
    "resolution-720P": with_image(resolution="720P"),
    # [seed] duration is 6 or 10: a number, but not one of the choices
    "duration-8": with_image(duration="8"),
    "urlencoded-resolution-720P": urlencoded(resolution="720P"),
}
# 1080P with 10 s may be refused or run as 6 s: test_1080p_10s_falls_back_or_is_refused.

ALL_REFUSALS: dict[str, RunRequest] = {
    **{case: build for case, (build, _) in DOCUMENTED_REFUSALS.items()},
    **UNDOCUMENTED_REFUSALS,
}


# ----------------------------------------------------------------- tests
@pytest.mark.spends(1)
@pytest.mark.rule("run.response", "run.bodies", "errors.strings")
def test_run_response_shape(finished: Observed) -> None:
    """A seed-style multipart Run answers the seed's envelope [seed]:
    ``{"errors":[],"taskid":"2221","socketaccesstoken":"eDcC...","result":true}``."""
    check_run_envelope(finished.run)


@pytest.mark.spends(1)
@pytest.mark.parametrize("case", list(DOCUMENTED_REFUSALS))
@pytest.mark.rule(
    "run.validation.image_required",
    "run.validation.number",
    "run.validation.no_task",
    "errors.envelope",
)
def test_run_refused_with_documented_message(api: Api, case: str) -> None:
    """Documented validation errors: HTTP 200, ``result`` false, code 0, the exact
    message [docs]; no task is created."""
    build, message = DOCUMENTED_REFUSALS[case]
    before = listing(api)
    response = api.post(MODEL_RUN, **build())
    assert refusal(response) == [(0, message)], response.text[:300]
    assert_no_task_created(api, before)


@pytest.mark.spends(1)
@pytest.mark.parametrize("case", list(UNDOCUMENTED_REFUSALS))
@pytest.mark.rule("run.validation.choice", "run.validation.no_task")
def test_run_refused_outside_the_allowed_values(api: Api, case: str) -> None:
    """A value the model does not offer is refused with the documented envelope, code 0
    (validation) [docs]; the message is not documented [A]. No task is created."""
    before = listing(api)
    response = api.post(MODEL_RUN, **UNDOCUMENTED_REFUSALS[case]())
    pairs = refusal(response)
    assert all(code == 0 for code, _ in pairs), pairs
    assert_no_task_created(api, before)


@pytest.mark.spends(1)
@pytest.mark.rule(
    "run.bodies", "run.image_url", "run.response", "lifecycle.success", "detail.parameters"
)
def test_json_run_with_an_image_url(api: Api, target: Target) -> None:
    """Run takes JSON as well as multipart [docs]; the first frame may be a URL in
    ``inputImageFirstUrl`` with ``inputImageFirst`` empty (the seed's Option 2, with the
    seed's own sample image). The task runs to success: ``pexit`` "0" and outputs [docs].
    (A File/Upload URL as ``inputImageFirstUrl`` is test_files.py's.)"""
    body = {**SEED_FIELDS, "inputImageFirst": "", "inputImageFirstUrl": SEED_SAMPLE_URL}
    run = api.ok(MODEL_RUN, body)
    check_run_envelope(run)
    final = poll_until_terminal(api, run["taskid"], target)[-1]
    assert final["status"] == "task_postprocess_end", final["status"]
    assert final["pexit"] == "0", (final["pexit"], final["debugerror"])
    assert final["outputs"], "a successful task has outputs"
    problems = parameters_problems(final, body)  # the URL echoed where it was sent [seed]
    assert not problems, "\n".join(problems)


@pytest.mark.mock_only
@pytest.mark.spends(1)
@pytest.mark.parametrize("case", list(ALL_REFUSALS))
@pytest.mark.rule("run.validation.no_task")
def test_refused_run_leaves_no_task_in_the_fake(api: Api, control: Control, case: str) -> None:
    """The fake's own store (every project's tasks, not only what Task/List shows)
    confirms a refused Run made no task."""
    before = len(control.get("tasks")["tasks"])
    refusal(api.post(MODEL_RUN, **ALL_REFUSALS[case]()))
    assert len(control.get("tasks")["tasks"]) == before


# ----------------------------------------------------------------- issue 17: arrays
def json_run(**image: Any) -> dict[str, Any]:
    """A JSON Run [docs] with the seed's other fields and ``image`` as the image fields."""
    return {"prompt": "the sea moves slowly", "resolution": "768P", "duration": "6", **image}


def multipart_twice() -> dict[str, Any]:
    """A multipart Run with the image file part ``inputImageFirst`` repeated."""
    part = image_part()["inputImageFirst"]
    fields = [(k, (None, v.encode(), None)) for k, v in SEED_FIELDS.items()]
    return {"files": [*fields, ("inputImageFirst", part), ("inputImageFirst", part)]}


@pytest.mark.spends(1)
@pytest.mark.rule("run.image_array", "run.response")
def test_run_takes_an_image_array_of_one(api: Api, target: Target) -> None:
    """``{"inputImage": ["<url>"]}``, as the official WiroKit SDKs send it [clients], is
    taken like the string: the task runs to success."""
    run = api.ok(MODEL_RUN, json_run(inputImage=[SEED_SAMPLE_URL]))
    check_run_envelope(run)
    final = poll_until_terminal(api, run["taskid"], target)[-1]
    assert final["status"] == "task_postprocess_end", final["status"]
    assert final["pexit"] == "0", (final["pexit"], final["debugerror"])


@pytest.mark.rule("run.image_array", "run.validation.image_required", "run.validation.no_task")
def test_run_with_an_empty_image_array_has_no_image(api: Api) -> None:
    """``inputImage: []`` means absent: the Run has no image and is refused, code 0, with a
    "required" message [docs]. Free: a Run without an image cannot make a task."""
    before = listing(api)
    pairs = refusal(api.post(MODEL_RUN, json_run(inputImage=[])))
    assert len(pairs) == 1 and pairs[0][0] == 0, pairs
    assert "required" in pairs[0][1].lower(), pairs
    assert_no_task_created(api, before)


ARRAY_REFUSALS: dict[str, RunRequest] = {
    "json-array-of-two": lambda: {
        "json_body": json_run(inputImage=[SEED_SAMPLE_URL, SEED_SAMPLE_URL])
    },
    "json-array-of-a-number": lambda: {"json_body": json_run(inputImage=[1])},
    "json-array-of-an-object": lambda: {"json_body": json_run(inputImage=[{"url": "x"}])},
    "json-nested-array": lambda: {"json_body": json_run(inputImage=[[SEED_SAMPLE_URL]])},
    "multipart-repeated-key": multipart_twice,
}


@pytest.mark.spends(1)
@pytest.mark.parametrize("case", list(ARRAY_REFUSALS))
@pytest.mark.rule("run.image_array", "run.validation.no_task")
def test_run_refuses_more_than_one_image(api: Api, case: str) -> None:
    """The model takes one first frame: two (a JSON array of two, a repeated multipart
    part) or an array of non-strings is refused, code 0 [A]. (Declared ``spends(1)``: a
    server that accepted one would make a task.)"""
    before = listing(api)
    pairs = refusal(api.post(MODEL_RUN, **ARRAY_REFUSALS[case]()))
    assert all(code == 0 for code, _ in pairs), pairs
    assert_no_task_created(api, before)


# ----------------------------------------------------------------- issue 17: paths
@pytest.mark.spends(1)
@pytest.mark.rule("run.display_slug", "run.response")
def test_run_at_the_display_slug_path(api: Api, target: Target) -> None:
    """``Run/MiniMax/hailuo-2.3-Fast`` (the n8n node's path) works like the clean one
    [clients]: a task is made and runs to success."""
    run = api.ok(MODEL_RUN_DISPLAY, json_run(inputImageFirstUrl=SEED_SAMPLE_URL))
    check_run_envelope(run)
    final = poll_until_terminal(api, run["taskid"], target)[-1]
    assert final["status"] == "task_postprocess_end", final["status"]
    assert final["pexit"] == "0", (final["pexit"], final["debugerror"])


@pytest.mark.rule("errors.unknown_path")
def test_run_at_a_slug_naming_no_model(api: Api) -> None:
    """A Run path naming no model is the documented 404, code 0 ``Error parsing url.``
    [docs]. Free: there is no model to run."""
    response = api.post(NO_MODEL_RUN, json_run(inputImageFirstUrl=SEED_SAMPLE_URL))
    assert response.status_code == 404, (response.status_code, response.text[:300])
    body = response.json()
    assert body["result"] is False, body
    assert [(e["code"], e["message"]) for e in body["errors"]] == [(0, URL_ERROR)], body


# ----------------------------------------------------------------- issue 17: 1080P + 10 s
@pytest.mark.spends(1)
@pytest.mark.rule("run.hd_long_duration", "outputs.duration")
def test_1080p_10s_falls_back_or_is_refused(api: Api, target: Target, finding: Finding) -> None:
    """1080P with 10 s (10 s is 768P only [minimax][docs]) is either refused at Run with
    code 0 ("reject") or run as a 6 s video ("fallback", as the n8n node says [clients]).
    Against the real API the outcome is recorded (``Settings.hd_long_duration``); on the
    fake it must be the configured one. A refusal is free; a fallback costs one task."""
    before = listing(api)
    response = api.post(MODEL_RUN, **with_image(resolution="1080P", duration="10")())
    body = response.json()
    outcome = "fallback" if isinstance(body, dict) and body.get("result") is True else "reject"
    finding("hd_long_duration", outcome)
    expected = target.expect.get("hd_long_duration")
    assert outcome == expected or expected is None, (outcome, expected, body)
    assert outcome in HD_LONG_OUTCOMES
    if outcome == "reject":
        pairs = refusal(response)
        assert all(code == 0 for code, _ in pairs), pairs
        assert_no_task_created(api, before)
        return
    check_run_envelope(body)
    final = poll_until_terminal(api, body["taskid"], target)[-1]
    assert final["status"] == "task_postprocess_end", final["status"]
    assert final["pexit"] == "0", (final["pexit"], final["debugerror"])
    for output in final["outputs"]:
        video = requests.get(output["url"], timeout=min(300.0, target.task_timeout))
        assert video.status_code == 200, (output["url"], video.status_code)
        seconds = mp4_seconds(video.content)
        assert 5.0 <= seconds <= 7.5, f"a fallback should run 6 s, the video is {seconds:.2f} s"
