"""Files [docs]: File/FolderCreate, File/Upload, and an uploaded file's URL as a Run input."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from mock_wiro_fixtures import image_bytes

from .conftest import IMAGE, Target, poll_until_terminal
from .contract import MODEL_RUN
from .wire import Api

FOLDER_CREATE = "File/FolderCreate"
UPLOAD = "File/Upload"
FOLDER_FIELDS = ("id", "name", "parentid", "size", "contenttype", "addedtime")  # [docs]
UPLOAD_FIELDS = (  # [docs]
    "id",
    "name",
    "contenttype",
    "size",
    "parentid",
    "url",
    "addedtime",
    "accesskey",
)


def only_entry(body: dict[str, Any]) -> dict[str, Any]:
    """The single entry of a files answer's ``list``."""
    entries = body.get("list")
    assert isinstance(entries, list) and len(entries) == 1, body
    entry = entries[0]
    assert isinstance(entry, dict), body
    return entry


def assert_strings(entry: dict[str, Any], fields: tuple[str, ...]) -> None:
    """Every field present, a string (all ids and numbers are strings [seed][docs])."""
    missing = [f for f in fields if f not in entry]
    assert not missing, f"missing {missing} in {entry}"
    wrong = {f: entry[f] for f in fields if not isinstance(entry[f], str)}
    assert not wrong, f"not strings: {wrong}"
    assert entry["id"], entry
    assert entry["addedtime"].isdigit(), f"addedtime {entry['addedtime']!r}: not unix seconds"


def create_folder(api: Api) -> tuple[str, dict[str, Any]]:
    """A new folder with a unique name: (the name sent, its entry)."""
    name = f"contract-{uuid.uuid4().hex[:12]}"
    return name, only_entry(api.ok(FOLDER_CREATE, {"name": name}))


def upload(api: Api, data: bytes, folderid: str | None = None, name: str = IMAGE) -> dict[str, Any]:
    """Upload one fixture image (multipart ``file``); the answer's entry."""
    form = {"folderid": folderid} if folderid is not None else None
    files = {"file": (name, data, "image/jpeg")}
    return only_entry(api.ok(UPLOAD, data=form, files=files))


@pytest.mark.rule("files.folder_create", "errors.strings")
def test_folder_create(api: Api) -> None:
    name, folder = create_folder(api)
    assert_strings(folder, FOLDER_FIELDS)
    assert folder["name"] == name
    assert folder["size"] == "0"
    assert folder["contenttype"] == ""


@pytest.mark.rule("files.folder_create")
def test_folder_create_in_a_folder(api: Api) -> None:
    """``{name, parentid}`` [docs]: the new folder names the folder it was made in as its
    ``parentid`` (a folder made without one has another parent: the project's root)."""
    _, parent = create_folder(api)
    name = f"contract-{uuid.uuid4().hex[:12]}"
    child = only_entry(api.ok(FOLDER_CREATE, {"name": name, "parentid": parent["id"]}))
    assert child["name"] == name and child["parentid"] == parent["id"], (parent, child)
    assert parent["parentid"] != parent["id"], parent


@pytest.mark.rule("files.folder_create", "errors.envelope")
def test_folder_create_without_a_name_is_refused(api: Api) -> None:
    response = api.post(FOLDER_CREATE, {})
    assert response.status_code == 200, (response.status_code, response.text[:300])
    body = response.json()
    assert body["result"] is False, body
    assert isinstance(body["errors"], list) and len(body["errors"]) == 1, body
    error = body["errors"][0]
    assert error["code"] == 0, body
    assert "name" in str(error.get("message", "")), body
    assert "list" not in body or not body["list"], body


@pytest.mark.parametrize("in_folder", [False, True], ids=["root", "folder"])
@pytest.mark.rule("files.upload", "errors.strings")
def test_upload(api: Api, in_folder: bool) -> None:
    data = image_bytes(IMAGE)
    folderid = create_folder(api)[1]["id"] if in_folder else None
    entry = upload(api, data, folderid)
    assert_strings(entry, UPLOAD_FIELDS)
    assert entry["size"] == str(len(data))
    assert entry["name"], entry
    assert entry["accesskey"], entry
    assert entry["url"].startswith(("http://", "https://")), entry
    if folderid is not None:
        assert entry["parentid"] == folderid, entry


@pytest.mark.rule("files.url")
def test_uploaded_url_serves_the_same_bytes(api: Api) -> None:
    data = image_bytes(IMAGE)
    entry = upload(api, data)
    response = requests.get(entry["url"], timeout=60)  # public: no auth headers
    assert response.status_code == 200, (entry["url"], response.status_code)
    assert len(response.content) == len(data)
    assert response.content == data


@pytest.mark.rule("files.url")
def test_a_compressed_looking_name_serves_the_bytes_as_uploaded(api: Api) -> None:
    """A file whose name ends like a compressed one (``frame.jpg.gz``) is still served as
    the bytes uploaded: no ``Content-Encoding`` that would make a client unpack them."""
    data = image_bytes(IMAGE)
    entry = upload(api, data, name="frame.jpg.gz")
    response = requests.get(entry["url"], timeout=60, stream=True)
    raw = response.raw.read(decode_content=False)
    assert response.status_code == 200, (entry["url"], response.status_code)
    assert "Content-Encoding" not in response.headers, dict(response.headers)
    assert raw == data, (len(raw), len(data))


@pytest.mark.spends(1)
@pytest.mark.rule("run.image_url", "lifecycle.success")
def test_uploaded_url_runs(api: Api, target: Target) -> None:
    """The returned ``url`` can be passed as ``inputImageFirstUrl`` [docs]."""
    entry = upload(api, image_bytes(IMAGE))
    body = {
        "inputImageFirst": "",
        "inputImageFirstUrl": entry["url"],
        "prompt": "the sea moves slowly",
        "promptOptimizer": "true",
        "resolution": "768P",
        "duration": "6",
    }
    run = api.ok(MODEL_RUN, body)
    final = poll_until_terminal(api, str(run["taskid"]), target)[-1]
    assert final["status"] == "task_postprocess_end", final["status"]
    assert final["pexit"] == "0", (final["pexit"], final["debugerror"])
    assert final["outputs"], final
