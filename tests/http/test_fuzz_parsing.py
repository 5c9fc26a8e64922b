"""Property-based tests of request parsing: whatever a client sends to a ``/v1`` endpoint
(JSON, url-encoded or multipart bodies, raw bytes under any content type, any header
values, any field values), the fake answers with a documented status (never a 5xx), its
body is the API's envelope and matches the fake's OpenAPI document, the server stays up,
and the tasks it already stored are unchanged.

The fake runs on a loopback port (manual clock) for the whole module; its stored tasks
are all finished or stopped (so nothing but a request could change them), and some
generated bodies name them. Bounded for the suite (``MOCK_WIRO_FUZZ_EXAMPLES`` examples
per test); ``python -m benchmarks.fuzz`` runs them longer.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema_rs
import pytest
import requests
from hypothesis import HealthCheck, given, reject, seed, settings
from hypothesis import strategies as st

from mock_wiro.engine.models import Project
from mock_wiro.http.openapi import AUTH_MESSAGES, POST_ENDPOINTS, build_openapi
from mock_wiro.http.wire import task_detail
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import RUN_PATH, Settings
from mock_wiro.testing import signed_session
from mock_wiro_fixtures import image_bytes

EXAMPLES = int(os.environ.get("MOCK_WIRO_FUZZ_EXAMPLES") or 40)
SEED = int(os.environ.get("MOCK_WIRO_FUZZ_SEED") or 0)  # the suite always draws the same
_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz(test: Callable[..., None]) -> Callable[..., None]:
    """The settings of every property here, and the seed (reproducible runs)."""
    return seed(SEED)(_SETTINGS(test))


SETTINGS = Settings(clock_mode="manual")
DOCUMENT = build_openapi(SETTINGS)
STATUSES = {200, 401, 404, 413}
CODES = {0, 1, 96, 97}
ENDPOINT = st.sampled_from(POST_ENDPOINTS)
KNOWN_FIELDS = (
    "inputImageFirst",
    "inputImageFirstUrl",
    "inputImage",
    "inputImageUrl",
    "prompt",
    "promptOptimizer",
    "resolution",
    "duration",
    "callbackUrl",
    "taskid",
    "tasktoken",
    "socketaccesstoken",
    "start",
    "limit",
    "order",
    "name",
    "parentid",
    "folderid",
    "file",
    "slugowner",
    "slugproject",
)


def _validator(schema: dict[str, Any]) -> Any:
    return jsonschema_rs.Draft202012Validator({"components": DOCUMENT["components"], **schema})


def _documented(path: str, status: int) -> Any:
    responses = DOCUMENT["paths"][path]["post"]["responses"]
    response = responses[str(status)]
    if "$ref" in response:
        response = DOCUMENT["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return _validator(response["content"]["application/json"]["schema"])


VALIDATORS = {
    (f"/v1/{e}", status): _documented(f"/v1/{e}", status)
    for e in POST_ENDPOINTS
    for status in (200, 401, 413)
}


# ----------------------------------------------------------------- the fake under test
class Fuzzed:
    """The fake, a signature project, an API-key project, and the stored tasks' snapshot."""

    def __init__(self, server: MockWiroServer) -> None:
        self.server = server
        self.project: Project = server.create_project(balance="100000")
        self.apikey_project: Project = server.create_project(auth="apikey", balance="100000")
        self.session = signed_session(self.project, server.base_url)
        self.plain = requests.Session()  # no auth: the test sets every header
        self.stored: dict[str, dict[str, Any]] = {}
        self.refs: list[dict[str, str]] = []

    def store_tasks(self) -> None:
        server, session = self.server, self.session
        server.add_scenario(prompt_contains="[[fail]]", fail_at="task_output", pexit="3")
        files = {"inputImageFirst": ("a.jpg", image_bytes("landscape_16x9.jpg"))}
        ids = [
            session.post(RUN_PATH, data={"prompt": p}, files=files).json()["taskid"]
            for p in ("done", "[[fail]] failed", "cancelled", "killed")
        ]
        session.post("Task/Cancel", json={"taskid": ids[2]})
        server.advance(10)
        session.post("Task/Kill", json={"taskid": ids[3]})
        server.advance(300)
        server.clear_scenarios()
        for taskid in ids:
            task = server.task(taskid)
            assert task.terminal, task.status
            self.refs += [{"taskid": task.id}, {"tasktoken": task.token}]
        self.stored = self.snapshot()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        backend = self.server.backend
        with backend.state_lock:
            return {
                t: task_detail(self.server.task(t), backend.url_for)
                for t in self.stored or self.ids()
            }

    def ids(self) -> list[str]:
        return [ref["taskid"] for ref in self.refs if "taskid" in ref]

    def check(self, path: str, response: requests.Response) -> dict[str, Any]:
        """Every invariant of one answer, and of the fake after it."""
        assert response.status_code in STATUSES, (response.status_code, response.text[:500])
        assert response.headers.get("Content-Type") == "application/json", response.headers
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("result"), bool), body
        assert isinstance(body.get("errors"), list), body
        if body["result"] is False:
            (error,) = body["errors"]
            assert error["code"] in CODES and isinstance(error["message"], str), error
            assert error["message"], error
            assert "Internal error" not in error["message"], error
        else:
            assert response.status_code == 200 and body["errors"] == [], body
        if response.status_code == 401:
            assert body["errors"][0]["message"] in AUTH_MESSAGES
        if response.status_code == 404:
            assert path not in VALIDATORS_PATHS, (path, body)  # a documented path is served
            assert body["errors"][0] == {"code": 0, "message": "Error parsing url."}
        else:
            errors = [e.message for e in VALIDATORS[(path, response.status_code)].iter_errors(body)]
            assert not errors, (errors[:5], body)
        self.check_server(deleted=path == "/v1/Task/InputOutputDelete" and body["result"])
        return body

    def check_server(self, *, deleted: bool = False) -> None:
        """The fake is up and no stored task changed (but for an InputOutputDelete that
        succeeded, which removes one finished task's outputs, and nothing else)."""
        health = requests.get(self.server.url + "/_mock/health", timeout=30)
        assert health.status_code == 200
        now = self.snapshot()
        changed = {t for t in now if now[t] != self.stored[t]}
        if deleted and len(changed) == 1:
            (taskid,) = changed
            diff = {k for k in now[taskid] if now[taskid][k] != self.stored[taskid][k]}
            assert diff <= {"outputs", "size"} and now[taskid]["outputs"] == [], diff
            self.stored[taskid] = now[taskid]
            return
        assert not changed, f"stored tasks {sorted(changed)} changed"


VALIDATORS_PATHS = {path for path, _ in VALIDATORS}


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Fuzzed]:
    with MockWiroServer(SETTINGS) as server:
        fuzzed = Fuzzed(server)
        fuzzed.store_tasks()
        yield fuzzed
        fuzzed.session.close()
        fuzzed.plain.close()


# ----------------------------------------------------------------- strategies
TEXT = st.text(max_size=40)
NAMES = st.one_of(st.sampled_from(KNOWN_FIELDS), TEXT)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    st.sampled_from(["6", "10", "768P", "1080P", "true", "https://example.com/a.jpg", ""]),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
JSON_OBJECTS = st.dictionaries(NAMES, JSON_VALUES, max_size=8)
FORM_FIELDS = st.lists(st.tuples(NAMES, TEXT), max_size=8)
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=latin-1",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "multipart/form-data; boundary=xyz",
            "text/plain",
            "application/octet-stream",
            "",
            "application/JSON",
            "*/*",
        ]
    ),
    st.text(alphabet=string.printable.strip() + " ", max_size=40).map(str.lstrip),
)
RAW_BODIES = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"[" * 5000,  # nested deeper than the parser's recursion limit
            b'{"taskid": ' * 3000,
            b'{"taskid": 1e999999}',
            b'{"taskid": NaN, "prompt": Infinity}',
            b'{"taskid": "\\ud800"}',  # a lone surrogate
            b"\xff\xfe{}",
            b"a=%zz&b=%&%%%=1",
            b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n',  # unterminated
            b"--xyz--\r\n",
        ]
    ),
)
HEADER_BYTES = st.binary(max_size=60).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"").lstrip(b" \t")
)


# ----------------------------------------------------------------- the properties
@fuzz
@given(endpoint=ENDPOINT, body=JSON_VALUES | JSON_OBJECTS, ref=st.none() | st.integers(0, 7))
def test_any_json_body(fuzzed: Fuzzed, endpoint: str, body: Any, ref: int | None) -> None:
    if ref is not None and isinstance(body, dict):
        body = {**body, **fuzzed.refs[ref]}  # sometimes name a stored task
    response = fuzzed.session.post(endpoint, data=json.dumps(body), headers=_json_type())
    fuzzed.check(f"/v1/{endpoint}", response)


def _json_type() -> dict[str, str]:
    return {"Content-Type": "application/json"}


@fuzz
@given(endpoint=ENDPOINT, fields=FORM_FIELDS, ref=st.none() | st.integers(0, 7))
def test_any_urlencoded_body(
    fuzzed: Fuzzed, endpoint: str, fields: list[tuple[str, str]], ref: int | None
) -> None:
    if ref is not None:
        fields = [*fields, *fuzzed.refs[ref].items()]
    response = fuzzed.session.post(endpoint, data=fields)
    fuzzed.check(f"/v1/{endpoint}", response)


FILE_PARTS = st.lists(
    st.tuples(
        NAMES,
        st.one_of(st.text(max_size=30), st.sampled_from(["../../etc/passwd", "a.zip", ".", ""])),
        st.one_of(
            st.binary(max_size=200),
            st.sampled_from(["landscape_16x9.jpg", "not_an_image.jpg", "truncated.jpg"]).map(
                image_bytes
            ),
            st.just(b"PK\x05\x06" + b"\0" * 18),  # an empty ZIP
        ),
        st.one_of(st.none(), CONTENT_TYPES),
    ),
    max_size=3,
)


@fuzz
@given(endpoint=ENDPOINT, fields=FORM_FIELDS, files=FILE_PARTS)
def test_any_multipart_body(
    fuzzed: Fuzzed,
    endpoint: str,
    fields: list[tuple[str, str]],
    files: list[tuple[str, str, bytes, str | None]],
) -> None:
    parts = [(name, (filename, content, kind)) for name, filename, content, kind in files]
    if not parts:  # requests sends url-encoded without a file: force multipart
        parts = [("", ("", b"", None))]
    response = fuzzed.session.post(endpoint, data=fields, files=parts)
    fuzzed.check(f"/v1/{endpoint}", response)


@fuzz
@given(endpoint=ENDPOINT, content_type=CONTENT_TYPES, body=RAW_BODIES)
def test_any_bytes_under_any_content_type(
    fuzzed: Fuzzed, endpoint: str, content_type: str, body: bytes
) -> None:
    response = fuzzed.session.post(endpoint, data=body, headers={"Content-Type": content_type})
    fuzzed.check(f"/v1/{endpoint}", response)


HEADER_TEXT = st.text(
    alphabet=st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=30
)


@st.composite
def raw_multipart(draw: st.DrawFn) -> bytes:
    """A multipart body written by hand: parts with or without a name or a filename,
    odd header lines, quoting and encodings, maybe unterminated."""
    out = b""
    for _ in range(draw(st.integers(0, 4))):
        disposition = draw(st.sampled_from(["form-data", "form-data;", "attachment", ""]))
        if draw(st.booleans()):
            disposition += f'; name="{draw(st.one_of(st.sampled_from(KNOWN_FIELDS), HEADER_TEXT))}"'
        if draw(st.booleans()):
            disposition += f'; filename="{draw(HEADER_TEXT)}"'
        if draw(st.booleans()):
            disposition += f"; filename*=UTF-8''{draw(HEADER_TEXT)}"
        lines = [f"Content-Disposition: {disposition}"]
        if draw(st.booleans()):
            lines.append(f"Content-Type: {draw(CONTENT_TYPES)}")
        lines += draw(st.lists(HEADER_TEXT, max_size=2))
        head = "\r\n".join(lines).encode("latin-1")
        out += b"--xyz\r\n" + head + b"\r\n\r\n" + draw(st.binary(max_size=60)) + b"\r\n"
    return out + draw(st.sampled_from([b"--xyz--\r\n", b"--xyz--", b"", b"--xyz\r\n"]))


@fuzz
@given(endpoint=ENDPOINT, body=raw_multipart())
def test_any_handwritten_multipart(fuzzed: Fuzzed, endpoint: str, body: bytes) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    response = fuzzed.session.post(endpoint, data=body, headers=headers)
    fuzzed.check(f"/v1/{endpoint}", response)


@fuzz
@given(
    endpoint=ENDPOINT,
    project=st.sampled_from(["signature", "apikey", "none"]),
    key=st.one_of(st.none(), HEADER_BYTES, st.just(b"real")),
    nonce=st.one_of(st.none(), HEADER_BYTES),
    signature=st.one_of(st.none(), HEADER_BYTES),
    extra=st.dictionaries(
        st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=20), HEADER_BYTES
    ),
)
def test_any_auth_headers(
    fuzzed: Fuzzed,
    endpoint: str,
    project: str,
    key: bytes | None,
    nonce: bytes | None,
    signature: bytes | None,
    extra: dict[str, bytes],
) -> None:
    owner = fuzzed.project if project == "signature" else fuzzed.apikey_project
    headers: dict[str, str | bytes] = {
        k: v for k, v in extra.items() if k.lower() not in ("content-length", "host")
    }
    headers["Content-Type"] = "application/json"
    for name, value in (("x-api-key", key), ("x-nonce", nonce), ("x-signature", signature)):
        if value is not None:
            headers[name] = owner.api_key if value == b"real" and project != "none" else value
    try:
        response = fuzzed.plain.post(
            f"{fuzzed.server.base_url}/{endpoint}", data=b"{}", headers=headers, timeout=30
        )
    except ValueError:  # requests refuses a header it cannot send (not the fake's concern)
        reject()
    body = fuzzed.check(f"/v1/{endpoint}", response)
    if project == "apikey" and key == b"real":
        assert response.status_code != 401, body  # an API-key project needs nothing else
    if key != b"real" or project == "none":
        assert response.status_code == 401, body


URLS = st.one_of(
    TEXT,
    st.sampled_from(
        [
            "https://example.com/a.jpg",
            "http://127.0.0.1:1/v1/File/x/y.png",
            "ftp://example.com/a.jpg",
            "https://",
            "http://[::1",
            "https://example.com/" + "a" * 9000,
            "javascript:alert(1)",
        ]
    ),
)


@fuzz
@given(
    image=URLS,
    in_file_field=st.booleans(),
    prompt=st.one_of(TEXT, st.text(min_size=1990, max_size=2010)),
    optimizer=st.one_of(TEXT, st.sampled_from(["true", "FALSE", " yes ", "0"])),
    resolution=st.one_of(TEXT, st.sampled_from(["768P", "1080P", "768p", ""])),
    duration=st.one_of(
        TEXT, st.sampled_from(["6", "10", "6.0", "1e1", "nan", "inf", "-0", "", "10.000001"])
    ),
    callback=st.one_of(st.none(), URLS),
)
def test_any_run_field_values(
    fuzzed: Fuzzed,
    image: str,
    in_file_field: bool,
    prompt: str,
    optimizer: str,
    resolution: str,
    duration: str,
    callback: str | None,
) -> None:
    fields = {
        "inputImageFirst" if in_file_field else "inputImageFirstUrl": image,
        "prompt": prompt,
        "promptOptimizer": optimizer,
        "resolution": resolution,
        "duration": duration,
    }
    if callback is not None:
        fields["callbackUrl"] = callback
    response = fuzzed.session.post(RUN_PATH, json=fields)
    body = fuzzed.check(f"/v1/{RUN_PATH}", response)
    if body["result"]:  # accepted: the task holds exactly what was asked
        task = fuzzed.server.task(body["taskid"])
        assert task.params.prompt == prompt
        assert task.params.resolution == resolution.strip() or resolution == ""
        assert task.params.duration in ("6", "10")
        assert (task.params.resolution, task.params.duration) != ("1080P", "10")
        assert task.params.image_url == image.strip()
        assert task.params.callback_url == (callback or "")


@fuzz
@given(
    start=st.one_of(TEXT, st.integers(-5, 10**10).map(str)),
    limit=st.one_of(TEXT, st.integers(-5, 2000).map(str), st.sampled_from(["nan", "1e3"])),
    order=st.one_of(TEXT, st.sampled_from(["asc", "DESC", "Asc "])),
)
def test_any_list_paging(fuzzed: Fuzzed, start: str, limit: str, order: str) -> None:
    response = fuzzed.session.post(
        "Task/List", json={"start": start, "limit": limit, "order": order}
    )
    body = fuzzed.check("/v1/Task/List", response)
    if body["result"]:
        assert len(body["tasklist"]) <= 1000
        assert int(body["total"]) >= len(body["tasklist"])


def test_a_malformed_ipv6_image_url_fails_the_task_not_the_request(fuzzed: Fuzzed) -> None:
    """A fuzz finding: ``inputImageFirstUrl: "http://[::1"`` made ``urlsplit`` raise inside
    Run (HTTP 500). Like any URL the fake cannot download, it now fails the task."""
    for url in ("http://[::1", "http://[x]/a.jpg"):
        response = fuzzed.session.post(RUN_PATH, json={"inputImageFirstUrl": url})
        body = fuzzed.check(f"/v1/{RUN_PATH}", response)
        assert body["result"] is True, body
        fuzzed.server.advance(60)
        task = fuzzed.server.task(body["taskid"])
        assert task.status == "task_postprocess_end" and task.pexit != "0"
        assert "invalid URL" in task.stderr[-1]


def test_a_nameless_multipart_part_is_a_validation_error(fuzzed: Fuzzed) -> None:
    """A fuzz finding: a multipart part without a name reached the Run parameter check as
    the key ``None`` (werkzeug's), and sorting the unknown names with it raised (HTTP
    500). Such a body is now a code-0 error on every endpoint."""
    body = (
        b'--xyz\r\nContent-Disposition: form-data; filename="a.jpg"\r\n\r\nxx\r\n'
        b'--xyz\r\nContent-Disposition: form-data; name="zz"\r\n\r\nhi\r\n--xyz--\r\n'
    )
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    for endpoint in POST_ENDPOINTS:
        response = fuzzed.session.post(endpoint, data=body, headers=headers)
        answer = fuzzed.check(f"/v1/{endpoint}", response)
        assert answer["errors"][0]["code"] == 0
        assert "multipart part has no name" in answer["errors"][0]["message"]
