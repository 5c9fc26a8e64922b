"""Rules say why they did not match (journal ``unmatched`` entries and the
``.../explain`` endpoints), the rule book they share, and where errors become the wire:
a bad spec is a 400 naming the field, a builtin exception is a journaled 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mock_wiro.app import create_app
from mock_wiro.chaos.rules import USED_UP, Countdown, RuleBook
from mock_wiro.chaos.scenarios import ScenarioBook
from mock_wiro.control.fake import Fake
from mock_wiro.engine.backend import Backend
from mock_wiro.engine.models import Project
from mock_wiro.errors import MockWiroError, SpecError
from mock_wiro.settings import RUN_PATH, Settings
from mock_wiro.testing import signed_headers

RUN = {"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "waves"}


@pytest.fixture
def app() -> Iterator[Flask]:
    backend = Backend(Settings(clock_mode="manual"), scenarios=ScenarioBook())
    app = create_app(backend=backend)  # not started: nothing moves on its own
    try:
        yield app
    finally:
        backend.close()


@pytest.fixture
def fake(app: Flask) -> Fake:
    return Fake.of(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def project(fake: Fake) -> Project:
    return fake.backend.create_project(balance="100")


def run(client: FlaskClient, project: Project, **headers: str) -> dict[str, Any]:
    sent = signed_headers(project) | headers
    found: dict[str, Any] = client.post(f"/v1/{RUN_PATH}", headers=sent, json=RUN).get_json()
    return found


def entries(fake: Fake, kind: str) -> list[dict[str, Any]]:
    return [e.to_json() for e in fake.backend.journal.entries(kind)]


# ------------------------------------------------------------------ the rule book
class _Rule:
    def __init__(self, rule_id: str, times: int | None = None) -> None:
        self.id, self.times = rule_id, times


def test_the_rule_book_keeps_order_ids_and_countdowns() -> None:
    book: RuleBook[_Rule] = RuleBook("r")
    assert [book.next_id(), book.next_id()] == ["r1", "r2"]
    first, second = book.add(_Rule("a", times=1)), book.add(_Rule("b"))
    assert book.rules() == [first, second] and book.get("b") is second
    book.spend(first)
    assert book.countdown(first) == Countdown(remaining=0, hits=1)
    assert [r.id for r, _ in book.active()] == ["b"]
    assert book.explain(lambda r: (True, ""))[0] == {"id": "a", "matched": False, "reason": USED_UP}
    replaced = book.add(_Rule("a"))  # the same id: replaced, tried last
    assert book.rules() == [second, replaced]
    assert book.remove("a") and not book.remove("a")
    book.clear()
    assert book.rules() == [] and book.next_id() == "r3"  # ids never repeat


# ------------------------------------------------------------------ scenarios
def test_a_run_no_scenario_matches_is_journaled_with_each_reason(
    client: FlaskClient, fake: Fake, project: Project
) -> None:
    fake.scenarios.add({"id": "by-prompt", "prompt_contains": "[[fail]]", "fail_at": "task_start"})
    fake.scenarios.add({"id": "by-header", "header": {"X-Case": "7"}, "moderation": True})
    fake.scenarios.add({"id": "by-project", "project": "someone-else", "stay_queued": True})
    run(client, project, **{"X-Case": "8"})
    (miss,) = entries(fake, "unmatched")
    assert miss["rules"] == "scenarios" and miss["project"] == project.api_key
    reasons = {c["id"]: c["reason"] for c in miss["candidates"]}
    assert reasons == {
        "by-prompt": "the prompt does not contain '[[fail]]'",
        "by-header": "header 'x-case' is '8', not '7'",
        "by-project": (f"project is {project.api_key!r} (id {project.id!r}), not 'someone-else'"),
    }


def test_a_matching_run_is_not_an_unmatched_entry(
    client: FlaskClient, fake: Fake, project: Project
) -> None:
    fake.scenarios.add({"id": "any", "times": 1, "stay_queued": True})
    run(client, project)
    assert entries(fake, "scenario") and not entries(fake, "unmatched")
    run(client, project)  # used up now
    (miss,) = entries(fake, "unmatched")
    assert miss["candidates"] == [{"id": "any", "reason": USED_UP}]


def test_scenarios_explain_answers_every_scenario(client: FlaskClient, fake: Fake) -> None:
    fake.scenarios.add({"id": "a", "header": "X-Case=1"})
    fake.scenarios.add({"id": "b", "prompt_contains": "storm"})
    fake.scenarios.add({"id": "c"})
    answer = client.post(
        "/_mock/scenarios/explain", json={"prompt": "a storm", "headers": {"X-Case": "2"}}
    ).get_json()
    assert answer == {
        "scenarios": [
            {"id": "a", "matched": False, "reason": "header 'x-case' is '2', not '1'"},
            {"id": "b", "matched": True, "reason": ""},
            {"id": "c", "matched": True, "reason": ""},
        ],
        "applies": "b",
    }
    assert fake.scenarios.items()[0][1] is None  # explaining counts nothing


# ------------------------------------------------------------------ HTTP faults
def test_a_request_no_fault_hits_is_journaled_with_each_reason(
    client: FlaskClient, fake: Fake, project: Project
) -> None:
    fake.faults.add({"path": "/v1/Task/Detail", "status": 503})
    fake.faults.add({"path": "/v1/Run/*", "method": "GET", "status": 500})
    fake.faults.add({"path": "/v1/*", "probability": 0, "seed": 1, "status": 502})
    run(client, project)
    (miss,) = entries(fake, "unmatched")
    assert miss["rules"] == "faults" and miss["method"] == "POST"
    assert miss["path"] == f"/v1/{RUN_PATH}"
    assert miss["candidates"] == [
        {"id": "f1", "reason": f"path '/v1/{RUN_PATH}' does not match '/v1/Task/Detail'"},
        {"id": "f2", "reason": "method POST is not GET"},
        {"id": "f3", "reason": "it matched, but its probability draw did not fire"},
    ]
    assert not entries(fake, "fault")


def test_faults_explain_answers_every_rule(client: FlaskClient, fake: Fake) -> None:
    fake.faults.add({"path": "/v1/Task/*", "when": "after", "status": 502})
    fake.faults.add({"path": "/v1/Task/Detail", "method": "POST", "status": 429, "times": 1})
    answer = client.post(
        "/_mock/faults/explain", json={"method": "post", "path": "/v1/Task/Detail"}
    ).get_json()
    assert answer["faults"] == [
        {"id": "f1", "matched": True, "reason": ""},
        {"id": "f2", "matched": True, "reason": ""},
    ]
    before = client.post(
        "/_mock/faults/explain", json={"path": "/v1/Task/Detail", "when": "before"}
    ).get_json()
    assert before == {
        "faults": [
            {"id": "f1", "matched": False, "reason": "it applies after the handler, not before"},
            {"id": "f2", "matched": False, "reason": "method GET is not POST"},
        ],
        "applies": None,
    }
    assert fake.faults.get("f2") is not None and fake.faults.get("f2").remaining == 1  # type: ignore[union-attr]


def test_socket_faults_explain(client: FlaskClient, fake: Fake) -> None:
    fake.socket_faults.add({"action": "close", "after": 1, "task": "42"})
    fake.socket_faults.add({"action": "drop_on_register"})
    answer = client.post("/_mock/socket-faults/explain", json={"task": "7"}).get_json()
    assert answer == {
        "faults": [
            {"id": "sf1", "matched": False, "reason": "task '7' is not '42'"},
            {"id": "sf2", "matched": True, "reason": ""},
        ],
        "applies": "sf2",
    }


# ------------------------------------------------------------------ errors become the wire
def test_a_bad_spec_is_a_400_naming_the_field(client: FlaskClient) -> None:
    bad = client.post("/_mock/faults", json={"path": "/v1/x", "probability": 2, "status": 500})
    assert bad.status_code == 400
    assert bad.get_json() == {"error": "'probability' must be from 0 to 1; got 2"}
    bad = client.post("/_mock/scenarios", json={"hold_at": 3})
    assert bad.status_code == 400
    assert bad.get_json() == {"error": "scenario 'hold_at' must be a string; got 3"}
    bad = client.post("/_mock/socket-faults", json={"action": "close", "after": 0})
    assert bad.status_code == 400
    assert bad.get_json() == {"error": "'after' must be an integer from 1 to 1000000000; got 0"}
    with pytest.raises(SpecError) as caught:
        Fake.build(Settings()).faults.add({"path": "/v1/x"})
    assert isinstance(caught.value, ValueError | MockWiroError)


def test_a_builtin_error_under_mock_is_a_journaled_500(
    client: FlaskClient, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise ValueError("a bug, not a bad request")

    monkeypatch.setattr(fake, "reset", broken)
    answer = client.post("/_mock/reset", headers={"X-Admin-Token": "secret-token"})
    assert answer.status_code == 500
    assert "a bug, not a bad request" in answer.get_json()["error"]
    (error,) = entries(fake, "error")
    assert error["path"] == "/_mock/reset" and error["method"] == "POST"
    assert "ValueError: a bug, not a bad request" in error["traceback"]
    assert "in broken" in error["traceback"]
    assert error["headers"]["x-admin-token"] == "secr…"  # secrets masked


def test_a_builtin_error_under_v1_keeps_the_envelope_and_is_journaled(
    client: FlaskClient, fake: Fake, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(fake.backend, "authenticate", broken)
    answer = client.post(
        "/v1/Task/Detail",
        headers=signed_headers(project),
        json={"taskid": "1"},
    )
    assert answer.status_code == 500
    assert answer.get_json() == {
        "result": False,
        "errors": [{"code": 0, "message": "Internal error: KeyError('oops')"}],
    }
    (error,) = entries(fake, "error")
    assert error["path"] == "/v1/Task/Detail" and "KeyError: 'oops'" in error["traceback"]
    assert error["headers"]["x-api-key"].endswith("…")
