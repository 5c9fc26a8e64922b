"""The three views of a task never disagree.

200 tasks at once, each with its own WebSocket subscriber and a callback to a
real HTTP receiver, with mixed outcomes (success, bad image, cancel, kill).
Afterwards, for every task: the socket's frames, Task/Detail and the callback
agree on the terminal status, ``pexit`` and outputs, and the frames are a valid
lifecycle: in order, no duplicates, no gaps.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import websocket

from contract_tests.contract import UNTIL_START
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from mock_wiro_fixtures import image_bytes
from tests.helpers.wiro import Wiro

TASKS = 200
OUTCOMES = ("success", "bad_image", "cancel", "kill")

_STEPS = UNTIL_START[1:]  # task_accept .. task_start
# A complete life: success (outputs, no stderr) or failure (stderr, task_error_full).
COMPLETE = re.compile(
    r"^task_queue task_accept task_preprocess_start task_preprocess_end task_assign task_start"
    r"(?: task_output)+(?:"
    r" task_output_full"  # success
    r"|(?: task_error)+ task_output_full task_error_full"  # failure
    r") task_end task_postprocess_start task_postprocess_end$"
)
# A life cut short: any prefix of the lifecycle, then task_cancel.
_prefix = (
    "".join(f"(?: {s}" for s in _STEPS) + r"(?: task_output| task_error)*" + ")?" * len(_STEPS)
)
CANCELLED = re.compile(r"^task_queue" + _prefix + " task_cancel$")


class Receiver(BaseHTTPRequestHandler):
    """Records callback bodies by task id."""

    bodies: dict[str, list[dict[str, Any]]]
    lock: threading.Lock

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        task_id = body["tasklist"][0]["id"]
        with self.lock:
            self.bodies.setdefault(task_id, []).append(body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ReceiverServer(ThreadingHTTPServer):
    # Every task ends at the same fake instant, so up to TASKS callbacks connect at once.
    # With socketserver's default listen backlog (5), a loaded machine that accepts too
    # slowly has the kernel reset the overflow; the fake then retries after a backoff on
    # the manual clock, which this test never moves again.
    request_queue_size = TASKS


@pytest.fixture
def receiver() -> Iterator[tuple[str, dict[str, list[dict[str, Any]]]]]:
    bodies: dict[str, list[dict[str, Any]]] = {}
    handler = type("R", (Receiver,), {"bodies": bodies, "lock": threading.Lock()})
    server = ReceiverServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", bodies
    finally:
        server.shutdown()
        server.server_close()


def subscribe(url: str, token: str) -> list[dict[str, Any]]:
    """Read one task's frames until its terminal frame."""
    ws = websocket.create_connection(url, timeout=60)
    try:
        ws.send(json.dumps({"type": "task_info", "tasktoken": token}))
        frames: list[dict[str, Any]] = []
        while True:
            frame = json.loads(ws.recv())
            frames.append(frame)
            if frame["type"] in ("task_postprocess_end", "task_cancel", "error"):
                return frames
    finally:
        ws.close()


def test_socket_detail_and_callback_agree_under_concurrency(
    receiver: tuple[str, dict[str, list[dict[str, Any]]]],
) -> None:
    hook, bodies = receiver
    with MockWiroServer(Settings(clock_mode="manual")) as server:
        backend = server.backend
        wiro = Wiro(server, backend.create_project(balance="100000"))  # no concurrency cap
        images = {"bad_image": "too_wide_3x1.jpg"}
        plan = [OUTCOMES[i % len(OUTCOMES)] for i in range(TASKS)]

        def run(outcome: str) -> dict[str, Any]:
            name = images.get(outcome, "landscape_16x9.jpg")
            files = {"inputImageFirst": (name, image_bytes(name))}
            return wiro.ok("Run/minimax/hailuo-2-3-fast", data={"callbackUrl": hook}, files=files)

        with ThreadPoolExecutor(max_workers=TASKS) as pool:
            runs = list(pool.map(run, plan))
            readers = [
                pool.submit(subscribe, server.socket_url, r["socketaccesstoken"]) for r in runs
            ]
            with ThreadPoolExecutor(max_workers=16) as actions:
                list(
                    actions.map(
                        lambda r: wiro.ok("Task/Cancel", json={"taskid": r["taskid"]}),
                        [r for r, o in zip(runs, plan, strict=True) if o == "cancel"],
                    )
                )
                backend.advance(10)  # every other task is generating now
                list(
                    actions.map(
                        lambda r: wiro.ok("Task/Kill", json={"taskid": r["taskid"]}),
                        [r for r, o in zip(runs, plan, strict=True) if o == "kill"],
                    )
                )
            backend.advance(600)
            frames = [reader.result(timeout=120) for reader in readers]

        for run_, outcome, task_frames in zip(runs, plan, frames, strict=True):
            taskid = run_["taskid"]
            assert server.callbacks.wait_for(taskid, timeout=60), taskid
            detail = wiro.detail(taskid)
            types = [f["type"] for f in task_frames]
            sequence = " ".join(types)
            task = backend.task_by_id(taskid)
            assert task is not None
            # the socket carried exactly the task's events: no gap, no duplicate
            assert types == [e.type for e in task.events], taskid
            assert all(
                f["id"] == taskid and f["tasktoken"] == run_["socketaccesstoken"]
                for f in task_frames
            )
            callback = bodies[taskid]
            assert len(callback) == 1, f"{taskid}: {len(callback)} callbacks"
            called = callback[0]["tasklist"][0]
            terminal = task_frames[-1]
            # the three views agree
            assert detail["status"] == called["status"] == terminal["type"], taskid
            assert detail["pexit"] == called["pexit"], taskid
            assert detail["outputs"] == called["outputs"], taskid
            if outcome in ("cancel", "kill"):
                assert CANCELLED.match(sequence), sequence
                assert detail["status"] == "task_cancel" and detail["outputs"] == []
            else:
                assert COMPLETE.match(sequence), sequence
                assert terminal["message"] == detail["outputs"]
                if outcome == "success":
                    assert detail["pexit"] == "0" and len(detail["outputs"]) == 1
                else:
                    assert detail["pexit"] != "0" and detail["outputs"] == []
                    assert "rule: aspect_ratio" in detail["debugerror"]
        assert len(bodies) == TASKS
