"""The fast path (mock_wiro/http/fast.py) answers exactly as Flask's path does.

Each request is sent twice over real HTTP to one fake, the same bytes both times: once
with the fast path on, once with it off (every request through Flask). The status
line, the headers the app sets, the body and the journal's ``request`` entry must be the
same; and the fast path must really have served the first (its count goes up) and not
the second.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import EnvironHeaders

from mock_wiro.engine.models import Project
from mock_wiro.http.fast import FAST_PATH_EXTENSION, FastApi
from mock_wiro.http.limits import environ_header_problem, header_environ, header_problem
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import (
    MAX_HEADER_BYTES,
    MAX_HEADER_COUNT,
    MAX_JSON_BODY_BYTES,
    RUN_PATH,
    Settings,
)
from mock_wiro.testing import sign, signed_session

APP_HEADERS = ("content-type", "content-length", "connection")
"""The response headers the app sets (the server adds Date and Server)."""


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[MockWiroServer, Project, str]]:
    with MockWiroServer(Settings(clock_mode="manual")) as server:
        project = server.create_project(balance="100")
        api = signed_session(project, server.base_url)
        run = {"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "waves"}
        taskid = api.post(RUN_PATH, json=run).json()["taskid"]
        server.advance(300)
        assert (
            api.post("Task/Detail", json={"taskid": taskid}).json()["tasklist"][0]["pexit"] == "0"
        )
        yield server, project, taskid


def fast_path(server: MockWiroServer) -> FastApi:
    found = server.app.extensions[FAST_PATH_EXTENSION]
    assert isinstance(found, FastApi)
    return found


def send(
    server: MockWiroServer, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str, dict[str, str], bytes, dict[str, Any]]:
    """One request on a fresh connection: status, reason, the app's headers, body, and
    the journal entry it left (without its seq and time)."""
    host, port = server.base_url.split("//")[1].split("/")[0].split(":")
    since = server.journal.entries()[-1].seq if server.journal.entries() else 0
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        got = {k.lower(): v for k, v in response.getheaders() if k.lower() in APP_HEADERS}
        status, reason = response.status, response.reason
    finally:
        conn.close()
    [entry] = server.journal.entries("request", since=since)
    return status, reason, got, data, dict(entry.data)


def call(server: MockWiroServer, path: str, body: bytes, headers: dict[str, str]) -> Any:
    """The same request straight to the WSGI app (no server to add or drop headers):
    the status line, every header the app set, in order, and the body."""
    response = server.app.test_client().post(path, data=body, headers=headers)
    return response.status, list(response.headers.items()), response.get_data()


def both(server: MockWiroServer, path: str, body: bytes, headers: dict[str, str]) -> Any:
    """The request through the fast path, then through Flask (over HTTP, and straight to
    the app): the two answers over HTTP."""
    fast = fast_path(server)
    before = fast.served
    on = send(server, path, body, headers)
    app_on = call(server, path, body, headers)
    assert fast.served == before + 2, "the fast path did not serve it"
    fast.enabled = False
    try:
        off = send(server, path, body, headers)
        app_off = call(server, path, body, headers)
    finally:
        fast.enabled = True
    assert fast.served == before + 2
    assert app_on[:2] == app_off[:2]
    if not path.startswith("/v1/Run/"):  # a Run makes a new task: a new id
        assert app_on == app_off
    return on, off


def signed(project: Project, nonce: str = "1700000000001", **more: str) -> dict[str, str]:
    return {
        "x-api-key": project.api_key,
        "x-nonce": nonce,
        "x-signature": sign(project.api_key, project.api_secret, nonce),
        **more,
    }


JSON = {"Content-Type": "application/json"}


def cases(project: Project, taskid: str) -> dict[str, tuple[str, bytes, dict[str, str]]]:
    """Requests by name: path, body, headers."""
    ok = signed(project, **JSON)
    found = [
        ("detail", "/v1/Task/Detail", json.dumps({"taskid": taskid}).encode(), ok),
        ("detail by token", "/v1/Task/Detail", b'{"tasktoken": "nope"}', ok),
        ("unknown task", "/v1/Task/Detail", b'{"taskid": "999999999"}', ok),
        ("no task named", "/v1/Task/Detail", b"{}", ok),
        ("not JSON", "/v1/Task/Detail", b"{nope", ok),
        ("an array", "/v1/Task/Detail", b"[1, 2]", ok),
        ("a nested value", "/v1/Task/Detail", b'{"taskid": {"a": 1}}', ok),
        (
            "charset",
            "/v1/Task/Detail",
            b"{}",
            signed(project, **{"Content-Type": "application/json; charset=utf-8"}),
        ),
        ("no body, no type", "/v1/Task/List", b"", signed(project)),
        ("list", "/v1/Task/List", b'{"limit": 5}', ok),
        ("bad order", "/v1/Task/List", b'{"order": "UP"}', ok),
        ("cancel an ended task", "/v1/Task/Cancel", json.dumps({"taskid": taskid}).encode(), ok),
        (
            "tool detail",
            "/v1/Tool/Detail",
            b'{"slugowner": "minimax", "slugproject": "hailuo-2-3-fast"}',
            ok,
        ),
        ("run refused", f"/v1/{RUN_PATH}", b'{"prompt": "no image"}', ok),
        (
            "run unknown field",
            f"/v1/{RUN_PATH}",
            b'{"inputImageFirstUrl": "https://e.com/a.jpg", "typo": 1}',
            ok,
        ),
        ("bad signature", "/v1/Task/Detail", b"{}", {**ok, "x-signature": "0" * 64}),
        ("no key", "/v1/Task/Detail", b"{}", JSON),
        ("unknown key", "/v1/Task/Detail", b"{}", {**ok, "x-api-key": "nope"}),
        (
            "secret in a field",
            "/v1/Task/Detail",
            b'{"taskid": "1", "x": "' + b"y" * 5000 + b'"}',
            ok,
        ),
        ("too large", "/v1/Task/Detail", b'{"a": "' + b"x" * MAX_JSON_BODY_BYTES + b'"}', ok),
    ]
    return {name: (path, body, headers) for name, path, body, headers in found}


CASES = [
    "detail", "detail by token", "unknown task", "no task named", "not JSON", "an array",
    "a nested value", "charset", "no body, no type", "list", "bad order",
    "cancel an ended task", "tool detail", "run refused", "run unknown field",
    "bad signature", "no key", "unknown key", "secret in a field", "too large",
]  # fmt: skip


@pytest.mark.parametrize("name", CASES)
def test_the_fast_path_answers_as_flask_does(
    served: tuple[MockWiroServer, Project, str], name: str
) -> None:
    server, project, taskid = served
    path, body, headers = cases(project, taskid)[name]
    on, off = both(server, path, body, headers)
    assert on == off


def test_every_case_is_run(served: tuple[MockWiroServer, Project, str]) -> None:
    _, project, taskid = served
    assert sorted(cases(project, taskid)) == sorted(CASES)


def test_a_run_is_the_same_call_either_way(served: tuple[MockWiroServer, Project, str]) -> None:
    server, project, _ = served
    body = b'{"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "sea"}'
    on, off = both(server, f"/v1/{RUN_PATH}", body, signed(project, **JSON))
    made = [json.loads(answer[3]) for answer in (on, off)]
    assert [m["result"] for m in made] == [True, True]
    assert made[0]["taskid"] != made[1]["taskid"]
    for answer, m in zip((on, off), made, strict=True):
        assert answer[4]["task"] == m["taskid"]  # the journal names the task it made
        assert answer[4]["response"] == answer[3].decode()
    strip = ("task", "response")
    same = [{k: v for k, v in a[4].items() if k not in strip} for a in (on, off)]
    assert same[0] == same[1]
    assert on[:3] == off[:3]


def test_an_http_fault_rule_sends_every_request_through_flask(
    served: tuple[MockWiroServer, Project, str],
) -> None:
    server, project, taskid = served
    fast = fast_path(server)
    rule = server.add_fault("/v1/Task/List", status=503)  # another path: still Flask's
    try:
        before = fast.served
        status, *_ = send(
            server,
            "/v1/Task/Detail",
            json.dumps({"taskid": taskid}).encode(),
            signed(project, **JSON),
        )
        assert status == 200 and fast.served == before
        status, *_ = send(server, "/v1/Task/List", b"{}", signed(project, **JSON))
        assert status == 503 and fast.served == before
    finally:
        server.clear_faults()
    send(server, "/v1/Task/List", b"{}", signed(project, **JSON))
    assert fast.served == before + 1
    assert rule.id


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("GET", "/v1/Task/Detail", "application/json"),
        ("POST", "/v1//Task/Detail", "application/json"),
        ("POST", "/v1/Task/Detail/", "application/json"),
        ("POST", "/v1/Task/Nothing", "application/json"),
        ("POST", "/v1/Task/Detail", "application/x-www-form-urlencoded"),
        ("POST", "/v1/Task/Detail", "multipart/form-data; boundary=x"),
        ("POST", "/v1/Task/%44etail", "application/json"),
        ("POST", "/_mock/reset", "application/json"),
    ],
)
def test_what_the_fast_path_leaves_to_flask(
    served: tuple[MockWiroServer, Project, str], method: str, path: str, content_type: str
) -> None:
    server = served[0]
    fast = fast_path(server)
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_TYPE": content_type}
    assert not fast.takes(environ)
    assert fast.takes(
        {
            **environ,
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/v1/Task/Detail",
            "CONTENT_TYPE": "application/json",
        }
    )


# ---------------------------------------------------------------- the header bounds' shortcut
_NAMES = st.sampled_from(
    ["HTTP_X_A", "HTTP_HOST", "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH", "CONTENT_TYPE",
     "CONTENT_LENGTH", "REQUEST_METHOD", "SERVER_NAME", "wsgi.version", "HTTP_X_LONG_NAME_"]
) | st.from_regex(r"HTTP_[A-Z_]{1,40}", fullmatch=True)  # fmt: skip
_VALUES = st.sampled_from(["", "x", "a" * 4000, "b" * 9000]) | st.text(max_size=200)


@st.composite
def _near_a_bound(draw: st.DrawFn) -> dict[str, str]:
    """An environ whose headers come within a few bytes (or one header) of a bound."""
    environ = draw(st.dictionaries(_NAMES, _VALUES, max_size=8))
    if draw(st.booleans()):  # about MAX_HEADER_COUNT headers
        n = MAX_HEADER_COUNT - len(environ) + draw(st.integers(-2, 2))
        environ |= {f"HTTP_X_{i}": "v" for i in range(max(0, n))}
    else:  # about MAX_HEADER_BYTES in all
        used = sum(len(k) + len(v) + 4 for k, v in EnvironHeaders(environ).items())
        room = MAX_HEADER_BYTES - used - len("X-Fill") - 4 + draw(st.integers(-6, 6))
        environ["HTTP_X_FILL"] = "f" * max(0, room)
    return environ


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(st.dictionaries(_NAMES, _VALUES, max_size=120) | _near_a_bound())
def test_the_environ_header_check_is_the_header_check(environ: dict[str, str]) -> None:
    """HeaderLimits reads the environ directly (no EnvironHeaders built per request): the
    same verdict as the header check on the headers werkzeug gives."""
    found = header_environ(environ)
    assert environ_header_problem(found) == header_problem(EnvironHeaders(environ).items())
    assert list(EnvironHeaders(found).items()) == list(EnvironHeaders(environ).items())


# ---------------------------------------------------------------- found in review
def test_a_json_body_over_a_small_upload_limit_is_the_same_413_either_way() -> None:
    """With an upload limit under 1 MiB, a JSON body can pass its own limit and still be
    over the app's MAX_CONTENT_LENGTH: werkzeug's 413, which both paths answer alike."""
    with MockWiroServer(Settings(clock_mode="manual", upload_max_bytes=100_000)) as server:
        project = server.create_project()
        body = json.dumps({"taskid": "1", "pad": "x" * 400_000}).encode()
        on, off = both(server, "/v1/Task/Detail", body, signed(project, **JSON))
        assert on == off
        assert on[0] == 413 and on[2]["connection"] == "close"
        assert "the upload limit is 100000 bytes" in json.loads(on[3])["errors"][0]["message"]


def test_allowed_hosts_given_as_a_list_is_kept_as_a_tuple() -> None:
    settings = Settings(clock_mode="manual", allowed_hosts=["fake.test"])  # type: ignore[arg-type]
    assert settings.allowed_hosts == ("fake.test",)
    with pytest.raises(ValueError, match="allowed_hosts"):
        Settings(allowed_hosts="fake.test")  # type: ignore[arg-type]
    with MockWiroServer(settings) as server:
        api = signed_session(server.create_project(), server.base_url)
        assert api.post("Task/List", json={}).json()["result"] is True
        assert server.app.test_client().get("/_mock/health").status_code == 200


def test_in_debug_mode_flask_serves_and_indents() -> None:
    """Flask indents its JSON in debug mode; the fast path steps aside then."""
    with MockWiroServer(Settings(clock_mode="manual")) as server:
        project = server.create_project()
        server.app.debug = True
        fast = fast_path(server)
        answer = call(server, "/v1/Task/List", b"{}", signed(project, **JSON))
        assert fast.served == 0 and b'\n  "errors"' in answer[2]
