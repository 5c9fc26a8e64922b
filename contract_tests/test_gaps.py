"""Rules no other test judged: the prompt's length, both image fields at once, Cancel and
Kill by token, and Task/InputOutputDelete [docs][seed][minimax].

The refusals cost nothing on the real API (a refused Run creates no task); Cancel and Kill
by token act on the shared finished task; only InputOutputDelete needs a task of its own
(one paid video: it deletes that task's input and outputs).
"""

from __future__ import annotations

import pytest
import requests

from .conftest import Observed, Target, image_part, observe, run_task
from .contract import MODEL_RUN, PROMPT_MAX_CHARS
from .test_cancel_kill import answer
from .test_run import SEED_FIELDS, assert_no_task_created, listing, refusal
from .wire import Api, Recorder

CANCEL = "Task/Cancel"
KILL = "Task/Kill"
DELETE = "Task/InputOutputDelete"
OTHER_IMAGE_URL = (  # [seed] Wiro's own sample input: a URL that differs from the file
    "https://cdn.wiro.ai/uploads/sampleinputs/minimax-haulio-2-3-fast-input-3.jpg"
)


@pytest.mark.spends(1)
@pytest.mark.rule("run.validation.prompt", "run.validation.no_task", "errors.envelope")
def test_a_prompt_over_2000_characters_is_refused(api: Api) -> None:
    """A prompt of 2001 characters: code 0, and no task [minimax][docs]. (One of exactly
    2000 is accepted: the shared finished task's prompt is shorter, and the fake's own
    tests check the bound itself.)"""
    before = listing(api)
    fields = {**SEED_FIELDS, "prompt": "w" * (PROMPT_MAX_CHARS + 1)}
    response = api.post(MODEL_RUN, data=fields, files=image_part())
    pairs = refusal(response)
    assert [code for code, _ in pairs] == [0], pairs
    assert "prompt" in " ".join(message for _, message in pairs).lower(), pairs
    assert_no_task_created(api, before)


@pytest.mark.spends(1)
@pytest.mark.rule("run.validation.both_images", "run.validation.no_task", "errors.envelope")
def test_a_file_and_a_different_url_at_once_are_refused(api: Api) -> None:
    """``inputImageFirst`` as a file and a different ``inputImageFirstUrl``: code 0 [seed:
    "send either file or URL, not both"], and no task."""
    before = listing(api)
    fields = {**SEED_FIELDS, "inputImageFirstUrl": OTHER_IMAGE_URL}
    response = api.post(MODEL_RUN, data=fields, files=image_part())
    pairs = refusal(response)
    assert [code for code, _ in pairs] == [0], pairs
    assert_no_task_created(api, before)


@pytest.mark.spends(1)
@pytest.mark.rule("run.validation.both_images", "run.validation.no_task", "errors.envelope")
def test_two_different_image_urls_at_once_are_refused(api: Api, finished: Observed) -> None:
    """``inputImageFirst`` given as a URL (as Wiro's clients send a file field [clients])
    and a different ``inputImageFirstUrl``: two first frames, code 0 [seed: "send either
    file or URL, not both"], and no task. The first URL is the shared task's output (a
    URL the target serves), the second Wiro's sample input."""
    before = listing(api)
    output_url = str(finished.final["outputs"][0]["url"])
    fields = {**SEED_FIELDS, "inputImageFirst": output_url, "inputImageFirstUrl": OTHER_IMAGE_URL}
    pairs = refusal(api.post(MODEL_RUN, fields))
    assert [code for code, _ in pairs] == [0], pairs
    assert_no_task_created(api, before)


@pytest.mark.spends(1)
@pytest.mark.parametrize("key", ["tasktoken", "socketaccesstoken"])
@pytest.mark.parametrize("path", [CANCEL, KILL])
@pytest.mark.rule("cancel.by_token", "terminal.final")
def test_cancel_and_kill_name_the_task_by_token(
    api: Api, finished: Observed, path: str, key: str
) -> None:
    """Cancel and Kill take the task by ``tasktoken`` / ``socketaccesstoken`` as well as by
    ``taskid`` [docs]: on the shared finished task, the answer by token is the answer by id
    (both refuse: it has ended), not "taskid or socketaccesstoken is required" or "no
    such task"; the task is unchanged."""
    before = api.detail(finished.taskid)
    by_id = answer(api.post(path, {"taskid": finished.taskid}))
    by_token = answer(api.post(path, {key: str(finished.run["socketaccesstoken"])}))
    assert by_id["result"] is False, by_id  # a finished task can't be cancelled or killed
    assert by_token == by_id, (by_token, by_id)
    after = api.detail(finished.taskid)
    assert after["status"] == before["status"] and after["outputs"] == before["outputs"]


def _status(url: str) -> int:
    """A public file URL's status (the body read whole: a download abandoned half-way
    would leave the server's file open until it is collected)."""
    return requests.get(url, timeout=60).status_code


@pytest.mark.spends(1)
@pytest.mark.rule("list.input_output_delete", "terminal.final")
def test_input_output_delete_removes_a_finished_tasks_files(
    api: Api, target: Target, recorder: Recorder
) -> None:
    """Task/InputOutputDelete ``{tasktoken}`` on a finished task deletes its input upload
    and its outputs (their URLs stop serving them); the task stays, finished; a second
    call succeeds again (idempotent) [docs]."""
    seen = observe(api, target, recorder, run_task(api))
    final = seen.final
    assert final["status"] == "task_postprocess_end", final["status"]
    outputs = [str(o["url"]) for o in final["outputs"]]
    upload = str(final["parameters"].get("inputImageFirst", ""))
    assert outputs, final
    assert all(_status(url) == 200 for url in outputs), outputs
    token = str(seen.run["socketaccesstoken"])
    api.ok(DELETE, {"tasktoken": token})
    gone = {url: _status(url) for url in [*outputs, *([upload] if upload else [])]}
    assert all(status in (403, 404, 410) for status in gone.values()), gone
    after = api.detail(seen.taskid)
    assert after["status"] == "task_postprocess_end", after["status"]
    assert after["totalcost"] == final["totalcost"], (after["totalcost"], final["totalcost"])
    api.ok(DELETE, {"tasktoken": token})  # idempotent
    assert api.detail(seen.taskid)["status"] == "task_postprocess_end"
