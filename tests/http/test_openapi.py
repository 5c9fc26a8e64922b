"""The fake's OpenAPI document (``GET /openapi.json``, :mod:`mock_wiro.http.openapi`).

It is valid OpenAPI 3.1 (schemathesis' meta-schema check, and every schema in it is
valid JSON Schema 2020-12 with every ``$ref`` resolving), the seed's example responses
validate against its schemas, the fake's own answers (success at every stage, every
error case) do too, and it lists every route the app serves under ``/v1``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
import requests
import schemathesis

from mock_wiro.http.openapi import OPENAPI_PATH, POST_ENDPOINTS, TASK_STATUSES, build_openapi
from mock_wiro.http.routes import ROUTES
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import RUN_PATH, Settings
from mock_wiro_fixtures import seed_response
from tests.helpers.wiro import Wiro

DOCUMENT = build_openapi(Settings(clock_mode="manual"))
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def validator(schema: dict[str, Any], document: dict[str, Any] = DOCUMENT) -> Any:
    """A JSON Schema 2020-12 validator for ``schema``, its ``$ref`` s resolved in
    ``document`` (formats checked: ``uri``, ``uuid``)."""
    root = {"components": document["components"], **schema}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


def component(name: str) -> Any:
    return validator({"$ref": f"#/components/schemas/{name}"})


def response_schema(path: str, method: str, status: str) -> Any:
    """The validator of one documented response's JSON body."""
    response = DOCUMENT["paths"][path][method]["responses"][status]
    if "$ref" in response:
        response = DOCUMENT["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return validator(response["content"]["application/json"]["schema"])


def assert_valid(check: Any, instance: Any) -> None:
    errors = [f"{e.instance_path}: {e.message}" for e in check.iter_errors(instance)]
    assert not errors, "\n".join(errors[:10])


def walk(node: Any, path: str = "#") -> Iterator[tuple[str, Any]]:
    """Every (JSON pointer, value) in a JSON document."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


# ----------------------------------------------------------------- a valid document
def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(DOCUMENT).validate()  # the OpenAPI 3.1 meta-schema


def test_the_meta_schema_check_is_not_vacuous() -> None:
    broken = build_openapi()
    broken["components"]["securitySchemes"]["apiKey"]["in"] = "body"
    with pytest.raises(jsonschema_rs.ValidationError):
        schemathesis.openapi.from_dict(broken).validate()


def test_every_schema_is_valid_json_schema_and_every_ref_resolves() -> None:
    schemas = [v for p, v in walk(DOCUMENT) if p.endswith("/schema")]
    schemas += list(DOCUMENT["components"]["schemas"].values())
    assert len(schemas) > 30
    for schema in schemas:
        validator(schema)  # raises on a schema that is not valid 2020-12
    refs = [v["$ref"] for _, v in walk(DOCUMENT) if isinstance(v, dict) and "$ref" in v]
    assert refs
    for ref in refs:
        assert isinstance(resolve(DOCUMENT, ref), dict), ref
    with pytest.raises(ValueError):
        validator({"type": "strng"})


def test_operation_ids_are_unique_and_path_parameters_declared() -> None:
    ids = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            assert method in METHODS, (path, method)
            ids.append(operation["operationId"])
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path
            assert operation["responses"], path
    assert len(ids) == len(set(ids))


def test_the_auth_headers_are_security_schemes() -> None:
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert {(s["type"], s["in"], s["name"]) for s in schemes.values()} == {
        ("apiKey", "header", "x-api-key"),
        ("apiKey", "header", "x-nonce"),
        ("apiKey", "header", "x-signature"),
    }
    assert {"apiKey": [], "nonce": [], "signature": []} in DOCUMENT["security"]
    assert {"apiKey": []} in DOCUMENT["security"]


# ----------------------------------------------------------------- what it lists
def _document_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def test_every_route_the_app_serves_under_v1_is_documented(fake: MockWiroServer) -> None:
    assert set(ROUTES) == set(POST_ENDPOINTS)
    served = [r for r in fake.app.url_map.iter_rules() if r.rule.startswith("/v1")]
    assert served
    for rule in served:
        if rule.rule == "/v1/<path:path>":  # the dispatcher: one POST per ROUTES entry
            for endpoint in ROUTES:
                assert "post" in DOCUMENT["paths"][f"/v1/{endpoint}"], endpoint
            continue
        path = _document_path(rule.rule)
        assert path in DOCUMENT["paths"], rule.rule
        methods = {m.lower() for m in rule.methods or ()} - {"head", "options"}
        assert methods <= set(DOCUMENT["paths"][path]), (rule.rule, methods)
    # and every documented path is served: a ROUTES entry or a rule of its own
    rules = {_document_path(r.rule) for r in fake.app.url_map.iter_rules()}
    for path in DOCUMENT["paths"]:
        assert path in rules or path.removeprefix("/v1/") in ROUTES, path
    assert DOCUMENT["paths"][f"/v1/{RUN_PATH}"]["post"]["operationId"] == "run"


def test_the_fake_serves_it(fake: MockWiroServer) -> None:
    response = requests.get(fake.url + OPENAPI_PATH, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    served = response.json()
    assert served["servers"] == [{"url": fake.url, "description": "this fake"}]
    assert served == build_openapi(fake.settings, fake.url)
    assert list(served["paths"]) == list(DOCUMENT["paths"])  # the order it was written in


def test_it_follows_the_settings() -> None:
    run = "/v1/" + RUN_PATH
    strict = build_openapi(Settings(unknown_fields="reject"))
    body = strict["paths"][run]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False and "inputImage" in body["properties"]
    loose = build_openapi(Settings(unknown_fields="ignore", accept_image_aliases=False))
    body = loose["paths"][run]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "additionalProperties" not in body and "inputImage" not in body["properties"]
    small = build_openapi(Settings(upload_max_bytes=1234))
    upload = small["paths"]["/v1/File/Upload"]["post"]["requestBody"]["content"]
    assert (
        "1234 bytes" in upload["multipart/form-data"]["schema"]["properties"]["file"]["description"]
    )
    assert "servers" not in build_openapi()
    assert build_openapi(server_url="http://x:1/")["servers"][0]["url"] == "http://x:1"


def test_build_returns_an_independent_copy() -> None:
    one = build_openapi()
    one["components"]["schemas"]["Task"]["properties"]["id"]["pattern"] = "changed"
    assert build_openapi()["components"]["schemas"]["Task"]["properties"]["id"]["pattern"] != (
        "changed"
    )


# ----------------------------------------------------------------- the seed's examples
@pytest.mark.parametrize(
    ("name", "path", "schema"),
    [
        ("run_response", "/v1/" + RUN_PATH, "RunResponse"),
        ("task_detail_response", "/v1/Task/Detail", "TaskDetailResponse"),
        ("task_cancel_response", "/v1/Task/Cancel", "TaskActionResponse"),
        ("task_kill_response", "/v1/Task/Kill", "TaskActionResponse"),
    ],
)
def test_the_seeds_examples_validate(name: str, path: str, schema: str) -> None:
    example = seed_response(name)
    assert_valid(component(schema), example)
    assert_valid(response_schema(path, "post", "200"), example)


def test_the_schemas_are_not_vacuous() -> None:
    detail = component("TaskDetailResponse")
    good = seed_response("task_detail_response")
    for change in (
        lambda t: t.update(id=634574),  # a number, not the API's string
        lambda t: t.update(status="task_error"),  # a socket frame, never a status
        lambda t: t.update(createtime="yesterday"),
        lambda t: t.pop("pexit"),
        lambda t: t.update(surprise="field"),
        lambda t: t["outputs"][0].update(size=202472),
        lambda t: t["outputs"][0].update(url="not a url"),
    ):
        bad = seed_response("task_detail_response")
        change(bad["tasklist"][0])
        assert not detail.is_valid(bad), bad["tasklist"][0]
    assert detail.is_valid(good)
    assert not component("RunResponse").is_valid({**seed_response("run_response"), "errors": [1]})
    assert not component("ErrorEnvelope").is_valid({"result": False, "errors": []})
    assert "task_error" not in TASK_STATUSES and "task_cancel" in TASK_STATUSES


# ----------------------------------------------------------------- the fake's own answers
RUN = "/v1/" + RUN_PATH


def post_ok(wiro: Wiro, path: str, schema: str, **kwargs: Any) -> dict[str, Any]:
    """POST, check the body against the path's documented 200 and the success schema."""
    response = wiro.post(path, **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert_valid(response_schema("/v1/" + path, "post", "200"), body)
    assert_valid(component(schema), body)
    return body


def test_the_fakes_answers_validate_at_every_stage(wiro: Wiro) -> None:
    server = wiro.server
    server.add_scenario(prompt_contains="[[fail]]", fail_at="task_start")
    done = wiro.run()["taskid"]
    failed = wiro.run(prompt="[[fail]]")["taskid"]
    bad = wiro.run(image="too_small_short_side.jpg")["taskid"]
    by_url = post_ok(
        wiro,
        RUN_PATH,
        "RunResponse",
        json={"inputImageFirstUrl": "https://example.com/a.jpg", "duration": 10},
    )["taskid"]
    for _ in range(12):  # every stage on the way
        for taskid in (done, failed, bad, by_url):
            post_ok(wiro, "Task/Detail", "TaskDetailResponse", json={"taskid": taskid})
        server.advance(6)
    final = post_ok(wiro, "Task/Detail", "TaskDetailResponse", json={"taskid": done})
    assert final["tasklist"][0]["outputs"]
    queued = wiro.run()["taskid"]
    post_ok(wiro, "Task/Cancel", "TaskActionResponse", json={"taskid": queued})
    running = wiro.run()["taskid"]
    server.advance(8)
    post_ok(wiro, "Task/Kill", "TaskActionResponse", data={"taskid": running})
    listed = post_ok(wiro, "Task/List", "TaskListResponse", json={"limit": 100})
    assert int(listed["total"]) == len(listed["tasklist"]) == 6
    post_ok(wiro, "Task/InputOutputDelete", "DoneResponse", json={"taskid": done})
    post_ok(wiro, "Task/Detail", "TaskDetailResponse", json={"taskid": done})
    folder = post_ok(wiro, "File/FolderCreate", "FolderCreateResponse", json={"name": "f"})
    post_ok(
        wiro,
        "File/Upload",
        "UploadResponse",
        data={"folderid": folder["list"][0]["id"]},
        files={"file": ("a.txt", b"hello")},
    )
    post_ok(wiro, "Tool/Detail", "ToolDetailResponse", json={})


@pytest.mark.parametrize(
    ("path", "kwargs", "code"),
    [
        (RUN_PATH, {"json": {}}, 0),
        (RUN_PATH, {"json": {"inputImageFirstUrl": "x", "resolution": "720P"}}, 0),
        ("Task/Detail", {"json": {}}, 0),
        ("Task/Detail", {"json": {"taskid": "1"}}, 1),
        ("Task/Cancel", {"json": {"taskid": "1"}}, 1),
        ("Task/Kill", {"data": {"taskid": "1"}}, 1),
        ("Task/List", {"json": {"limit": "0"}}, 0),
        ("Task/InputOutputDelete", {"json": {}}, 0),
        ("File/FolderCreate", {"json": {"name": "x", "parentid": "nope"}}, 1),
        ("File/Upload", {"json": {}}, 0),
        ("Tool/Detail", {"json": {"slugowner": "other"}}, 1),
        ("Task/Detail", {"data": b"{", "headers": {"Content-Type": "application/json"}}, 0),
        ("Task/Detail", {"data": b"x", "headers": {"Content-Type": "text/plain"}}, 0),
    ],
)
def test_every_error_envelope_validates(
    wiro: Wiro, path: str, kwargs: dict[str, Any], code: int
) -> None:
    response = wiro.post(path, **kwargs)
    assert response.status_code == 200
    body = response.json()
    assert body["result"] is False and body["errors"][0]["code"] == code
    assert_valid(response_schema("/v1/" + path, "post", "200"), body)


def test_codes_96_and_97_validate(wiro: Wiro) -> None:
    check = response_schema(RUN, "post", "200")
    wiro.server.set_balance(wiro.project, "10")  # one task at a time
    wiro.run()
    body = wiro.post(RUN_PATH, json={"inputImageFirstUrl": "https://e.com/a.jpg"}).json()
    assert body["errors"][0]["code"] == 96
    assert_valid(check, body)
    wiro.server.set_balance(wiro.project, "0.1")
    body = wiro.post(RUN_PATH, json={"inputImageFirstUrl": "https://e.com/a.jpg"}).json()
    assert body["errors"][0]["code"] == 97
    assert_valid(check, body)


def test_401_404_413_and_426_validate(wiro: Wiro) -> None:
    base = wiro.server.url
    unauthorized = response_schema("/v1/Task/Detail", "post", "401")
    for headers in (
        {},
        {"x-api-key": wiro.project.api_key},
        {"x-api-key": wiro.project.api_key, "x-nonce": "1", "x-signature": "0" * 64},
    ):
        response = requests.post(base + "/v1/Task/Detail", headers=headers, timeout=30)
        assert response.status_code == 401
        assert_valid(unauthorized, response.json())
    too_large = wiro.post(
        "Task/Detail",
        data=b"{" + b" " * (1 << 20) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert too_large.status_code == 413
    assert_valid(response_schema("/v1/Task/Detail", "post", "413"), too_large.json())
    not_found = response_schema("/v1/File/{accesskey}/{name}", "get", "404")
    for url in ("/v1/File/nope/x.png", "/cdn/nope/0.mp4", "/v1/File/a%2Fb/c", "/v1/Nope"):
        response = requests.get(base + url, timeout=30)
        assert response.status_code == 404, url
        assert_valid(not_found, response.json())
    socket = requests.get(base + "/v1", timeout=30)
    assert socket.status_code == 426
    assert_valid(response_schema("/v1", "get", "426"), socket.json())


def test_a_files_range_answers_are_documented(wiro: Wiro) -> None:
    """A fuzz finding: an unsatisfiable Range on a public file was answered 200 with an
    error envelope (a resuming downloader would take the envelope for the file); it is a
    416 with ``Content-Range: bytes */<length>``."""
    item = wiro.ok("File/Upload", files={"file": ("a.png", b"x" * 100)})["list"][0]
    partial = requests.get(item["url"], headers={"Range": "bytes=0-9"}, timeout=30)
    assert partial.status_code == 206 and partial.content == b"x" * 10
    assert "206" in DOCUMENT["paths"]["/v1/File/{accesskey}/{name}"]["get"]["responses"]
    check = validator(
        DOCUMENT["paths"]["/v1/File/{accesskey}/{name}"]["get"]["responses"]["416"]["content"][
            "application/json"
        ]["schema"]
    )
    for bad in ("bytes=100-", "bytes=500-600", "bytes=abc"):
        response = requests.get(item["url"], headers={"Range": bad}, timeout=30)
        assert response.status_code == 416, (bad, response.status_code, response.text)
        assert response.headers["Content-Range"] == "bytes */100"
        assert_valid(check, response.json())
