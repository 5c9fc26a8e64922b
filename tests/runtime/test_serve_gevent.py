"""``mock-wiro serve --server gevent`` as a real subprocess: a Run, two Task/Detail
requests on one kept-alive TCP connection, a socket subscription in order, and a clean
stop on SIGTERM with the connections open; a body the fake left unread and pipelined
requests do not corrupt the connection (``docs/server-choice.md``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from tests.helpers.serve import start_serve

pytest.importorskip("gevent")

KEY = "gevent-key-0123456789abcdef"
SECRET = "gevent-secret-0123456789abcdef"


def _headers() -> dict[str, str]:
    nonce = str(time.time_ns())
    signature = hmac.new(KEY.encode(), (SECRET + nonce).encode(), hashlib.sha256).hexdigest()
    return {"x-api-key": KEY, "x-nonce": nonce, "x-signature": signature}


def _raw_detail(host: str, port: int, taskid: str) -> bytes:
    body = json.dumps({"taskid": taskid}).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in _headers().items())
    return (
        f"POST /v1/Task/Detail HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{head}\r\n"
    ).encode() + body


def _read_response(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """(status line, headers lower-cased, body) of one Content-Length response."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"closed before the headers: {buf!r}"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of a body"
        rest += chunk
    assert len(rest) == length, "more bytes than the response: nothing was pipelined"
    return lines[0], headers, rest


def test_run_keepalive_socket_and_sigterm(tmp_path: Path) -> None:
    served = start_serve(
        tmp_path, "--server", "gevent", "--speed", "0", "--api-key", KEY, "--api-secret", SECRET
    )
    try:
        base = served.rest
        host, port = base.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        run = requests.post(
            base + "/Run/minimax/hailuo-2-3-fast",
            headers=_headers(),
            data={"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "waves"},
            timeout=30,
        ).json()
        assert run["result"] is True, run
        taskid, token = run["taskid"], run["socketaccesstoken"]

        # two requests, one TCP connection: the second goes on the socket the first used
        with socket.create_connection((host, int(port)), timeout=30) as conn:
            answers: list[dict[str, Any]] = []
            for _ in range(2):
                conn.sendall(_raw_detail(host, int(port), taskid))
                status, headers, body = _read_response(conn)
                assert status.startswith("HTTP/1.1 200"), status
                assert headers.get("connection", "").lower() != "close", headers
                answers.append(json.loads(body))
            assert [a["tasklist"][0]["id"] for a in answers] == [taskid, taskid]

        # the socket on the same port: the task's frames, in the order of its events
        events = requests.get(f"{served.control}/tasks/{taskid}", timeout=30).json()
        want = [e["type"] for e in events["events"]]
        ws = websocket.create_connection(served.fields["WebSocket"], timeout=30)
        ws.send(json.dumps({"type": "task_info", "tasktoken": token}))
        got: list[str] = []
        while len(got) < len(want):
            frame = json.loads(ws.recv())
            assert frame["id"] == taskid, frame
            got.append(frame["type"])
        assert got == want

        # SIGTERM with an idle kept-alive connection and the socket open: the socket is
        # told the server is going away (1001), the process exits 0
        idle = socket.create_connection((host, int(port)), timeout=30)
        idle.sendall(_raw_detail(host, int(port), taskid))
        _read_response(idle)
        assert served.stop() == 0
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(data[:2], "big") == 1001
        assert idle.recv(1) == b""  # the idle connection was closed too
        idle.close()
        ws.shutdown()
    finally:
        if served.proc.poll() is None:
            served.stop()


def _host_port(served: Any) -> tuple[str, int]:
    host, port = served.rest.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    return host, int(port)


def test_unread_body_and_pipelined_requests(tmp_path: Path) -> None:
    """A request refused for its key with a 60 KB body the fake need not read, then
    another, on one connection; then two requests sent in one write, both answered."""
    served = start_serve(
        tmp_path, "--server", "gevent", "--speed", "0", "--api-key", KEY, "--api-secret", SECRET
    )
    try:
        host, port = _host_port(served)
        with socket.create_connection((host, port), timeout=30) as conn:
            body = b'{"taskid": "' + b"x" * 60_000 + b'"}'
            conn.sendall(
                (
                    f"POST /v1/Task/Detail HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    "Content-Type: application/json\r\nx-api-key: not-the-key\r\n"
                    f"x-nonce: 1\r\nx-signature: 00\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode()
                + body
            )
            status, headers, answer = _read_response(conn)
            assert json.loads(answer)["result"] is False, (status, answer)
            if headers.get("connection", "").lower() == "close":
                pytest.fail("the server closed the connection instead of draining the body")
            conn.sendall(_raw_detail(host, port, "0"))
            status, _, answer = _read_response(conn)
            assert status.startswith("HTTP/1.1 200"), status
            assert json.loads(answer)["result"] is False  # no task 0: the envelope, parsed

            conn.sendall(_raw_detail(host, port, "1") + _raw_detail(host, port, "2"))
            buf = b""
            while buf.count(b"HTTP/1.1 ") < 2 or not buf.rstrip().endswith(b"}"):
                chunk = conn.recv(65536)
                assert chunk, buf
                buf += chunk
            assert buf.count(b"HTTP/1.1 200") == 2, buf
        assert served.stop() == 0
    finally:
        if served.proc.poll() is None:
            served.stop()
