"""The fake in a test process stops cleanly: no thread, socket or temp dir left behind."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest
import websocket

from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from mock_wiro.testing import signed_session


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def _sockets_on_port(port: int) -> list[str]:
    """This process's TCP sockets whose local or remote port is ``port`` (from /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                local, remote, inode = cols[1], cols[2], cols[9]
                ports = {int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)}
                if inode in inodes and port in ports:
                    found.append(line.strip())
    return found


def test_context_manager_leaves_nothing_behind() -> None:
    before = _threads()
    with MockWiroServer(Settings(clock_mode="instant")) as server:
        port = server.port
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
    # threads started during the session end on their own once stopped (bounded joins)
    deadline = time.monotonic() + 10
    started = _threads() - before
    for thread in started:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert {t.name for t in started if t.is_alive()} == set()
    assert _sockets_on_port(port) == []


def test_port_in_use_raises_oserror_and_stop_without_start_returns() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="cannot listen"):
            MockWiroServer(port=taken.getsockname()[1])
    server = MockWiroServer()
    server.stop()  # never started: must not hang
    server.stop()  # idempotent
