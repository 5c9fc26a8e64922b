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


PROGRESS_KEYS = (  # [docs] the progressGenerate object, every value a string
    "type",
    "task",
    "percentage",
    "stepCurrent",
    "stepTotal",
    "speed",
    "speedType",
    "elapsedTime",
    "remainingTime",
)


def progress_problems(progress: dict[str, Any], where: str) -> list[str]:
    """What one progress object breaks of the documented shape [docs]."""
    problems = [f"{where}: no {key!r}" for key in PROGRESS_KEYS if key not in progress]
    problems += [
        f"{where}.{key}: {type_name(progress[key])}, expected a string"
        for key in PROGRESS_KEYS
        if key in progress and not isinstance(progress[key], str)
    ]
    if progress.get("type") != "progressGenerate":
        problems.append(f"{where}.type {progress.get('type')!r}, expected 'progressGenerate'")
    current, total = progress.get("stepCurrent"), progress.get("stepTotal")
    if not (isinstance(current, str) and current.isdigit()):
        return [*problems, f"{where}.stepCurrent {current!r}: expected a step number"]
    if not (isinstance(total, str) and total.isdigit() and int(total) > 0):
        return [*problems, f"{where}.stepTotal {total!r}: expected a step count"]
    if int(current) > int(total):
        problems.append(f"{where}: step {current} of {total}")
    percentage = progress.get("percentage")
    if isinstance(percentage, str) and NUMERIC_STRING.fullmatch(percentage):
        expected = Decimal(100) * int(current) / int(total)
        if abs(Decimal(percentage) - expected) > 1:  # rounded either way
            problems.append(
                f"{where}: percentage {percentage} for step {current} of {total} "
                f"(expected about {expected:.1f})"
            )
    return problems


@pytest.mark.spends(1)
@pytest.mark.rule("socket.progress", "socket.frames")
def test_progress_objects_as_documented(finished: Observed) -> None:
    """Each progress object of ``task_output`` has the documented keys, all strings, a
    percentage that is its step of the total, and steps that never go back [docs]. (A
    target that sends only plain lines sends no object to judge: that passes.)"""
    problems: list[str] = []
    steps: list[int] = []
    for index, frame in enumerate(finished.socket.frames):
        if frame.get("type") != "task_output":
            continue
        progress = progress_object(frame.get("message"))
        if progress is None:
            continue
        problems += progress_problems(progress, f"frame {index}")
        if str(progress.get("stepCurrent", "")).isdigit():
            steps.append(int(progress["stepCurrent"]))
    assert steps == sorted(steps), f"progress steps went back: {steps}"
    assert not problems, "\n".join(problems)


def log_lines(frames: list[dict[str, Any]], line_type: str, full_type: str) -> list[str]:
    """The plain lines of ``line_type`` frames sent before the first ``full_type`` frame
    (progress objects left out: how a log writes them is not documented)."""
    lines: list[str] = []
    for frame in frames:
        if frame.get("type") == full_type:
            break
        message = frame.get("message")
        plain = isinstance(message, str) and progress_object(message) is None
        if frame.get("type") == line_type and plain:
            lines.append(str(message))
    return lines


def missing_from_raw(lines: list[str], raw: str) -> list[str]:
    """The ``lines`` that are not lines of ``raw`` in their order (each may span several
    of its lines, as a message with a newline would)."""
    rest = raw.split("\n")
    missing = []
    for line in lines:
        wanted = line.split("\n")
        for start in range(len(rest) - len(wanted) + 1):
            if rest[start : start + len(wanted)] == wanted:
                rest = rest[start + len(wanted) :]
                break
        else:
            missing.append(line)
    return missing


@pytest.mark.spends(1)
@pytest.mark.rule("socket.raw_log", "socket.frames")
def test_output_full_is_the_whole_log(finished: Observed) -> None:
    """``task_output_full``'s ``raw`` is the whole log [docs]: every plain ``task_output``
    line sent before it is one of its lines, in order."""
    frames = finished.socket.frames
    fulls = [f for f in frames if f.get("type") == "task_output_full"]
    assert len(fulls) == 1, [f.get("type") for f in frames]
    raw = fulls[0]["message"]["raw"]
    lines = log_lines(frames, "task_output", "task_output_full")
    missing = missing_from_raw(lines, raw)
    assert not missing, f"lines sent as task_output but not in raw {raw!r:.300}: {missing}"
