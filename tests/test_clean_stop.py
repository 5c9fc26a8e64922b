"""The fake in a test process stops cleanly: no thread, socket or temp dir left behind."""

from __future__ import annotations

import json
import os
import threading
import time

import websocket

from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from mock_wiro.testing import signed_session


def _ours() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(("mock-wiro", "Thread-"))}


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _one_session() -> None:
    with MockWiroServer(Settings(clock_mode="instant")) as server:
        data_dir = server.backend.data_dir
        api = signed_session(server.create_project(), server.base_url)
        run = {"inputImageFirstUrl": "https://example.com/a.jpg", "callbackUrl": "not a url"}
        body = api.post("Run/minimax/hailuo-2-3-fast", json=run).json()
        conn = websocket.create_connection(server.socket_url, timeout=10)
        conn.send(json.dumps({"type": "task_info", "tasktoken": body["socketaccesstoken"]}))
        server.wait_for_task(body["taskid"])
        api.close()
    conn.shutdown()
    assert not data_dir.exists()


def test_context_manager_leaves_nothing_behind() -> None:
    _one_session()  # first use loads codecs and libraries once; count from the second
    before_threads = _ours()
    before_fds = _open_fds()
    _one_session()
    # server-side threads end on their own once stopped; bounded wait, no sleep-and-hope
    deadline = time.monotonic() + 10
    for thread in _ours() - before_threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert {t.name for t in _ours() - before_threads if t.is_alive()} == set()
    assert _open_fds() <= before_fds
