"""HTTP faults (issue 4): statuses, latency, hangs, resets and malformed bodies, by count
or by seeded probability, before or after the handler, over real HTTP."""

from __future__ import annotations

import random
import re
import time
from typing import Any

import pytest
import requests

from mock_wiro.chaos.http_faults import Phase
from mock_wiro.engine.journal import Entry
from mock_wiro.server import MockWiroServer
from mock_wiro_fixtures import image_bytes
from tests.helpers import REPO
from tests.helpers.wiro import Wiro

RUN = "Run/minimax/hailuo-2-3-fast"


def send(wiro: Wiro, path: str, timeout: float = 30, **kwargs: Any) -> requests.Response:
    """A signed POST with its own timeout (``Wiro.post`` fixes 30 s)."""
    headers = wiro.headers()
    return requests.post(f"{wiro.base}/{path}", headers=headers, timeout=timeout, **kwargs)


def run_request(wiro: Wiro) -> requests.Response:
    files = {"inputImageFirst": ("a.jpg", image_bytes("landscape_16x9.jpg"))}
    return send(wiro, RUN, data={"inputImageFirstUrl": "", "prompt": "a test"}, files=files)


def task_total(wiro: Wiro) -> str:
    total: str = wiro.ok("Task/List", json={"limit": 100})["total"]
    return total


def control(server: MockWiroServer, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{server.url}/_mock/faults{path}", timeout=10, **kwargs)


def faults_of(server: MockWiroServer, kind: str = "fault") -> list[Entry]:
    return server.journal.entries(kind)


# ------------------------------------------------------------------ statuses
@pytest.mark.parametrize("status", [500, 502, 503])
def test_status_fault_answers_the_api_envelope(wiro: Wiro, status: int) -> None:
    rule = wiro.server.add_fault("/v1/Task/Detail", status=status)
    response = send(wiro, "Task/Detail", json={"taskid": "1"})
    assert response.status_code == status
    body = response.json()
    assert body["result"] is False and len(body["errors"]) == 1
    assert body["errors"][0]["code"] == 0
    assert "Injected fault" in body["errors"][0]["message"]
    assert rule.id in body["errors"][0]["message"]
    assert response.headers["X-Mock-Wiro-Fault"] == f"{rule.id}; action=status; when=before"
    assert "Retry-After" not in response.headers
    # times defaults to 1: the next request reaches the handler
    assert wiro.error("Task/Detail", 1, json={"taskid": "1"}) == "There is no task yet."


def test_429_carries_retry_after(wiro: Wiro) -> None:
    wiro.server.add_fault("/v1/Task/List", status=429, retry_after=7)
    wiro.server.add_fault("/v1/Task/List", status=429)
    first = send(wiro, "Task/List", json={})
    assert first.status_code == 429 and first.headers["Retry-After"] == "7"
    second = send(wiro, "Task/List", json={})
    assert second.status_code == 429 and second.headers["Retry-After"] == "1"  # the default
    assert "Too Many Requests" in second.json()["errors"][0]["message"]
    assert send(wiro, "Task/List", json={}).status_code == 200


def test_custom_message(wiro: Wiro) -> None:
    wiro.server.add_fault("/v1/Tool/Detail", status=503, message="upstream overloaded")
    response = send(wiro, "Tool/Detail", json={})
    assert response.json()["errors"][0]["message"] == "upstream overloaded"


def test_before_fault_never_reaches_the_handler(wiro: Wiro) -> None:
    rule = wiro.server.add_fault("/v1/Run/*", status=503, when="before")
    response = run_request(wiro)
    assert response.status_code == 503
    assert task_total(wiro) == "0"  # no task was made
    [fault] = faults_of(wiro.server)
    assert fault.get("rule") == rule.id and fault.get("when") == "before"
    assert fault.get("action") == "status" and fault.get("status") == 503
    assert fault.get("path") == "/v1/" + RUN and fault.get("method") == "POST"
    [request] = wiro.server.journal.entries("request", path="/Run/")
    assert request.get("status") == 503 and request.get("task") is None
    assert request.get("fault") == {"rule": rule.id, "action": "status", "when": "before"}


# ------------------------------------------------------------------ the duplicate-submit trap
def test_duplicate_submit_trap_after_502(wiro: Wiro) -> None:
    server = wiro.server
    rule = server.add_fault("/v1/" + RUN, method="POST", when="after", status=502)
    response = run_request(wiro)
    assert response.status_code == 502 and response.json()["result"] is False
    # ... yet the task exists: a client that retries blindly now has two
    listed = wiro.ok("Task/List", json={})
    assert listed["total"] == "1"
    task_id = listed["tasklist"][0]["id"]
    [request] = server.journal.entries("request", path="/Run/")
    assert request.get("status") == 502  # what the client got
    assert request.get("task") == task_id  # the task the handler created
    assert request.get("fault") == {"rule": rule.id, "action": "status", "when": "after"}
    [fault] = faults_of(server)
    assert fault.get("task") == task_id and fault.get("original_status") == 200
    assert fault.seq < request.seq
    assert server.journal.entries("request", task=task_id) == [request]


def test_duplicate_submit_trap_after_reset(wiro: Wiro) -> None:
    server = wiro.server
    rule = server.add_fault("/v1/Run/*", when="after", reset=True)
    with pytest.raises(requests.ConnectionError):
        run_request(wiro)
    assert task_total(wiro) == "1"
    [request] = server.journal.entries("request", path="/Run/")
    assert request.get("task") == server.backend.all_tasks()[0].id
    assert request.get("status") is None  # no response reached the client
    assert request.get("fault") == {"rule": rule.id, "action": "reset", "when": "after"}


# ------------------------------------------------------------------ other actions
def test_reset_before_drops_the_connection(wiro: Wiro) -> None:
    wiro.server.add_fault("/v1/Task/Detail", reset=True)
    with pytest.raises(requests.ConnectionError):
        send(wiro, "Task/Detail", json={"taskid": "1"})
    # the server is fine, and the next request is answered
    assert wiro.error("Task/Detail", 1, json={"taskid": "1"}) == "There is no task yet."
    [fault] = faults_of(wiro.server)
    assert fault.get("action") == "reset"


@pytest.mark.parametrize("when", ["before", "after"])
def test_malformed_body(wiro: Wiro, when: Phase) -> None:
    wiro.server.add_fault("/v1/Run/*", malformed=True, when=when)
    response = run_request(wiro)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.text.startswith("{")
    with pytest.raises(ValueError):
        response.json()
    assert task_total(wiro) == ("1" if when == "after" else "0")


def test_latency(wiro: Wiro) -> None:
    wiro.server.add_fault("/v1/Tool/Detail", latency=0.3, times=2, when="after")
    started = time.monotonic()
    response = send(wiro, "Tool/Detail", json={})
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200 and response.json()["result"] is True
    since = wiro.server.journal.last_seq
    with pytest.raises(requests.Timeout):  # past the client's timeout
        send(wiro, "Tool/Detail", timeout=0.1, json={})
    # the server finishes it anyway (nothing left in flight for the next test)
    wiro.server.wait_for(lambda e: e.kind == "request" and e.seq > since)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_delayed_response_carries_the_fault_mark(wiro: Wiro, when: Phase) -> None:
    """README: every response a fault touched carries X-Mock-Wiro-Fault, a latency too."""
    rule = wiro.server.add_fault("/v1/Tool/Detail", latency=0.01, times=1, when=when)
    response = send(wiro, "Tool/Detail", json={})
    assert response.status_code == 200
    assert response.headers["X-Mock-Wiro-Fault"] == f"{rule.id}; action=latency; when={when}"
    assert "X-Mock-Wiro-Fault" not in send(wiro, "Tool/Detail", json={}).headers


@pytest.mark.parametrize("after", [{"status": 503}, {"malformed": True}])
def test_a_response_two_faults_touched_carries_both_marks(
    wiro: Wiro, after: dict[str, Any]
) -> None:
    """A before delay, then an after rule on the same request: each mark is on the
    response (the load campaign counts every rule's hits from them)."""
    delay = wiro.server.add_fault("/v1/Tool/Detail", latency=0.01, times=1, when="before")
    rule = wiro.server.add_fault("/v1/Tool/Detail", times=1, when="after", **after)
    response = send(wiro, "Tool/Detail", json={})
    action = "status" if "status" in after else "malformed"
    assert response.headers["X-Mock-Wiro-Fault"] == (
        f"{rule.id}; action={action}; when=after, {delay.id}; action=latency; when=before"
    )


def test_hang_until_released(wiro: Wiro) -> None:
    server = wiro.server
    rule = server.add_fault("/v1/Task/Detail", hang=True)
    with pytest.raises(requests.Timeout):
        send(wiro, "Task/Detail", timeout=0.5, json={"taskid": "1"})
    server.wait_for(lambda e: e.kind == "fault" and e.get("rule") == rule.id)
    listed = control(server, "GET", "").json()["faults"]
    assert listed[0]["held"] == 1 and listed[0]["hang"] == 300
    assert control(server, "POST", f"/{rule.id}/release").json() == {"released": 1}
    # the held request goes on to the handler, then its answer goes nowhere
    done = server.wait_for(
        lambda e: e.kind == "request" and e.get("fault", {}).get("rule") == rule.id
    )
    assert done.get("status") == 200 and done.get("fault")["action"] == "hang"
    assert control(server, "GET", f"/{rule.id}").json()["held"] == 0
    assert wiro.error("Task/Detail", 1, json={"taskid": "1"}) == "There is no task yet."


def test_reset_releases_hangs_and_forgets_rules(wiro: Wiro) -> None:
    server = wiro.server
    rule = server.add_fault("/v1/Task/Detail", hang=5)
    server.add_fault("/v1/Tool/Detail", status=500, times=5)
    with pytest.raises(requests.Timeout):
        send(wiro, "Task/Detail", timeout=0.3, json={"taskid": "1"})
    server.wait_for(lambda e: e.kind == "fault" and e.get("rule") == rule.id)
    server.reset()
    assert control(server, "GET", "").json() == {"faults": []}
    server.wait_for(lambda e: e.kind == "request" and e.get("path") == "/v1/Task/Detail")
    assert send(wiro, "Tool/Detail", json={}).status_code == 200


# ------------------------------------------------------------------ how often
def test_times_applies_to_the_next_n_requests(wiro: Wiro) -> None:
    rule = wiro.server.add_fault("/v1/Tool/Detail", status=503, times=3)
    statuses = [send(wiro, "Tool/Detail", json={}).status_code for _ in range(5)]
    assert statuses == [503, 503, 503, 200, 200]
    shown = control(wiro.server, "GET", f"/{rule.id}").json()
    assert shown["hits"] == 3 and shown["matched"] == 3
    assert shown["remaining"] == 0 and shown["active"] is False


def _sequence(wiro: Wiro, seed: int, n: int = 24) -> list[bool]:
    server = wiro.server
    server.clear_faults()
    rule = server.add_fault("/v1/Tool/Detail", status=503, probability=0.5, seed=seed)
    hits = [send(wiro, "Tool/Detail", json={}).status_code == 503 for _ in range(n)]
    assert rule.hits == sum(hits) and rule.matched == n
    return hits


def test_probability_with_a_seed_is_reproducible(wiro: Wiro) -> None:
    first = _sequence(wiro, seed=42)
    assert first == _sequence(wiro, seed=42)  # the same seed: the same sequence
    rng = random.Random(42)
    assert first == [rng.random() < 0.5 for _ in first]  # documented: random() < p
    assert True in first and False in first
    assert _sequence(wiro, seed=43) != first  # another seed: another sequence


def test_probability_bounds(wiro: Wiro) -> None:
    server = wiro.server
    never = server.add_fault("/v1/Tool/Detail", status=500, probability=0)
    assert send(wiro, "Tool/Detail", json={}).status_code == 200
    assert never.matched == 1 and never.hits == 0
    server.clear_faults()
    server.add_fault("/v1/Tool/Detail", status=500, probability=1)
    assert [send(wiro, "Tool/Detail", json={}).status_code for _ in range(3)] == [500] * 3


def test_probability_without_a_seed_shows_the_one_it_drew(fake: MockWiroServer) -> None:
    created = control(fake, "POST", "", json={"path": "/v1/*", "status": 500, "probability": 0.5})
    assert created.status_code == 201 and isinstance(created.json()["seed"], int)


# ------------------------------------------------------------------ which requests
def test_only_matching_paths_and_methods(wiro: Wiro) -> None:
    server = wiro.server
    server.add_fault("/v1/Task/*", status=503, times=10)
    assert send(wiro, "Tool/Detail", json={}).status_code == 200
    assert send(wiro, "Task/List", json={}).status_code == 503
    assert send(wiro, "Task/Detail", json={"taskid": "1"}).status_code == 503
    server.clear_faults()
    server.add_fault("/v1/Task/List", method="GET", status=503)
    assert send(wiro, "Task/List", json={}).status_code == 200  # a POST
    # the control surface itself is never faulted
    server.clear_faults()
    server.add_fault("/*", status=500, times=10)
    assert control(server, "GET", "").status_code == 200
    assert requests.get(server.url + "/_mock/health", timeout=10).status_code == 200


def test_public_file_urls(wiro: Wiro) -> None:
    stored = wiro.ok("File/Upload", files={"file": ("p.jpg", image_bytes("landscape_16x9.jpg"))})
    url = stored["list"][0]["url"]
    wiro.server.add_fault("/v1/File/*", method="GET", status=503)
    wiro.server.add_fault("/v1/File/*", method="GET", malformed=True, when="after")
    assert requests.get(url, timeout=10).status_code == 503
    truncated = requests.get(url, timeout=10)  # the download is cut short
    assert truncated.status_code == 200
    assert 0 < len(truncated.content) < len(image_bytes("landscape_16x9.jpg"))
    assert requests.get(url, timeout=10).content == image_bytes("landscape_16x9.jpg")
    wiro.server.add_fault("/cdn/*", status=502)
    assert requests.get(wiro.server.url + "/cdn/x/0.mp4", timeout=10).status_code == 502


# ------------------------------------------------------------------ control
def test_control_create_list_delete_clear(wiro: Wiro) -> None:
    server = wiro.server
    created = control(
        server, "POST", "", json={"path": "/v1/Tool/Detail", "status": 429, "retry_after": 3}
    )
    assert created.status_code == 201
    rule = created.json()
    assert rule["id"].startswith("f") and rule["action"] == "status"
    assert rule["times"] == 1 and rule["remaining"] == 1 and rule["when"] == "before"
    assert send(wiro, "Tool/Detail", json={}).headers["Retry-After"] == "3"
    [listed] = control(server, "GET", "").json()["faults"]
    assert listed["id"] == rule["id"] and listed["hits"] == 1 and listed["active"] is False

    other = control(server, "POST", "", json={"path": "/v1/*", "action": "reset", "times": 2})
    assert other.json()["action"] == "reset" and other.json()["times"] == 2
    assert control(server, "DELETE", f"/{other.json()['id']}").json() == {"ok": True}
    assert control(server, "DELETE", f"/{other.json()['id']}").status_code == 404
    assert control(server, "GET", "/f999999").status_code == 404
    assert control(server, "POST", "/f999999/release").status_code == 404
    assert control(server, "POST", "/release").json() == {"released": 0}
    assert control(server, "POST", "/clear").json() == {"ok": True}
    assert control(server, "GET", "").json() == {"faults": []}
    assert send(wiro, "Tool/Detail", json={}).status_code == 200


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"path": "/v1/*", "status": 500, "probability": 1.5}, "'probability' must be"),
        ({"path": "/v1/*", "status": 500, "probability": "half"}, "'probability' must be"),
        ({"path": "/v1/*", "action": "explode"}, "unknown action 'explode'"),
        ({"path": "/v1/*", "explode": True}, "unknown field 'explode'"),
        ({"path": "/v1/*"}, "exactly one action"),
        ({"path": "/v1/*", "status": 500, "reset": True}, "exactly one action"),
        ({"path": "/v1/*", "status": 200}, "'status' must be an integer from 400 to 599"),
        ({"path": "/v1/*", "status": 500, "times": 0}, "'times' must be"),
        ({"path": "/v1/*", "status": 500, "times": 2, "probability": 0.5}, "not both"),
        ({"path": "/v1/*", "status": 500, "seed": 1}, "'seed' goes with 'probability'"),
        ({"path": "/v1/*", "status": 500, "when": "during"}, "'when' must be"),
        ({"path": "/v1/*", "latency": 301}, "at most 300"),
        ({"path": "/v1/*", "hang": -1}, "more than 0"),
        ({"path": "/v1/*", "reset": True, "retry_after": 2}, "does not go with"),
        ({"path": "v1/x", "status": 500}, "must start with '/'"),
        ({"path": "/_mock/reset", "status": 500}, "cannot be faulted"),
        ({"status": 500}, "'path' is required"),
    ],
)
def test_control_rejects_bad_rules(fake: MockWiroServer, body: dict[str, Any], says: str) -> None:
    response = control(fake, "POST", "", json=body)
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]
    assert control(fake, "GET", "").json() == {"faults": []}


def test_control_takes_json_only(fake: MockWiroServer) -> None:
    response = control(fake, "POST", "", data="path=/v1/x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert control(fake, "POST", "", data="{", headers={"Content-Type": "application/json"}).json()[
        "error"
    ] == ("the body is not valid JSON")


def test_python_api_checks_rules_too(fake: MockWiroServer) -> None:
    with pytest.raises(ValueError, match="'probability' must be"):
        fake.add_fault("/v1/*", status=500, probability=2)
    with pytest.raises(ValueError, match="exactly one action"):
        fake.add_fault("/v1/*")
    rule = fake.add_fault("/v1/*", hang=2.5)
    assert rule.to_json()["hang"] == 2.5 and fake.faults.rules() == [rule]
    assert fake.remove_fault(rule.id) and not fake.remove_fault(rule.id)


# ------------------------------------------------------------------ the README's example
def test_readme_example_runs() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## HTTP faults\n", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)
    exec(compile(code, "README.md#http-faults", "exec"), {"__name__": "readme_http_faults"})
