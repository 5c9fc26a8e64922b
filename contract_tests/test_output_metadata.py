"""A successful task's output objects, field by field as the seed shows them [seed][docs].

The seed's output: ``{"id", "name": "0.png", "contenttype", "parentid", "uuid": <the task's
uuid>, "size": "202472", ..., "accesskey", ..., "url": "https://cdn1.wiro.ai/<token>/0.png"}``
and the task's ``size`` the same "202472". For this model the output is a video:
``contenttype`` "video/mp4", and the file behind ``url`` is an MP4 of the requested 6 s.
(test_outputs.py downloads each output and walks its boxes; test_detail.py checks every
field's JSON type.) All of it reads the session's one successful task: no extra cost.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from .conftest import Observed, Target
from .test_outputs import VIDEO, download
from .wire import Api, mp4_boxes, mp4_seconds

REQUESTED_SECONDS = 6.0  # run_task's "duration" [seed]
SECONDS_SLACK = (1.0, 1.5)  # what a 6 s video may run: 5.0 .. 7.5 s (as the 1080P test)
IDENTITY = ("id", "name", "contenttype", "size", "uuid", "url", "accesskey")


def outputs_of(task: dict[str, Any]) -> list[dict[str, Any]]:
    """A successful task's outputs: a non-empty list of objects."""
    outputs = task["outputs"]
    assert isinstance(outputs, list) and outputs, f"a successful task has outputs: {outputs}"
    assert all(isinstance(o, dict) for o in outputs), outputs
    return outputs


def field_problems(output: dict[str, Any], task: dict[str, Any], where: str) -> list[str]:
    """What one output object breaks of the seed's fields."""
    problems = []
    if output.get("contenttype") != VIDEO:
        problems.append(f"{where}.contenttype {output.get('contenttype')!r}, expected {VIDEO}")
    name, url = output.get("name"), output.get("url")
    if not (isinstance(name, str) and name.strip() and "/" not in name):
        problems.append(f"{where}.name {name!r}: expected a file name")
    if not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        problems.append(f"{where}.url {url!r}: expected an http(s) URL")
    elif isinstance(name, str) and unquote(urlsplit(url).path.rsplit("/", 1)[-1]) != name:
        problems.append(f"{where}: url {url!r} does not end in its name {name!r} [seed]")
    size = output.get("size")
    if not (isinstance(size, str) and size.isdigit() and int(size) > 0):
        problems.append(f"{where}.size {size!r}: expected a byte count > 0 as a string")
    key = output.get("accesskey")
    if not (isinstance(key, str) and key.strip() and key == key.strip()):
        problems.append(f"{where}.accesskey {key!r}: expected a token")
    if not (isinstance(output.get("id"), str) and output["id"]):
        problems.append(f"{where}.id {output.get('id')!r}: expected an id")
    parentid = output.get("parentid")  # [seed] "6c1833f39da71e6175bf292b18779baf"
    if "parentid" in output and not (isinstance(parentid, str) and parentid):
        problems.append(f"{where}.parentid {parentid!r}: expected the folder's id [seed]")
    for stamp in ("addedtime", "modifiedtime"):  # [seed] "1734513812": when it was made
        value = output.get(stamp)
        if stamp in output and not (isinstance(value, str) and value.isdigit() and int(value)):
            problems.append(f"{where}.{stamp} {value!r}: expected a Unix time [seed]")
    if output.get("uuid") != task.get("uuid"):
        problems.append(
            f"{where}.uuid {output.get('uuid')!r} is not the task's {task.get('uuid')!r}"
        )
    return problems


@pytest.mark.spends(1)
@pytest.mark.rule("outputs.metadata")
def test_output_fields_as_the_seed_shows(api: Api, finished: Observed) -> None:
    """Each output: ``contenttype`` "video/mp4", a ``name`` its ``url`` ends in, ``size`` a
    byte count in a string, an ``accesskey``, an ``id``, ``uuid`` the task's; the task's
    ``size`` is its outputs' sizes added up (the seed's "202472" twice)."""
    problems: list[str] = []
    for task in (finished.final, api.detail(finished.taskid)):
        outputs = outputs_of(task)
        for n, output in enumerate(outputs):
            problems += field_problems(output, task, f"task {task['id']}.outputs[{n}]")
        sizes = [o.get("size") for o in outputs]
        if all(isinstance(s, str) and s.isdigit() for s in sizes):
            total = str(sum(int(str(s)) for s in sizes))
            if task.get("size") != total:
                problems.append(f"task.size {task.get('size')!r}, outputs add up to {total}")
    assert not problems, "\n".join(problems)


@pytest.mark.spends(1)
@pytest.mark.rule("outputs.metadata", "socket.frames")
def test_terminal_frame_carries_details_outputs(finished: Observed) -> None:
    """The socket's task_postprocess_end frame carries the outputs array [seed]: the same
    objects Task/Detail gives (id, name, contenttype, size, uuid, url, accesskey)."""
    [end] = [f for f in finished.socket.frames if f.get("type") == "task_postprocess_end"]
    message = end.get("message")
    assert isinstance(message, list) and all(isinstance(o, dict) for o in message), message

    def identity(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: o.get(k) for k in IDENTITY} for o in outputs]

    assert identity(message) == identity(outputs_of(finished.final)), (message, finished.final)


@pytest.mark.spends(1)
@pytest.mark.rule("outputs.duration")
def test_output_is_an_mp4_of_the_requested_duration(finished: Observed, target: Target) -> None:
    """The bytes behind each ``url`` (anyone may fetch them) are ``size`` bytes of an MP4
    whose movie header says about the 6 s the Run asked for, with media data in it."""
    for output in outputs_of(finished.final):
        response = download(str(output["url"]), target)
        assert response.status_code == 200, (output["url"], response.status_code)
        data = response.content
        assert str(len(data)) == output["size"], (len(data), output["size"])
        boxes = dict(mp4_boxes(data))  # asserts the boxes tile the file
        assert boxes.get("mdat", 0) > 8, f"no media data: {boxes}"
        assert data[8:12].isascii() and data[8:12].strip(), f"ftyp brand {data[8:12]!r}"
        seconds = mp4_seconds(data)
        low, high = REQUESTED_SECONDS - SECONDS_SLACK[0], REQUESTED_SECONDS + SECONDS_SLACK[1]
        assert low <= seconds <= high, f"asked for {REQUESTED_SECONDS:g} s, got {seconds:.2f} s"
