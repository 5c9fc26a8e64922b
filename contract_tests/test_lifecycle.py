"""The task lifecycle [docs]: what the socket says, what polling sees, and that they agree.

Every test here reads the session's one successful task (the ``finished`` fixture): it
was followed on its socket and by polling Task/Detail at the same time.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest

from .conftest import Observed
from .contract import SUCCESS_FRAMES_LATE, TERMINAL, UNTIL_START, lifecycle_rank, type_name

# Frames whose message is null [docs]: the plain lifecycle stages, and task_cancel.
NULL_MESSAGE_TYPES = frozenset({*UNTIL_START, "task_end", "task_postprocess_start", "task_cancel"})
RAW_MESSAGE_TYPES = frozenset({"task_output_full", "task_error_full"})  # {"raw": str} [docs]
NUMERIC_STRING = re.compile(r"\d+(\.\d+)?")
DECIMAL_STRING = re.compile(r"\d+(\.\d+)?")


def progress_object(message: Any) -> dict[str, Any] | None:
    """A task_output progress object, given as an object or JSON-encoded in a string
    (some clients receive it so [docs]); None for a plain output line."""
    if isinstance(message, dict):
        return message
    if isinstance(message, str) and message.lstrip().startswith("{"):
        try:
            decoded = json.loads(message)
        except ValueError:
            return None
        return decoded if isinstance(decoded, dict) else None
    return None


def message_problems(frame: dict[str, Any]) -> list[str]:
    """What is wrong with one frame's ``message`` under the per-type rules [docs]."""
    kind, message = frame.get("type"), frame.get("message")
    where = f"{kind} message {message!r:.120}"
    if kind in NULL_MESSAGE_TYPES:
        return [] if message is None else [f"{where}: expected null"]
    if kind in RAW_MESSAGE_TYPES:
        if not isinstance(message, dict) or not isinstance(message.get("raw"), str):
            return [f"{where}: expected {{'raw': <string>}}"]
        return []
    if kind == "task_postprocess_end":
        if not isinstance(message, list) or not all(isinstance(o, dict) for o in message):
            return [f"{where}: expected the outputs array"]
        return []
    if kind == "task_error":
        return [] if isinstance(message, str) else [f"{where}: expected a stderr line (string)"]
    if kind == "task_output":
        progress = progress_object(message)
        if progress is None:
            if isinstance(message, str):
                return []
            return [f"{where}: expected a string or a progress object, got {type_name(message)}"]
        percentage = progress.get("percentage")
        if not isinstance(percentage, str) or not NUMERIC_STRING.fullmatch(percentage):
            return [f"{where}: progress percentage {percentage!r} is not a numeric string"]
        if not 0 <= Decimal(percentage) <= 100:
            return [f"{where}: progress percentage {percentage} is not within 0..100"]
        return []
    return [f"{where}: unknown frame type"]


def is_positive_decimal_string(value: Any) -> bool:
    """A decimal number written as a string, greater than zero ("0.190000")."""
    if not isinstance(value, str) or not DECIMAL_STRING.fullmatch(value):
        return False
    try:
        return Decimal(value) > 0
    except InvalidOperation:
        return False


def assert_success(task: dict[str, Any]) -> None:
    """Success [docs]: task_postprocess_end, pexit "0", outputs non-empty, a cost > 0."""
    assert task["status"] == "task_postprocess_end", task["status"]
    assert task["pexit"] == "0", (task["pexit"], task.get("debugerror"))
    assert isinstance(task["outputs"], list) and task["outputs"], task["outputs"]
    assert is_positive_decimal_string(task["totalcost"]), task["totalcost"]


def output_keys(outputs: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    """What identifies each output: (url, size, name)."""
    return [(o.get("url"), o.get("size"), o.get("name")) for o in outputs]


@pytest.mark.spends(1)
@pytest.mark.rule("lifecycle.order", "socket.frames")
def test_lifecycle_via_socket(finished: Observed) -> None:
    """The frames of a successful task, in the documented order and shape [docs]."""
    socket = finished.socket
    assert socket.ended == "terminal", (socket.ended, socket.types)
    joined = " ".join(socket.types)
    # subscribed right after Run: at most the first steps may be gone (replay is [A])
    assert SUCCESS_FRAMES_LATE.fullmatch(joined), joined
    token = finished.run["socketaccesstoken"]
    problems: list[str] = []
    for index, frame in enumerate(socket.frames):
        for key in ("type", "id", "tasktoken", "result"):
            if key not in frame:
                problems.append(f"frame {index} ({frame.get('type')}): no {key!r}")
        if frame.get("result") is not True:
            problems.append(f"frame {index}: result {frame.get('result')!r}, expected true")
        if frame.get("id") != finished.taskid:
            problems.append(f"frame {index}: id {frame.get('id')!r} != {finished.taskid!r}")
        if frame.get("tasktoken") != token:
            problems.append(f"frame {index}: tasktoken is not the Run's socketaccesstoken")
        problems.extend(f"frame {index}: {p}" for p in message_problems(frame))
    assert not problems, problems


@pytest.mark.spends(1)
@pytest.mark.rule("lifecycle.order", "terminal.states")
def test_lifecycle_via_polling(finished: Observed) -> None:
    """Task/Detail's status only moves forwards along the lifecycle and ends terminal."""
    statuses = [task["status"] for task in finished.polled]
    assert statuses, "no Task/Detail snapshot"
    unknown = [s for s in statuses if lifecycle_rank(s) < 0 and s not in TERMINAL]
    assert not unknown, f"statuses outside the lifecycle: {unknown} in {statuses}"
    ranks = [lifecycle_rank(s) for s in statuses]
    backwards = [
        (statuses[i], statuses[i + 1]) for i in range(len(ranks) - 1) if ranks[i + 1] < ranks[i]
    ]
    assert not backwards, f"status moved backwards: {backwards} in {statuses}"
    assert statuses[-1] in TERMINAL, statuses
    assert not [s for s in statuses[:-1] if s in TERMINAL], f"left a terminal status: {statuses}"
    assert statuses[-1] == "task_postprocess_end", statuses
    for task in finished.polled:
        assert task["id"] == finished.taskid, (task["id"], finished.taskid)


@pytest.mark.spends(1)
@pytest.mark.rule("terminal.states")
def test_task_end_is_not_terminal(finished: Observed) -> None:
    """task_end is followed by postprocessing; only task_postprocess_end ends it [docs]."""
    types = finished.socket.types
    assert "task_end" in types, types
    after = types[types.index("task_end") + 1 :]
    assert after, f"nothing followed task_end (socket {finished.socket.ended}): {types}"
    assert after[-1] == "task_postprocess_end", after
    assert "task_postprocess_start" in after, after
    statuses = [task["status"] for task in finished.polled]
    assert statuses[-1] == "task_postprocess_end", statuses
    if "task_end" in statuses:
        assert statuses.index("task_end") < len(statuses) - 1, statuses


@pytest.mark.spends(1)
@pytest.mark.rule("lifecycle.views_agree", "lifecycle.success", "billing.success_cost")
def test_views_agree(finished: Observed) -> None:
    """The socket and Task/Detail tell the same ending, with the same outputs."""
    socket, final = finished.socket, finished.final
    assert socket.types, "no frames"
    assert socket.types[-1] == final["status"], (socket.types[-1], final["status"])
    assert_success(final)
    [end] = [f for f in socket.frames if f.get("type") == "task_postprocess_end"]
    assert isinstance(end["message"], list), end["message"]
    assert output_keys(end["message"]) == output_keys(final["outputs"]), (
        end["message"],
        final["outputs"],
    )
    for output in final["outputs"]:
        assert isinstance(output.get("url"), str) and output["url"], output
        assert isinstance(output.get("size"), str) and output["size"].isdigit(), output
    # every status polling saw is a frame the socket sent
    seen = set(socket.types)
    missing = [t["status"] for t in finished.polled if t["status"] not in seen]
    assert not missing, f"polled statuses the socket never sent: {missing}"
