"""schemathesis against a live fake: every answer conforms to the fake's own OpenAPI document.

The fake runs on a loopback port with a manual clock (advanced half a fake second after
every request, so the tasks made here pass through every stage). The document is
:func:`mock_wiro.http.openapi.build_openapi` for the fake's settings, checked equal to the one
it serves at ``/openapi.json`` (it is built at import: schemathesis makes one test per
operation when the module is collected, and its fixture-based loader,
``schemathesis.pytest.from_fixture``, fails under pytest 9.2, which dropped the node
attribute it renames). Every operation gets schemathesis' examples, coverage and fuzzing
phases with valid and invalid requests; then its stateful phase follows the document's
links (Run, then the Task endpoints on that task; File/Upload, then a Run with its URL).
Each request is signed at send time by the session's ``requests`` auth
(:func:`mock_wiro.testing.signed_session`): a fresh nonce every time.

The checks: no 5xx, a documented status code and content type, a body that validates
against the documented schema, and a file URL's 2xx never an error envelope.

Task ids in generated bodies are random, so they would never name a task: a body hook
swaps in (often) the id or token of a task the fixture made in every interesting state
(queued, running, held, finished, failed, cancelled, killed, files deleted) or of one
queued just before the request; a path hook does the same with the fixture's files.

Bounded for the suite (``MOCK_WIRO_FUZZ_EXAMPLES`` examples per operation, default 25,
seed ``MOCK_WIRO_FUZZ_SEED``, default 0); ``python -m benchmarks.fuzz`` runs it longer.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mock_wiro.engine.models import Project
from mock_wiro.http.openapi import build_openapi
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from mock_wiro.testing import signed_session
from mock_wiro_fixtures import image_bytes

EXAMPLES = int(os.environ.get("MOCK_WIRO_FUZZ_EXAMPLES") or 25)
SEED = int(os.environ.get("MOCK_WIRO_FUZZ_SEED") or 0)  # the suite always draws the same
FILE_ROUTES = ("/v1/File/{accesskey}/{name}", "/cdn/{accesskey}/{name}")


def a_download_is_never_an_envelope(ctx: Any, response: schemathesis.Response, case: Any) -> None:
    """A file URL's 2xx is the file: an error there keeps its HTTP status (the document's
    ``*/*`` 200 would accept an envelope, so this says what it cannot)."""
    if case.path in FILE_ROUTES and 200 <= response.status_code < 300:
        try:
            body = response.json()
        except ValueError:
            return
        assert not (isinstance(body, dict) and body.get("result") is False), (
            f"{case.method} {case.formatted_path} answered {response.status_code} with {body}"
        )


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    a_download_is_never_an_envelope,
]
FRESH = "<a task made just before the request>"  # a marker in REFS
SECONDS_PER_CALL = 0.5  # fake seconds the clock advances after each request
TASK_ENDPOINTS = ("Task/Detail", "Task/Cancel", "Task/Kill", "Task/InputOutputDelete")

# Requests by operation, status and outcome, for the summary of `python -m benchmarks.fuzz`.
STATS: Counter[tuple[str, int, str]] = Counter()


def _outcome(response: schemathesis.Response) -> str:
    """``ok``, ``code N`` (an error envelope) or the content type."""
    kind = (response.headers.get("content-type") or ["-"])[0].partition(";")[0]
    if kind == "application/json":
        try:
            body = response.json()
        except ValueError:
            return "not JSON"
        if isinstance(body, dict) and body.get("result") is True:
            return "ok"
        if isinstance(body, dict) and body.get("errors"):
            return f"code {body['errors'][0].get('code')}"
    return kind


class Fuzzed:
    """The fake under test, its project, and the tasks it made in every state."""

    def __init__(self, server: MockWiroServer, project: Project) -> None:
        self.server = server
        self.project = project
        self.session = signed_session(project, server.base_url)
        self.refs: list[dict[str, str]] = []
        self.files: dict[str, list[dict[str, str]]] = {"file": [], "cdn": []}

    def run(self, prompt: str, image: str = "landscape_16x9.jpg") -> str:
        """A new task (multipart, a fixture image); its id."""
        files = {"inputImageFirst": (image, image_bytes(image))}
        answer = self.session.post(
            "Run/minimax/hailuo-2-3-fast", data={"prompt": prompt}, files=files
        )
        taskid: str = answer.json()["taskid"]
        return taskid

    def make_fresh(self, case: Any) -> None:
        """Replace the FRESH marker in a body with a task queued just now."""
        if isinstance(case.body, dict) and FRESH in case.body.values():
            task = self.server.task(self.run("fresh"))
            fresh = {"taskid": task.id, "tasktoken": task.token, "socketaccesstoken": task.token}
            case.body = {k: fresh.get(k, v) if v == FRESH else v for k, v in case.body.items()}

    def seed_tasks(self) -> None:
        """Tasks in every state the Task endpoints distinguish."""
        server, session, run = self.server, self.session, self.run
        server.add_scenario(prompt_contains="[[held]]", hold_at="task_start")
        server.add_scenario(prompt_contains="[[fail]]", fail_at="task_start", pexit="2")
        done = run("done")
        kept = run("kept")  # not in refs: Task/InputOutputDelete never deletes its files
        failed = run("[[fail]] failed")
        bad_image = run("bad image", "too_small_short_side.jpg")
        deleted = run("deleted")
        server.advance(300)
        session.post("Task/InputOutputDelete", json={"taskid": deleted})
        running = run("running")
        server.advance(10)
        held = run("[[held]] held")
        server.advance(10)
        cancelled = run("cancelled")
        session.post("Task/Cancel", json={"taskid": cancelled})
        killed = run("killed")
        server.advance(10)
        session.post("Task/Kill", json={"taskid": killed})
        queued = run("queued")
        self.refs += [{"taskid": FRESH}, {"tasktoken": FRESH}]  # made when the request is
        for taskid in (done, failed, bad_image, deleted, running, held, cancelled, killed, queued):
            task = server.task(taskid)
            self.refs += [
                {"taskid": task.id},
                {"tasktoken": task.token},
                {"socketaccesstoken": task.token},
            ]
        upload = session.post("File/Upload", files={"file": ("notes.txt", b"x" * 1000)}).json()
        for task_id in (kept, deleted):  # the deleted task's files answer 404
            task = server.task(task_id)
            wire = session.post("Task/Detail", json={"taskid": task_id}).json()["tasklist"][0]
            for output in task.outputs:
                self.files["cdn"].append({"accesskey": output.accesskey, "name": output.name})
            if task.image.file is not None:
                stored = task.image.file
                self.files["file"].append({"accesskey": stored.accesskey, "name": stored.name})
            assert wire["status"] == "task_postprocess_end"
        for item in upload["list"]:
            self.files["file"].append({"accesskey": item["accesskey"], "name": item["name"]})


SETTINGS = Settings(clock_mode="manual")
REFS: list[dict[str, str]] = []
"""Ways to name the fixture's tasks ({taskid}, {tasktoken}, {socketaccesstoken})."""
FILES: dict[str, list[dict[str, str]]] = {}
"""Public files the fixture made, by route: path parameters {accesskey, name}."""


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Fuzzed]:
    with MockWiroServer(SETTINGS) as server:
        # over $250: no concurrency limit, so Run keeps answering with new tasks
        fuzzed = Fuzzed(server, server.create_project(balance="100000"))
        fuzzed.seed_tasks()
        REFS[:] = fuzzed.refs
        FILES.update(fuzzed.files)
        yield fuzzed
        REFS.clear()
        FILES.clear()
        fuzzed.session.close()


# Built here (schemathesis makes one test per operation when the module is collected) and
# checked equal to the document the live fake serves by test_the_served_document_is_tested.
DOCUMENT = build_openapi(SETTINGS)
schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",  # valid and invalid requests
                "max-examples": EXAMPLES,
                "with-security-parameters": False,  # the session signs every request
                "database": "none",
            },
        }
    ),
)


@schema.hook("flatmap_body")
def _with_real_task(context: Any, body: Any) -> Any:
    """Sometimes name one of the fixture's tasks in a Task/* body."""
    path = context.operation.path if context.operation is not None else ""
    if not REFS or not isinstance(body, dict) or not path.endswith(TASK_ENDPOINTS):
        return st.just(body)
    others = {
        k: v for k, v in body.items() if k not in ("taskid", "tasktoken", "socketaccesstoken")
    }
    real = st.sampled_from(list(REFS)).map(lambda ref: {**others, **ref})
    return st.one_of(real, st.just(body))  # the first branch is drawn more often


@schema.hook("flatmap_path_parameters")
def _with_real_file(context: Any, path_parameters: Any) -> Any:
    """Sometimes name one of the fixture's files in a public file URL."""
    path = context.operation.path if context.operation is not None else ""
    route = {"/v1/File/{accesskey}/{name}": "file", "/cdn/{accesskey}/{name}": "cdn"}.get(path)
    real = FILES.get(route or "", [])
    if not real or not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    return st.one_of(st.sampled_from(real), st.just(path_parameters))


def test_the_served_document_is_tested(fuzzed: Fuzzed) -> None:
    served = requests.get(fuzzed.server.url + "/openapi.json", timeout=30).json()
    assert served == build_openapi(SETTINGS, fuzzed.server.url + "/")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_answer_conforms_to_the_openapi_document(case: Any, fuzzed: Fuzzed) -> None:
    fuzzed.make_fresh(case)
    response = case.call(base_url=fuzzed.server.url, session=fuzzed.session, timeout=30)
    outcome = _outcome(response)
    documented = case.method.lower() in DOCUMENT["paths"].get(case.path, {})
    operation = f"{case.method} {case.path}" if documented else "(an undocumented method)"
    STATS[(operation, response.status_code, outcome)] += 1
    case.validate_response(response, checks=CHECKS)
    if case.path.startswith("/v1/Run/") and outcome == "ok":
        task = response.json()
        REFS.extend([{"taskid": task["taskid"]}, {"tasktoken": task["socketaccesstoken"]}])
    # time moves on: the tasks made here pass through every stage while the fuzzing goes on
    fuzzed.server.advance(SECONDS_PER_CALL)


STATEFUL = settings(
    max_examples=max(1, EXAMPLES // 3),
    stateful_step_count=10,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_linked_workflows_conform(fuzzed: Fuzzed) -> None:
    """schemathesis' stateful phase: chains of calls along the document's links (Run, then
    Task/Detail, Cancel, Kill or InputOutputDelete of the task it made; File/Upload, then a
    Run with the uploaded URL), every answer as documented."""

    class Workflow(schema.as_state_machine()):
        def before_call(self, case: Any) -> None:
            fuzzed.make_fresh(case)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": fuzzed.server.url, "session": fuzzed.session, "timeout": 30}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            outcome = _outcome(response)
            STATS[(f"(linked) {case.method} {case.path}", response.status_code, outcome)] += 1
            case.validate_response(response, checks=CHECKS)
            fuzzed.server.advance(SECONDS_PER_CALL)

    @seed(SEED)
    def workflow() -> Any:
        return Workflow()

    run_state_machine_as_test(workflow, settings=STATEFUL)
    if EXAMPLES >= 25:  # the suite's run (a shorter one may not get that far)
        linked = [k for k in STATS if k[0].startswith("(linked) POST /v1/Task/") and k[2] == "ok"]
        assert linked, "no link was followed to a real task"


def test_the_fake_survived(fuzzed: Fuzzed) -> None:
    """After the fuzzing, the fake still answers, and its seeded tasks are intact."""
    assert fuzzed.session.post("Task/List", json={"limit": 1}).json()["result"] is True
    assert requests.get(fuzzed.server.url + "/_mock/health", timeout=30).status_code == 200
