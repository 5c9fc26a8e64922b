"""The task WebSocket from a test: connect, subscribe, read frames with a timeout."""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import websocket
from websocket import ABNF

from mock_wiro.engine.lifecycle import TERMINAL_STATUSES
from mock_wiro.engine.models import Task
from mock_wiro.server import MockWiroServer

RECV_TIMEOUT = 10  # seconds; only ever reached when something is wrong
Frame = dict[str, Any]
PROGRESS_KEYS = {
    "type",
    "task",
    "percentage",
    "stepCurrent",
    "stepTotal",
    "speed",
    "speedType",
    "elapsedTime",
    "remainingTime",
}
"""The keys of a ``task_output`` progress message (``progressGenerate``)."""


@contextmanager
def connect(url: str, **options: Any) -> Iterator[websocket.WebSocket]:
    """A client connection that is always closed (filterwarnings=error)."""
    ws = websocket.create_connection(url, timeout=RECV_TIMEOUT, **options)
    try:
        yield ws
    finally:
        ws.close(timeout=1)


def recv_json(ws: websocket.WebSocket) -> Frame:
    text = ws.recv()
    assert isinstance(text, str), f"expected a text frame, got {text!r}"
    frame: Frame = json.loads(text)
    return frame


def subscribe(ws: websocket.WebSocket, token: str) -> None:
    ws.send(json.dumps({"type": "task_info", "tasktoken": token}))


def sync(ws: websocket.WebSocket) -> list[Frame]:
    """Send an app-level ping and read up to its pong: every frame sent before it has been
    handled (frames are processed in order per connection). Returns what came before."""
    ws.send(json.dumps({"type": "ping"}))
    before: list[Frame] = []
    while (frame := recv_json(ws))["type"] != "pong":
        before.append(frame)
    assert frame == {"type": "pong", "result": True}
    return before


def register(ws: websocket.WebSocket, *tokens: str) -> list[Frame]:
    """Subscribe to these tasks and wait until the server has registered them (so what the
    clock does next comes live). Returns the replayed frames."""
    for token in tokens:
        subscribe(ws, token)
    return sync(ws)


def read_until_terminal(ws: websocket.WebSocket, count: int = 1) -> list[Frame]:
    """Frames until ``count`` terminal frames have come (one per task)."""
    frames: list[Frame] = []
    while count:
        frames.append(recv_json(ws))
        count -= frames[-1]["type"] in TERMINAL_STATUSES
    return frames


def read_n(ws: websocket.WebSocket, n: int) -> list[Frame]:
    return [recv_json(ws) for _ in range(n)]


def task_of(server: MockWiroServer, taskid: str) -> Task:
    task = server.backend.task_by_id(taskid)
    assert task is not None
    return task


def events_of(server: MockWiroServer, taskid: str) -> list[tuple[str, Any]]:
    """The task's events as (type, message), as they go over the wire (JSON)."""
    events = task_of(server, taskid).events
    return [(e.type, json.loads(json.dumps(e.message))) for e in events]


def pairs(frames: list[Frame]) -> list[tuple[str, Any]]:
    return [(f["type"], f["message"]) for f in frames]


def assert_still_open(ws: websocket.WebSocket) -> None:
    """Nothing more arrives, and the connection still answers."""
    assert sync(ws) == []


def close_code(frame: ABNF) -> int:
    assert frame.opcode == ABNF.OPCODE_CLOSE, frame
    code: int = struct.unpack("!H", frame.data[:2])[0]
    return code


def advance_in_thread(server: MockWiroServer, seconds: float) -> None:
    """``backend.advance`` that must return: a hang fails the test instead of hanging it."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            server.backend.advance(seconds)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "backend.advance blocked (a socket write under the lock?)"
    assert not errors, errors
