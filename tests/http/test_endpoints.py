"""Every ``/v1`` endpoint and every documented message, over real HTTP on loopback.

The task lifecycle itself (stage order, progress frames, cancel/kill states) is
``test_lifecycle.py``'s; here each endpoint's inputs, outputs and messages are
checked against the contract (``docs/wiro-api.md``) and the seed's shapes.
Time moves only with ``backend.advance`` (manual clock); nothing sleeps.
"""

from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal
from typing import Any

import pytest
import requests

from mock_wiro.engine.params import RUN_FIELDS
from mock_wiro.settings import PRICE_TABLE_USD, PROMPT_MAX_CHARS
from mock_wiro_fixtures import image_bytes, seed_response
from tests.helpers.wiro import Wiro, make_server

RUN = "Run/minimax/hailuo-2-3-fast"
# the seed's own sample input: external, so never fetched (placeholder policy) [A]
EXTERNAL = "https://cdn.wiro.ai/uploads/sampleinputs/minimax-haulio-2-3-fast-input-3.jpg"
URL_ERROR = {"result": False, "errors": [{"code": 0, "message": "Error parsing url."}]}
FINISH = 300  # fake seconds: more than any plan of this model takes
ZERO = "0"  # [contract] a failed task's totalcost

# Keys whose values are not strings on the wire [seed][docs]; everything else is.
NON_STRING_TYPES: dict[str, type] = {"result": bool, "code": int, "ispublic": int}
NULLABLE = frozenset({"guestid", "marketplaceid", "expiretime"})


def assert_wire_strings(obj: object, where: str = "$") -> None:
    """Every scalar in a response is a string, except the seed's bool/int/null fields."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            path = f"{where}.{key}"
            if isinstance(value, dict | list):
                assert_wire_strings(value, path)
            elif key in NON_STRING_TYPES:
                assert type(value) is NON_STRING_TYPES[key], (path, value)
            elif key in NULLABLE:
                assert value is None, (path, value)
            else:
                assert isinstance(value, str), (path, value)
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            path = f"{where}[{index}]"
            if isinstance(value, dict | list):
                assert_wire_strings(value, path)
            else:
                assert isinstance(value, str), (path, value)


def run_url(wiro: Wiro, url: str = EXTERNAL, **fields: Any) -> dict[str, Any]:
    """Run with the image as a URL, JSON body (the other documented form)."""
    return wiro.ok(RUN, json={"inputImageFirstUrl": url, "prompt": "a test", **fields})


def finish(wiro: Wiro) -> None:
    wiro.server.backend.advance(FINISH)


def finished(wiro: Wiro, taskid: str) -> dict[str, Any]:
    finish(wiro)
    task = wiro.detail(taskid)
    assert task["status"] == "task_postprocess_end", task
    return task


def assert_succeeded(task: dict[str, Any]) -> None:
    assert task["pexit"] == "0" and task["debugerror"] == "", task
    assert len(task["outputs"]) == 1 and task["outputs"][0]["contenttype"] == "video/mp4"


def assert_failed(task: dict[str, Any], *fragments: str) -> None:
    assert task["pexit"] != "0" and task["outputs"] == [] and task["totalcost"] == ZERO, task
    for fragment in fragments:
        assert fragment in task["debugerror"], (fragment, task["debugerror"])


def task_total(wiro: Wiro) -> int:
    return int(wiro.ok("Task/List", json={})["total"])


def upload(wiro: Wiro, name: str, data: bytes, **fields: str) -> dict[str, Any]:
    body = wiro.ok("File/Upload", files={"file": (name, data)}, data=fields)
    assert len(body["list"]) == 1, body
    item: dict[str, Any] = body["list"][0]
    return item


# ================================================================== Run: image forms
def test_run_multipart_file_succeeds_with_the_seeds_response_shape(wiro: Wiro) -> None:
    body = wiro.run()  # multipart, inputImageFirst as a file, inputImageFirstUrl empty [seed]
    assert set(body) == set(seed_response("run_response"))
    assert isinstance(body["taskid"], str) and body["taskid"].isdigit()
    assert isinstance(body["socketaccesstoken"], str) and len(body["socketaccesstoken"]) == 30
    assert_wire_strings(body)
    task = finished(wiro, body["taskid"])
    assert_succeeded(task)
    assert task["parameters"]["inputImageFirst"].startswith(wiro.server.url + "/v1/File/")
    assert task["parameters"]["inputImageFirstUrl"] == ""


def test_run_json_url_in_inputImageFirstUrl(wiro: Wiro) -> None:
    body = run_url(wiro)
    assert set(body) == set(seed_response("run_response"))
    assert_wire_strings(body)
    task = finished(wiro, body["taskid"])
    assert_succeeded(task)  # external URL, default placeholder policy [A]
    assert task["parameters"]["inputImageFirstUrl"] == EXTERNAL


@pytest.mark.parametrize("form", ["json", "multipart"])
def test_run_url_given_directly_in_inputImageFirst(wiro: Wiro, form: str) -> None:
    if form == "json":
        body = wiro.ok(RUN, json={"inputImageFirst": EXTERNAL})
    else:  # the seed's "Option 2" with the URL moved into inputImageFirst [docs]
        data = {"inputImageFirst": EXTERNAL, "inputImageFirstUrl": ""}
        body = wiro.ok(RUN, files={k: (None, v) for k, v in data.items()})
    task = finished(wiro, body["taskid"])
    assert_succeeded(task)
    assert EXTERNAL in task["parameters"].values()


def test_run_with_the_same_url_in_both_fields_is_one_url(wiro: Wiro) -> None:
    body = wiro.ok(RUN, json={"inputImageFirst": EXTERNAL, "inputImageFirstUrl": EXTERNAL})
    assert_succeeded(finished(wiro, body["taskid"]))


def test_run_with_the_url_of_an_upload_of_the_fake(wiro: Wiro) -> None:
    item = upload(wiro, "portrait.png", image_bytes("portrait_9x16.png"))
    assert requests.get(item["url"], timeout=10).content == image_bytes("portrait_9x16.png")
    task = finished(wiro, run_url(wiro, item["url"])["taskid"])
    assert_succeeded(task)
    assert task["parameters"]["inputImageFirstUrl"] == item["url"]


@pytest.mark.parametrize(
    "path", ["/v1/File/NoSuchAccessKey000000000000000/x.png", "/nothing/here.png", "/"]
)
def test_run_with_a_url_of_the_fake_naming_no_file_fails_the_task(wiro: Wiro, path: str) -> None:
    url = wiro.server.url + path
    task = finished(wiro, run_url(wiro, url)["taskid"])  # Run accepts [A]
    assert_failed(task, "Could not download input image", "404")


def test_run_with_the_url_of_an_upload_under_another_name_fails(wiro: Wiro) -> None:
    item = upload(wiro, "photo.jpg", image_bytes("landscape_16x9.jpg"))
    wrong = item["url"].rsplit("/", 1)[0] + "/other.jpg"
    assert requests.get(wrong, timeout=10).status_code == 404
    assert_failed(finished(wiro, run_url(wiro, wrong)["taskid"]), "Could not download")


def test_external_url_fails_the_task_under_the_fail_policy() -> None:
    with make_server(clock_mode="manual", external_url_policy="fail") as srv:
        wiro = Wiro(srv, srv.backend.create_project())
        with wiro.session:
            taskid = run_url(wiro)["taskid"]
            task = finished(wiro, taskid)
            assert_failed(task, "Could not download input image", EXTERNAL)
            # the fake's own files still resolve under that policy
            item = upload(wiro, "photo.jpg", image_bytes("landscape_16x9.jpg"))
            assert_succeeded(finished(wiro, run_url(wiro, item["url"])["taskid"]))


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/a.jpg", "/etc/passwd", "not a url"]
)
def test_non_http_url_fails_the_task_without_reading_it(wiro: Wiro, url: str) -> None:
    taskid = run_url(wiro, url)["taskid"]
    backend = wiro.server.backend
    ref = backend.task_by_id(taskid)
    assert ref is not None and ref.image.kind == "missing" and ref.image.file is None
    task = finished(wiro, taskid)
    assert_failed(task, "Could not download input image", "unsupported URL scheme")
    assert "root:" not in task["debugerror"] + task["debugoutput"]
    assert ref.image_info is None  # nothing was ever opened as an image


def test_image_field_aliases_are_accepted_by_default(wiro: Wiro) -> None:
    files = {"inputImage": ("square.webp", image_bytes("square.webp"))}
    by_file = wiro.ok(RUN, files=files, data={"prompt": "alias"})["taskid"]
    by_url = wiro.ok(RUN, json={"inputImageUrl": EXTERNAL})["taskid"]
    finish(wiro)
    file_task, url_task = wiro.detail(by_file), wiro.detail(by_url)
    assert_succeeded(file_task)
    assert_succeeded(url_task)
    assert file_task["parameters"]["inputImageFirst"].startswith(wiro.server.url + "/v1/File/")
    assert url_task["parameters"]["inputImageFirstUrl"] == EXTERNAL


# ================================================================== Run: validation
RUN_ERRORS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    # (id, JSON fields besides the image URL, fragments of the message)
    ("resolution-720P", {"resolution": "720P"}, ("[resolution]", "720P", "768P", "1080P")),
    ("resolution-lower", {"resolution": "768p"}, ("[resolution]",)),
    ("duration-7", {"duration": "7"}, ("[duration]", "7")),
    ("duration-5", {"duration": 5}, ("[duration]",)),
    ("prompt-2001", {"prompt": "x" * (PROMPT_MAX_CHARS + 1)}, ("[prompt]", "2000")),
    ("optimizer-maybe", {"promptOptimizer": "maybe"}, ("[promptOptimizer]", "maybe")),
]


@pytest.mark.parametrize(
    ("fields", "fragments"), [c[1:] for c in RUN_ERRORS], ids=[c[0] for c in RUN_ERRORS]
)
def test_run_validation_errors(wiro: Wiro, fields: dict[str, Any], fragments: tuple[str]) -> None:
    message = wiro.error(RUN, 0, json={"inputImageFirstUrl": EXTERNAL, **fields})
    assert message.startswith("Request parameter"), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    # the same check in the seed's multipart form
    data = {"inputImageFirstUrl": EXTERNAL, **{k: str(v) for k, v in fields.items()}}
    assert wiro.error(RUN, 0, files={k: (None, v) for k, v in data.items()}) == message
    assert task_total(wiro) == 0  # a refused Run makes no task


@pytest.mark.parametrize("value", ["abc", "6s", "", " "])
def test_duration_not_a_number(wiro: Wiro, value: str) -> None:
    if value == "":  # empty means the default
        run_url(wiro, duration=value)
        return
    message = wiro.error(RUN, 0, json={"inputImageFirstUrl": EXTERNAL, "duration": value})
    assert message == "Request parameter [duration] must be integer or float"


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"json": {}},
        {"json": {"prompt": "no image"}},
        {"json": {"inputImageFirst": "", "inputImageFirstUrl": ""}},
        {"files": {"inputImageFirst": (None, ""), "inputImageFirstUrl": (None, "")}},
        {"data": {"prompt": "form, no image"}},
        {"files": {"inputImageFirst": ("", b""), "prompt": (None, "empty file part")}},
    ],
    ids=["json-empty", "json-prompt", "json-both-empty", "multipart-both-empty", "form", "part"],
)
def test_run_without_an_image(wiro: Wiro, request_kwargs: dict[str, Any]) -> None:
    assert wiro.error(RUN, 0, **request_kwargs) == "Request files [inputImageFirst] required"


@pytest.mark.parametrize("form", ["file+url", "two-urls"])
def test_run_with_both_file_and_url(wiro: Wiro, form: str) -> None:
    if form == "file+url":
        files = {"inputImageFirst": ("a.jpg", image_bytes("landscape_16x9.jpg"))}
        message = wiro.error(RUN, 0, files=files, data={"inputImageFirstUrl": EXTERNAL})
    else:
        body = {"inputImageFirst": EXTERNAL, "inputImageFirstUrl": EXTERNAL + "?other"}
        message = wiro.error(RUN, 0, json=body)
    assert "[inputImageFirst]" in message and "[inputImageFirstUrl]" in message, message
    assert task_total(wiro) == 0
    assert not any((wiro.server.backend.data_dir / "files").iterdir())  # nothing kept


def test_prompt_of_exactly_2000_characters_is_accepted(wiro: Wiro) -> None:
    prompt = "é" * PROMPT_MAX_CHARS  # characters, not bytes
    taskid = run_url(wiro, prompt=prompt)["taskid"]
    assert wiro.detail(taskid)["parameters"]["prompt"] == prompt


def test_defaults_are_visible_in_task_detail(wiro: Wiro) -> None:
    files = {"inputImageFirst": ("a.jpg", image_bytes("landscape_16x9.jpg"))}
    taskid = wiro.ok(RUN, files=files)["taskid"]
    parameters = wiro.detail(taskid)["parameters"]
    assert parameters["resolution"] == "768P"
    assert parameters["duration"] == "6"
    assert parameters["promptOptimizer"] == "true"
    assert parameters["prompt"] == ""
    assert_wire_strings(parameters)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"duration": 6, "promptOptimizer": False}, {"duration": "6", "promptOptimizer": "false"}),
        ({"duration": 10, "promptOptimizer": True}, {"duration": "10", "promptOptimizer": "true"}),
        ({"duration": 6.0, "resolution": "1080P"}, {"duration": "6", "resolution": "1080P"}),
        ({"duration": "10", "promptOptimizer": "false"}, {"duration": "10"}),
    ],
)
def test_json_numbers_and_booleans_are_accepted(
    wiro: Wiro, fields: dict[str, Any], expected: dict[str, str]
) -> None:
    taskid = run_url(wiro, **fields)["taskid"]
    parameters = wiro.detail(taskid)["parameters"]
    assert_wire_strings(parameters)
    for key, value in expected.items():
        assert parameters[key] == value, (key, parameters)


HD_LONG_REFUSED = (
    "Request parameter [duration] must be 6 when [resolution] is 1080P; "
    "10-second videos are 768P only"
)


@pytest.mark.parametrize("duration", ["10", 10, 10.0])
def test_1080p_with_10s_is_refused_under_reject(duration: object) -> None:
    """``hd_long_duration="reject"``: today's message, in every body form (issue 17
    finding 5: the default changed to "fallback", so this asks for "reject")."""
    with make_server(clock_mode="manual", hd_long_duration="reject") as srv:
        wiro = Wiro(srv, srv.backend.create_project())
        fields = {"inputImageFirstUrl": EXTERNAL, "resolution": "1080P", "duration": duration}
        assert wiro.error(RUN, 0, json=fields) == HD_LONG_REFUSED
        parts = {k: (None, str(v)) for k, v in fields.items()}
        assert wiro.error(RUN, 0, files=parts) == HD_LONG_REFUSED
        assert task_total(wiro) == 0


def test_1080p_with_10s_falls_back_to_6s_by_default(wiro: Wiro) -> None:
    """``hd_long_duration="fallback"`` (default): a 6 s 1080P task, priced and shown so."""
    taskid = run_url(wiro, resolution="1080P", duration="10")["taskid"]
    task = finished(wiro, taskid)
    assert_succeeded(task)
    assert task["parameters"]["resolution"] == "1080P"
    assert task["parameters"]["duration"] == "6"
    assert Decimal(task["totalcost"]) == PRICE_TABLE_USD[("1080P", "6")]
    assert wiro.server.task(taskid).params.duration == "6"


def test_1080p_and_10s_at_768p_are_accepted(wiro: Wiro) -> None:
    a = run_url(wiro, resolution="1080P", duration="6")["taskid"]
    b = run_url(wiro, resolution="768P", duration="10")["taskid"]
    finish(wiro)
    assert_succeeded(wiro.detail(a))
    assert_succeeded(wiro.detail(b))


# ================================================================== Task/Detail
def test_detail_by_taskid_tasktoken_and_socketaccesstoken(wiro: Wiro) -> None:
    run = wiro.run()
    by_id = wiro.ok("Task/Detail", json={"taskid": run["taskid"]})
    by_token = wiro.ok("Task/Detail", json={"tasktoken": run["socketaccesstoken"]})
    by_socket = wiro.ok("Task/Detail", json={"socketaccesstoken": run["socketaccesstoken"]})
    by_form = wiro.ok("Task/Detail", data={"taskid": run["taskid"]})
    assert by_id == by_token == by_socket == by_form
    task = by_id["tasklist"][0]
    assert task["id"] == run["taskid"] and task["socketaccesstoken"] == run["socketaccesstoken"]


@pytest.mark.parametrize(
    "body", [{}, {"taskid": ""}, {"tasktoken": ""}, {"taskid": " ", "tasktoken": " "}]
)
def test_detail_without_an_id(wiro: Wiro, body: dict[str, str]) -> None:
    assert wiro.error("Task/Detail", 0, json=body) == "taskid or socketaccesstoken is required"


def test_detail_of_unknown_or_foreign_task(wiro: Wiro) -> None:
    run = wiro.run()
    for body in (
        {"taskid": "999999999"},
        {"taskid": "abc"},
        {"tasktoken": "NoSuchTokenNoSuchTokenNoSuchTo"},
        {"taskid": run["taskid"], "tasktoken": "NoSuchTokenNoSuchTokenNoSuchTo"},
    ):
        assert wiro.error("Task/Detail", 1, json=body) == "There is no task yet.", body
    other = Wiro(wiro.server, wiro.server.backend.create_project())
    for body in ({"taskid": run["taskid"]}, {"tasktoken": run["socketaccesstoken"]}):
        assert other.error("Task/Detail", 1, json=body) == "There is no task yet."


def test_detail_shape_covers_the_seeds(wiro: Wiro) -> None:
    seed = seed_response("task_detail_response")
    seed_task = seed["tasklist"][0]
    taskid = wiro.run()["taskid"]
    queued = wiro.ok("Task/Detail", json={"taskid": taskid})
    finish(wiro)
    done = wiro.ok("Task/Detail", json={"taskid": taskid})
    for body in (queued, done):
        assert set(body) >= set(seed), set(seed) - set(body)
        assert body["total"] == "1" and len(body["tasklist"]) == 1
        task = body["tasklist"][0]
        assert set(task) >= set(seed_task), set(seed_task) - set(task)
        assert isinstance(task["categories"], str)
        categories = json.loads(task["categories"])
        assert isinstance(categories, list) and categories
        assert all(isinstance(c, str) for c in categories)
        assert isinstance(task["parameters"], dict) and isinstance(task["outputs"], list)
        assert_wire_strings(body)
    task = done["tasklist"][0]
    assert set(task["outputs"][0]) >= set(seed_task["outputs"][0])
    assert task["modelslugowner"] == "minimax" and task["modelslugproject"] == "hailuo-2-3-fast"
    for key in ("id", "projectid", "modelid", "size", "createtime", "endtime", "canceltime"):
        assert task[key].isdigit(), (key, task[key])
    for key in ("elapsedseconds", "cps", "totalcost"):
        float(task[key])
    output = task["outputs"][0]
    assert output["size"].isdigit() and output["addedtime"].isdigit()
    assert output["ispublic"] == 0 and output["expiretime"] is None


# ================================================================== Task/List
def test_task_list_order_paging_and_ownership(wiro: Wiro) -> None:
    empty = wiro.ok("Task/List", json={})
    assert empty["total"] == "0" and empty["tasklist"] == []
    ids = [run_url(wiro)["taskid"] for _ in range(3)]
    other = Wiro(wiro.server, wiro.server.backend.create_project())
    foreign = run_url(other)["taskid"]

    newest_first = wiro.ok("Task/List", json={})
    assert newest_first["total"] == "3"
    assert [t["id"] for t in newest_first["tasklist"]] == ids[::-1]
    assert foreign not in [t["id"] for t in newest_first["tasklist"]]
    assert_wire_strings(newest_first)
    assert newest_first["tasklist"][0] == wiro.detail(ids[2])  # shaped like Task/Detail

    page = wiro.ok("Task/List", json={"start": 1, "limit": 1})
    assert page["total"] == "3" and [t["id"] for t in page["tasklist"]] == [ids[1]]
    page = wiro.ok("Task/List", data={"start": "2", "limit": "5"})  # form fields too
    assert [t["id"] for t in page["tasklist"]] == [ids[0]]
    beyond = wiro.ok("Task/List", json={"start": 10})
    assert beyond["total"] == "3" and beyond["tasklist"] == []

    ascending = wiro.ok("Task/List", json={"order": "ASC"})
    assert [t["id"] for t in ascending["tasklist"]] == ids
    lower = wiro.ok("Task/List", json={"order": "asc", "limit": "2"})
    assert [t["id"] for t in lower["tasklist"]] == ids[:2]

    theirs = other.ok("Task/List", json={})
    assert theirs["total"] == "1" and [t["id"] for t in theirs["tasklist"]] == [foreign]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"limit": "abc"}, "Request parameter [limit] must be integer or float"),
        ({"start": "abc"}, "Request parameter [start] must be integer or float"),
        ({"limit": "0"}, "Request parameter [limit] must be between 1 and 1000"),
        ({"start": "-1"}, "Request parameter [start] must be between 0 and 1000000000"),
    ],
)
def test_task_list_bad_paging(wiro: Wiro, body: dict[str, str], message: str) -> None:
    assert wiro.error("Task/List", 0, json=body) == message


def test_task_list_bad_order(wiro: Wiro) -> None:
    message = wiro.error("Task/List", 0, json={"order": "sideways"})
    assert "[order]" in message and "ASC" in message and "DESC" in message


# ================================================================== Task/InputOutputDelete
def test_input_output_delete(wiro: Wiro) -> None:
    run = wiro.run("square.webp")
    token = run["socketaccesstoken"]
    input_url = wiro.detail(run["taskid"])["parameters"]["inputImageFirst"]
    wiro.server.backend.advance(10)
    assert wiro.detail(run["taskid"])["status"] not in ("task_postprocess_end", "task_cancel")
    message = wiro.error("Task/InputOutputDelete", 1, json={"tasktoken": token})
    assert "running" in message
    assert requests.get(input_url, timeout=10).status_code == 200  # refused: nothing deleted

    task = finished(wiro, run["taskid"])
    output_url = task["outputs"][0]["url"]
    assert requests.get(output_url, timeout=30).status_code == 200
    body = wiro.ok("Task/InputOutputDelete", json={"tasktoken": token})
    assert_wire_strings(body)
    assert requests.get(output_url, timeout=10).status_code == 404
    assert requests.get(input_url, timeout=10).status_code == 404
    after = wiro.detail(run["taskid"])  # the task itself stays
    assert after["status"] == "task_postprocess_end" and after["pexit"] == "0"
    assert after["outputs"] == []
    wiro.ok("Task/InputOutputDelete", json={"tasktoken": token})  # idempotent
    wiro.ok("Task/InputOutputDelete", json={"taskid": run["taskid"]})
    assert wiro.detail(run["taskid"])["status"] == "task_postprocess_end"


def test_input_output_delete_keeps_a_separately_uploaded_input(wiro: Wiro) -> None:
    item = upload(wiro, "photo.jpg", image_bytes("landscape_16x9.jpg"))
    run = run_url(wiro, item["url"])
    finished(wiro, run["taskid"])
    wiro.ok("Task/InputOutputDelete", json={"tasktoken": run["socketaccesstoken"]})
    # the upload belongs to File/Upload, not to the task
    assert requests.get(item["url"], timeout=10).content == image_bytes("landscape_16x9.jpg")


def test_input_output_delete_errors(wiro: Wiro) -> None:
    message = wiro.error("Task/InputOutputDelete", 0, json={})
    assert message == "taskid or socketaccesstoken is required"
    unknown = {"tasktoken": "NoSuchTokenNoSuchTokenNoSuchTo"}
    assert wiro.error("Task/InputOutputDelete", 1, json=unknown) == "There is no task yet."
    run = wiro.run()
    finish(wiro)
    other = Wiro(wiro.server, wiro.server.backend.create_project())
    foreign = {"tasktoken": run["socketaccesstoken"]}
    assert other.error("Task/InputOutputDelete", 1, json=foreign) == "There is no task yet."
    assert wiro.detail(run["taskid"])["outputs"] != []  # untouched by the other project


def test_input_output_delete_on_a_cancelled_task(wiro: Wiro) -> None:
    run = wiro.run()
    input_url = wiro.detail(run["taskid"])["parameters"]["inputImageFirst"]
    wiro.ok("Task/Cancel", json={"taskid": run["taskid"]})
    wiro.ok("Task/InputOutputDelete", json={"tasktoken": run["socketaccesstoken"]})
    assert requests.get(input_url, timeout=10).status_code == 404


# ================================================================== File/FolderCreate
def test_folder_create(wiro: Wiro) -> None:
    body = wiro.ok("File/FolderCreate", json={"name": "frames"})
    assert_wire_strings(body)
    folder = body["list"][0]
    assert set(folder) == {"id", "name", "parentid", "size", "contenttype", "addedtime"}
    assert folder["name"] == "frames" and folder["size"] == "0" and folder["contenttype"] == ""
    assert folder["id"] and folder["parentid"] and folder["addedtime"].isdigit()
    child = wiro.ok("File/FolderCreate", data={"name": "sub", "parentid": folder["id"]})
    assert child["list"][0]["parentid"] == folder["id"]
    assert child["list"][0]["id"] != folder["id"]


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"parentid": "x"}])
def test_folder_create_needs_a_name(wiro: Wiro, body: dict[str, str]) -> None:
    assert wiro.error("File/FolderCreate", 0, json=body) == "Request parameter [name] required"


def test_folder_create_with_a_foreign_or_unknown_parent(wiro: Wiro) -> None:
    other = Wiro(wiro.server, wiro.server.backend.create_project())
    theirs = other.ok("File/FolderCreate", json={"name": "theirs"})["list"][0]["id"]
    for parent in (theirs, "0" * 32, "nope"):
        message = wiro.error("File/FolderCreate", 1, json={"name": "x", "parentid": parent})
        assert parent in message
    # and uploading into another project's folder is refused alike
    files = {"file": ("a.txt", b"a")}
    assert theirs in wiro.error("File/Upload", 1, files=files, data={"folderid": theirs})
    assert task_total(other) == 0 and other.ok("File/FolderCreate", json={"name": "still"})


# ================================================================== File/Upload
def test_upload(wiro: Wiro) -> None:
    data = image_bytes("landscape_16x9.jpg")
    body = wiro.ok("File/Upload", files={"file": ("photo.jpg", data)})
    assert_wire_strings(body)
    item = body["list"][0]
    assert set(item) == {
        "id",
        "name",
        "contenttype",
        "size",
        "parentid",
        "url",
        "addedtime",
        "accesskey",
    }
    assert item["name"] == "photo.jpg" and item["contenttype"] == "image/jpeg"
    assert item["size"] == str(len(data)) and item["addedtime"].isdigit()
    assert item["url"].startswith(wiro.server.url) and item["accesskey"] in item["url"]
    response = requests.get(item["url"], timeout=10)
    assert response.status_code == 200 and response.content == data
    assert response.headers["Content-Type"] == "image/jpeg"


def test_upload_honours_folderid(wiro: Wiro) -> None:
    folder = wiro.ok("File/FolderCreate", json={"name": "inputs"})["list"][0]
    item = upload(wiro, "a.png", image_bytes("edge_5x2.png"), folderid=folder["id"])
    assert item["parentid"] == folder["id"]
    root = upload(wiro, "b.png", image_bytes("edge_5x2.png"))
    assert root["parentid"] == folder["parentid"]  # no folderid: the project's root


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"json": {}},
        {"data": {"folderid": ""}},
        {"files": {"other": ("a.txt", b"a")}},
        {"files": {"file": ("", b"")}},
        {"json": {"file": "https://example.com/a.png"}},
    ],
    ids=["json", "form", "other-field", "empty-part", "url"],
)
def test_upload_without_a_file(wiro: Wiro, request_kwargs: dict[str, Any]) -> None:
    assert wiro.error("File/Upload", 0, **request_kwargs) == "Request files [file] required"


def test_upload_of_an_empty_file(wiro: Wiro) -> None:
    item = upload(wiro, "empty.txt", b"")
    assert item["size"] == "0" and item["contenttype"] == "text/plain"
    assert requests.get(item["url"], timeout=10).content == b""


def test_zip_upload_is_extracted(wiro: Wiro) -> None:
    members = {
        "a.jpg": image_bytes("landscape_16x9.jpg"),
        "dir/b.png": image_bytes("portrait_9x16.png"),
        "notes.txt": b"hello",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("dir/", b"")  # a directory entry: not a file
        for name, data in members.items():
            zf.writestr(name, data)
    folder = wiro.ok("File/FolderCreate", json={"name": "batch"})["list"][0]["id"]
    body = wiro.ok(
        "File/Upload", files={"file": ("batch.zip", buffer.getvalue())}, data={"folderid": folder}
    )
    assert_wire_strings(body)
    items = body["list"]
    assert [i["name"] for i in items] == ["a.jpg", "b.png", "notes.txt"]
    for item, data in zip(items, members.values(), strict=True):
        assert item["size"] == str(len(data)) and item["parentid"] == folder
        assert requests.get(item["url"], timeout=10).content == data
    assert len({i["accesskey"] for i in items}) == 3
    # an extracted image is usable as a Run input
    assert_succeeded(finished(wiro, run_url(wiro, items[1]["url"])["taskid"]))


def test_a_non_zip_named_zip_is_kept_as_is(wiro: Wiro) -> None:
    item = upload(wiro, "fake.zip", b"not a zip at all")
    assert item["name"] == "fake.zip" and item["size"] == "16"


# ================================================================== Tool/Detail
def test_tool_detail(wiro: Wiro) -> None:
    body = wiro.ok("Tool/Detail", json={})
    assert len(body["tool"]) == 1
    tool = body["tool"][0]
    # issue 17 finding 3: slugowner/slugproject are the display slugs, clean ones apart
    assert tool["slugowner"] == "MiniMax" and tool["slugproject"] == "hailuo-2.3-Fast"
    assert tool["cleanslugowner"] == "minimax" and tool["cleanslugproject"] == "hailuo-2-3-fast"
    assert isinstance(tool["id"], str)
    items = [item for group in tool["parameters"] for item in group["items"]]
    ids = {item["id"] for item in items}
    # every Run field has a parameter; the URL companion of the combined file input is
    # named by that input (inputImageFirst takes a file or, as inputImageFirstUrl, a URL)
    assert set(RUN_FIELDS) - {"inputImageFirstUrl"} <= ids, set(RUN_FIELDS) - ids
    image = next(item for item in items if item["id"] == "inputImageFirst")
    assert "inputImageFirstUrl" in json.dumps(image)
    options = {item["id"]: [o["value"] for o in item.get("options", [])] for item in items}
    assert options["resolution"] == ["768P", "1080P"] and options["duration"] == ["6", "10"]
    named = wiro.ok("Tool/Detail", json={"slugowner": "minimax", "slugproject": "hailuo-2-3-fast"})
    assert named == body
    shown = wiro.ok("Tool/Detail", json={"slugowner": "MiniMax", "slugproject": "hailuo-2.3-Fast"})
    assert shown == body


@pytest.mark.parametrize(
    "body",
    [
        {"slugowner": "minimax", "slugproject": "hailuo-02"},
        {"slugowner": "openai", "slugproject": "hailuo-2-3-fast"},
        {"slugproject": "sora"},
    ],
)
def test_tool_detail_of_another_model(wiro: Wiro, body: dict[str, str]) -> None:
    message = wiro.error("Tool/Detail", 1, json=body)
    assert "minimax/hailuo-2-3-fast" in message


# ================================================================== unknown URLs
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/Nope"),
        ("POST", "/v1/Task/Nope"),
        ("POST", "/v1/Run/minimax/hailuo-02"),
        ("POST", "/v1/task/detail"),
        ("POST", "/v1/"),
        ("POST", "/v2/Task/Detail"),
        ("GET", "/v1/Task/Detail"),
        ("GET", "/v1/Run/minimax/hailuo-2-3-fast"),
        ("PUT", "/v1/Task/Detail"),
        ("DELETE", "/v1/Task/List"),
        ("GET", "/v1/Nope"),
    ],
)
def test_unknown_url_answers_error_parsing_url(wiro: Wiro, method: str, path: str) -> None:
    signed = wiro.session.request(
        method, wiro.server.url + path, headers=wiro.headers(), json={}, timeout=10
    )
    assert signed.status_code == 404 and signed.json() == URL_ERROR
    anonymous = requests.request(method, wiro.server.url + path, timeout=10)
    assert anonymous.status_code == 404 and anonymous.json() == URL_ERROR


# ================================================================== concurrency, balance
def limit_message(balance: str, limit: int) -> str:
    return (
        "You have reached your concurrent task limit. With your current balance of "
        f"${balance}, you can run up to {limit} tasks at the same time. "
        "Add funds to increase your limit."
    )


def test_concurrency_limit_at_balance_25(wiro: Wiro) -> None:
    backend = wiro.server.backend
    backend.set_balance(wiro.project, "25")
    first, second = wiro.run()["taskid"], run_url(wiro)["taskid"]
    files_before = sorted((backend.data_dir / "files").iterdir())
    assert wiro.error(RUN, 96, json={"inputImageFirstUrl": EXTERNAL}) == limit_message("25.00", 2)
    files = {"inputImageFirst": ("a.jpg", image_bytes("landscape_16x9.jpg"))}
    assert wiro.error(RUN, 96, files=files) == limit_message("25.00", 2)
    assert sorted((backend.data_dir / "files").iterdir()) == files_before  # nothing kept
    assert task_total(wiro) == 2

    wiro.ok("Task/Cancel", json={"taskid": first})  # a terminal task frees its slot
    third = run_url(wiro)["taskid"]
    assert wiro.error(RUN, 96, json={"inputImageFirstUrl": EXTERNAL}) == limit_message("25.00", 2)
    finish(wiro)  # both succeed: 25 - 2 * 0.19
    for taskid in (second, third):
        assert_succeeded(wiro.detail(taskid))
    assert wiro.project.balance == Decimal("24.62")
    run_url(wiro)
    run_url(wiro)
    assert wiro.error(RUN, 96, json={"inputImageFirstUrl": EXTERNAL}) == limit_message("24.62", 2)


@pytest.mark.parametrize(
    ("balance", "limit"),
    [
        ("0.50", 1),
        ("5", 1),
        ("9.99", 1),
        ("10", 1),
        ("19.99", 1),
        ("20", 2),
        ("39.99", 3),
        ("100", 10),
        ("250", 25),
    ],
)
def test_concurrency_limit_formula(wiro: Wiro, balance: str, limit: int) -> None:
    wiro.server.backend.set_balance(wiro.project, balance)
    for _ in range(limit):
        run_url(wiro)
    shown = f"{Decimal(balance):.2f}"
    message = wiro.error(RUN, 96, json={"inputImageFirstUrl": EXTERNAL})
    assert message == limit_message(shown, limit)


@pytest.mark.parametrize("balance", ["250.01", "251", "10000"])
def test_no_concurrency_limit_above_250(wiro: Wiro, balance: str) -> None:
    wiro.server.backend.set_balance(wiro.project, balance)
    for _ in range(30):
        run_url(wiro)
    assert task_total(wiro) == 30


@pytest.mark.parametrize("balance", ["0.49", "0", "-5"])
def test_insufficient_balance(wiro: Wiro, balance: str) -> None:
    wiro.server.backend.set_balance(wiro.project, balance)
    assert wiro.error(RUN, 97, json={"inputImageFirstUrl": EXTERNAL}) == "Insufficient balance"
    files = {"inputImageFirst": ("a.jpg", image_bytes("landscape_16x9.jpg"))}
    assert wiro.error(RUN, 97, files=files) == "Insufficient balance"
    assert task_total(wiro) == 0
    # other endpoints still work at any balance
    wiro.ok("Task/List", json={})
    wiro.ok("Tool/Detail", json={})
    upload(wiro, "a.txt", b"a")


def test_only_successful_tasks_are_billed(wiro: Wiro) -> None:
    backend = wiro.server.backend
    start = wiro.project.balance
    succeeded = run_url(wiro, duration="10")["taskid"]
    failed = wiro.run("too_small_short_side.jpg")["taskid"]
    missing = run_url(wiro, wiro.server.url + "/v1/File/x/y.png")["taskid"]
    cancelled = wiro.run()["taskid"]
    killed = wiro.run()["taskid"]
    wiro.ok("Task/Cancel", json={"taskid": cancelled})
    backend.advance(10)
    wiro.ok("Task/Kill", json={"taskid": killed})
    assert wiro.project.balance == start  # nothing billed before success
    finish(wiro)
    price = PRICE_TABLE_USD[("768P", "10")]
    assert wiro.project.balance == start - price
    ok = wiro.detail(succeeded)
    assert_succeeded(ok)
    assert Decimal(ok["totalcost"]) == price
    for taskid in (failed, missing, cancelled, killed):
        task = wiro.detail(taskid)
        assert task["totalcost"] == ZERO and task["outputs"] == [], task


@pytest.mark.parametrize(("resolution", "duration"), sorted(PRICE_TABLE_USD))
def test_price_table(wiro: Wiro, resolution: str, duration: str) -> None:
    start = wiro.project.balance
    task = finished(wiro, run_url(wiro, resolution=resolution, duration=duration)["taskid"])
    assert_succeeded(task)
    price = PRICE_TABLE_USD[(resolution, duration)]
    assert Decimal(task["totalcost"]) == price and wiro.project.balance == start - price


# ================================================================== strings everywhere
def test_every_response_field_is_a_string(wiro: Wiro) -> None:
    folder = wiro.ok("File/FolderCreate", json={"name": "f"})
    uploaded = wiro.ok(
        "File/Upload",
        files={"file": ("a.jpg", image_bytes("landscape_16x9.jpg"))},
        data={"folderid": folder["list"][0]["id"]},
    )
    run = run_url(wiro, uploaded["list"][0]["url"])
    to_cancel = wiro.run()["taskid"]
    to_kill = wiro.run()["taskid"]
    cancelled = wiro.ok("Task/Cancel", json={"taskid": to_cancel})
    wiro.server.backend.advance(10)
    killed = wiro.ok("Task/Kill", json={"taskid": to_kill})
    finish(wiro)
    detail = wiro.ok("Task/Detail", json={"tasktoken": run["socketaccesstoken"]})
    listed = wiro.ok("Task/List", json={})
    deleted = wiro.ok("Task/InputOutputDelete", json={"tasktoken": run["socketaccesstoken"]})
    for body in (folder, uploaded, run, cancelled, killed, detail, listed, deleted):
        assert_wire_strings(body)
        assert body["result"] is True and body["errors"] == []
    assert len(listed["tasklist"]) == 3 and listed["total"] == "3"
    assert detail["tasklist"][0]["outputs"]  # the check covered an output too
    error = wiro.call("Task/Detail", json={})
    assert_wire_strings(error)
    assert error["errors"][0]["code"] == 0


def test_parameters_echo_the_field_that_carried_the_url(wiro: Wiro) -> None:
    url = "https://cdn.example.com/first.jpg"
    body = wiro.ok("Run/minimax/hailuo-2-3-fast", json={"inputImageFirst": url})
    params = wiro.detail(body["taskid"])["parameters"]
    assert params["inputImageFirst"] == url and params["inputImageFirstUrl"] == ""
    body = wiro.ok("Run/minimax/hailuo-2-3-fast", json={"inputImageFirstUrl": url})
    params = wiro.detail(body["taskid"])["parameters"]
    assert params["inputImageFirst"] == "" and params["inputImageFirstUrl"] == url


def test_an_upload_url_under_the_output_prefix_is_not_resolved(wiro: Wiro) -> None:
    from mock_wiro_fixtures import image_bytes

    files = {"file": ("a.jpg", image_bytes("landscape_16x9.jpg"))}
    url = wiro.ok("File/Upload", files=files)["list"][0]["url"]
    wrong = url.replace("/v1/File/", "/cdn/")
    taskid = wiro.ok("Run/minimax/hailuo-2-3-fast", json={"inputImageFirstUrl": wrong})["taskid"]
    wiro.server.backend.advance(300)
    detail = wiro.detail(taskid)
    assert detail["pexit"] != "0" and "404" in detail["debugerror"]
