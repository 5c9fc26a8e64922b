"""The journal: requests, socket frames and callback attempts in one ordered sequence."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import websocket

from tests.helpers.wiro import Wiro


@pytest.fixture
def hook() -> Iterator[str]:
    class Ok(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/done"
    server.shutdown()
    server.server_close()


def test_one_ordered_sequence_of_requests_frames_and_callbacks(wiro: Wiro, hook: str) -> None:
    server = wiro.server
    run = wiro.run(callbackUrl=hook)
    conn = websocket.create_connection(server.socket_url, timeout=10)
    try:
        conn.send(json.dumps({"type": "task_info", "tasktoken": run["socketaccesstoken"]}))
        server.advance(300)
        while json.loads(conn.recv())["type"] != "task_postprocess_end":
            pass
    finally:
        conn.close()
    server.wait_for(lambda e: e.kind == "callback" and e.get("task") == run["taskid"])
    # a frame is journalled once its writer has sent it, so the client may read it first
    server.wait_for(
        lambda e: (
            e.kind == "frame"
            and e.get("task") == run["taskid"]
            and e.get("type") == "task_postprocess_end"
        )
    )
    entries = server.journal.entries()
    seqs = [e.seq for e in entries]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    times = [e.time for e in entries]
    assert times == sorted(times)  # the fake clock's time, in order

    [run_request] = server.journal.entries("request", path="/Run/")
    assert run_request.get("method") == "POST" and run_request.get("status") == 200
    assert run_request.get("task") == run["taskid"]
    headers = run_request.get("headers")
    assert headers["x-api-key"].endswith("…") and wiro.project.api_key not in json.dumps(headers)
    assert wiro.project.api_key not in json.dumps(run_request.to_json())
    body = run_request.get("body")
    assert body["fields"]["callbackUrl"] == hook and body["files"] == {
        "inputImageFirst": "landscape_16x9.jpg"
    }

    frames = server.journal.entries("frame", task=run["taskid"])
    task = server.task(run["taskid"])
    assert [f.get("type") for f in frames] == [e.type for e in task.events]
    [callback] = server.journal.entries("callback", task=run["taskid"])
    assert callback.get("status") == 204 and callback.get("state") == "delivered"
    assert callback.seq > frames[-1].seq or callback.time >= frames[-1].time


def test_journal_filters_and_control_endpoint(wiro: Wiro) -> None:
    server = wiro.server
    first = server.journal.last_seq
    wiro.error("Task/Detail", 1, json={"taskid": "999"})
    wiro.run()
    url = server.url + "/_mock/journal"
    reply = requests.get(url, params={"kind": "request", "since": first}, timeout=10).json()
    paths = [e["path"] for e in reply["entries"]]
    assert paths == ["/v1/Task/Detail", "/v1/Run/minimax/hailuo-2-3-fast"]
    assert all(e["seq"] > first for e in reply["entries"])
    detail = requests.get(url, params={"path": "Task/Detail"}, timeout=10).json()["entries"]
    assert len(detail) == 1 and '"There is no task yet."' in detail[0]["response"]
    bad = requests.get(url, params={"since": "x"}, timeout=10)
    assert bad.status_code == 400
    # the control surface itself is not journaled
    assert not any("/_mock" in e["path"] for e in reply["entries"])


def test_wait_for_times_out_with_an_error(wiro: Wiro) -> None:
    with pytest.raises(TimeoutError):
        wiro.server.wait_for(lambda e: e.kind == "nothing-like-this", timeout=0.2)


def test_reset_clears_the_journal(wiro: Wiro) -> None:
    wiro.run()
    assert wiro.server.journal.entries("request")
    wiro.server.reset()
    assert wiro.server.journal.entries() == []
