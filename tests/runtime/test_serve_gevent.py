"""``mock-wiro serve --server gevent`` as a real subprocess, over raw sockets: a Run, two
Task/Detail requests on one kept-alive TCP connection, a socket subscription in order, and
a clean stop on SIGTERM with the connections open; issue 14's keep-alive list: several
requests on one connection, a body the fake left unread (by length or chunked) does not
corrupt the next request, pipelined requests answered in order, shutdown with idle and
half-sent connections open (the idle timeout: ``tests/security/test_connections.py``)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import requests
import websocket

from mock_wiro.cli import build_parser
from mock_wiro.launch import DEFAULT_SERVER, wants_gevent
from tests.helpers import REPO
from tests.helpers.rawhttp import read_response
from tests.helpers.serve import Served, start_serve

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
    line, headers, body, extra = read_response(sock)
    assert not extra, "more bytes than the response: nothing was pipelined"
    return line, headers, body


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


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    found = start_serve(
        tmp_path_factory.mktemp("keepalive"),
        *("--server", "gevent", "--speed", "0", "--api-key", KEY, "--api-secret", SECRET),
    )
    try:
        yield found
    finally:
        assert found.stop() == 0, found.stderr()
    assert "Traceback" not in found.stderr(), found.stderr()


def _responses(stream: BinaryIO, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """``count`` responses read in order from one connection's stream."""
    found = []
    for _ in range(count):
        status_line = stream.readline()
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        headers: dict[str, str] = {}
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = stream.read(int(headers["content-length"]))
        found.append((int(status_line.split()[1]), headers, body))
    return found


def _request(
    host: str, port: int, method: str, path: str, body: bytes = b"", head: str = ""
) -> bytes:
    length = f"Content-Length: {len(body)}\r\n" if method == "POST" else ""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{length}{head}\r\n"
    ).encode() + body


def _wrong_key(size: int) -> str:
    """Headers of a request refused for its key before its body is read."""
    return "Content-Type: application/json\r\nx-api-key: not-the-key\r\nx-nonce: 1\r\n" + (
        "x-signature: 00\r\n" if size else ""
    )


def test_several_requests_on_one_connection(served: Served) -> None:
    """Ten requests of three kinds, one after another on one TCP connection: each is
    answered on it, none says Connection: close."""
    host, port = _host_port(served)
    with socket.create_connection((host, port), timeout=30) as conn, conn.makefile("rb") as stream:
        for i in range(10):
            if i % 3 == 0:
                conn.sendall(_request(host, port, "GET", "/_mock/health"))
            elif i % 3 == 1:
                conn.sendall(_raw_detail(host, port, str(i)))
            else:
                body = b"{}"
                signed = "".join(f"{k}: {v}\r\n" for k, v in _headers().items())
                head = "Content-Type: application/json\r\n" + signed
                conn.sendall(_request(host, port, "POST", "/v1/Task/List", body, head))
            [(status, headers, answer)] = _responses(stream, 1)
            assert status == 200, answer
            assert headers.get("connection", "").lower() != "close", (i, headers)
            assert json.loads(answer).get("result", True) in (True, False)


def test_a_body_the_fake_left_unread_does_not_corrupt_the_next_request(served: Served) -> None:
    """A request refused for its key with a 60 KB body the fake never reads (by length,
    then chunked), then another, on one connection: the next is parsed as sent."""
    host, port = _host_port(served)
    with socket.create_connection((host, port), timeout=30) as conn, conn.makefile("rb") as stream:
        # a body that would parse as a request line if it were left in the stream
        body = b"GET /_mock/health HTTP/1.1\r\n\r\n" * 2000
        conn.sendall(_request(host, port, "POST", "/v1/Task/Detail", body, _wrong_key(1)))
        [(status, headers, answer)] = _responses(stream, 1)
        assert status == 401 and json.loads(answer)["result"] is False, answer
        assert headers.get("connection", "").lower() != "close", "closed instead of drained"
        conn.sendall(_raw_detail(host, port, "0"))
        [(status, _, answer)] = _responses(stream, 1)
        assert status == 200 and "errors" in json.loads(answer), answer

        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 4096]), body[i : i + 4096])
            for i in range(0, len(body), 4096)
        )
        head = _wrong_key(1) + "Transfer-Encoding: chunked\r\n"
        conn.sendall(
            f"POST /v1/Task/Detail HTTP/1.1\r\nHost: {host}:{port}\r\n{head}\r\n".encode()
            + chunks
            + b"0\r\n\r\n"
        )
        [(status, _, answer)] = _responses(stream, 1)
        assert status == 401 and json.loads(answer)["result"] is False, answer
        conn.sendall(_request(host, port, "GET", "/_mock/health"))
        [(status, _, answer)] = _responses(stream, 1)
        assert (status, json.loads(answer)) == (200, {"ok": True}), answer


def test_pipelined_requests_are_answered_in_order(served: Served) -> None:
    """Three requests in one write (the first with a body the fake leaves unread), then
    three more: six answers, in the order sent."""
    host, port = _host_port(served)
    with socket.create_connection((host, port), timeout=30) as conn, conn.makefile("rb") as stream:
        unread = _request(host, port, "POST", "/v1/Task/Detail", b"x" * 20_000, _wrong_key(1))
        health = _request(host, port, "GET", "/_mock/health")
        conn.sendall(unread + health + _raw_detail(host, port, "7"))
        conn.sendall(health + _raw_detail(host, port, "8") + health)
        answers = _responses(stream, 6)
        assert [a[0] for a in answers] == [401] + [200] * 5, answers
        kinds = ["ok" if json.loads(a[2]).get("ok") else "api" for a in answers]
        assert kinds == ["api", "ok", "api", "ok", "api", "ok"], answers
        assert "Project authorization is not" in answers[0][2].decode()


def test_sigterm_with_idle_and_half_sent_requests_open(tmp_path: Path) -> None:
    """SIGTERM while three kept-alive connections are idle, one has sent half a request
    line and one half its headers: every one is closed, the process exits 0."""
    served = start_serve(tmp_path, "--server", "gevent", "--keepalive-timeout", "60")
    try:
        host, port = _host_port(served)
        opened = []
        for _ in range(3):
            conn = socket.create_connection((host, port), timeout=30)
            conn.sendall(_request(host, port, "GET", "/_mock/health"))
            with conn.makefile("rb") as stream:
                assert _responses(stream, 1)[0][0] == 200
            opened.append(conn)
        half_line = socket.create_connection((host, port), timeout=30)
        half_line.sendall(b"GET /_mock/hea")
        half_head = socket.create_connection((host, port), timeout=30)
        half_head.sendall(b"GET /_mock/health HTTP/1.1\r\nHost: x\r\n")
        opened += [half_line, half_head]
        assert served.stop() == 0
        for conn in opened:
            with contextlib.suppress(ConnectionResetError):
                assert conn.recv(1) == b""
            conn.close()
    finally:
        if served.proc.poll() is None:
            served.stop()


def test_python_m_mock_wiro_patches_first_instead_of_re_executing(served: Served) -> None:
    """``python -m mock_wiro serve --server gevent`` is patched by ``mock_wiro.launch``
    before anything is imported: the process runs as started (no ``execv`` into
    ``mock_wiro.gevent_serve``, which costs a second start-up)."""
    with open(f"/proc/{served.proc.pid}/cmdline", "rb") as cmdline:
        argv = cmdline.read().split(b"\0")
    assert b"mock_wiro" in argv and b"mock_wiro.gevent_serve" not in argv, argv


@pytest.mark.parametrize(
    ("argv", "env", "wanted"),
    [
        (["serve", "--server", "gevent"], None, True),
        (["serve", "--server=gevent"], None, True),
        (["serve", "--server", "gevent", "--server", "werkzeug"], None, False),
        (["serve"], "gevent", True),
        (["serve", "--server", "werkzeug"], "gevent", False),
        (["serve"], None, DEFAULT_SERVER == "gevent"),
        (["--version"], "gevent", False),
    ],
)
def test_wants_gevent_reads_the_command_line_as_the_cli_does(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: str | None, wanted: bool
) -> None:
    if env is None:
        monkeypatch.delenv("MOCK_WIRO_SERVER", raising=False)
    else:
        monkeypatch.setenv("MOCK_WIRO_SERVER", env)
    assert wants_gevent(argv) is wanted
    args = build_parser().parse_args(argv) if argv[0] == "serve" else None
    assert args is None or (args.server == "gevent") is wanted


def test_a_reset_fault_drops_a_kept_alive_connection_and_logs_no_5xx(served: Served) -> None:
    """``reset: true`` on gevent: the server's socket is in the environ, so the client
    gets no answer, the access log no 502 and the stderr no traceback."""
    host, port = _host_port(served)
    rule = requests.post(
        served.control + "/faults",
        json={"path": "/v1/Task/Detail", "reset": True, "when": "after"},
        timeout=30,
    ).json()
    with socket.create_connection((host, port), timeout=30) as conn:
        conn.sendall(_raw_detail(host, port, "0"))
        with contextlib.suppress(ConnectionResetError):
            assert conn.recv(1) == b""  # dropped: no status line, no bytes
    assert requests.get(f"{served.control}/faults/{rule['id']}", timeout=30).json()["hits"] == 1
    log = served.stderr()
    assert '"POST /v1/Task/Detail HTTP/1.1" 502' not in log and "Traceback" not in log, log


def test_a_refused_image_fails_its_task_through_the_native_pool(served: Served) -> None:
    """The image check runs in gevent's native threads: a 3:1 image fails the task with
    the rule's message, and the pool prints no traceback."""
    image = REPO / "mock_wiro_fixtures" / "images" / "too_wide_3x1.jpg"
    run = requests.post(
        served.rest + "/Run/minimax/hailuo-2-3-fast",
        headers=_headers(),
        data={"prompt": "waves"},
        files={"inputImageFirst": ("wide.jpg", image.read_bytes(), "image/jpeg")},
        timeout=30,
    ).json()
    assert run["result"] is True, run
    requests.post(f"{served.control}/tasks/{run['taskid']}/wait", timeout=60).raise_for_status()
    detail = json.dumps(requests.get(f"{served.control}/tasks/{run['taskid']}", timeout=30).json())
    assert "aspect ratio" in detail, detail[:500]
    assert "Traceback" not in served.stderr(), served.stderr()


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_websocket_holds_one_descriptor_and_gives_it_back(served: Served) -> None:
    """Under gevent, simple-websocket duplicates the socket it accepts unless told it
    cannot (two descriptors per socket: half the sockets the fd limit allows). 30 open
    sockets hold about 30 more descriptors, not 60; a socket closed by its client gets
    its close frame back and then the end of the connection, nothing more (no HTTP
    answer written after it); once all are closed every descriptor is given back."""
    pid = served.proc.pid
    run = requests.post(
        served.rest + "/Run/minimax/hailuo-2-3-fast",
        headers=_headers(),
        data={"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "waves"},
        timeout=30,
    ).json()
    requests.post(f"{served.control}/tasks/{run['taskid']}/wait", timeout=60).raise_for_status()
    subscribe = json.dumps({"type": "task_info", "tasktoken": run["socketaccesstoken"]})
    requests.get(f"{served.control}/health", timeout=30).raise_for_status()
    before = _fds(pid)
    sockets = []
    for _ in range(30):
        ws = websocket.create_connection(served.fields["WebSocket"], timeout=30)
        ws.send(subscribe)
        assert json.loads(ws.recv())["id"] == run["taskid"]  # the route holds the socket
        sockets.append(ws)
    held = _fds(pid) - before
    # about 30: other connections of the module's server (an earlier test's, a
    # kept-alive one closing on its timeout) may come and go meanwhile; duplicated, 60
    assert 24 <= held <= 40, held

    first = sockets.pop()
    first.send_close()
    opcode, _ = first.recv_data(control_frame=True)
    while opcode != websocket.ABNF.OPCODE_CLOSE:  # the task's other frames, then the close
        opcode, _ = first.recv_data(control_frame=True)
    assert first.sock is not None
    rest = b""
    while chunk := first.sock.recv(4096):
        rest += chunk
    assert rest == b"", rest[:200]  # the connection ended: no HTTP answer after the close
    first.shutdown()
    for ws in sockets:
        ws.close()
    deadline = time.monotonic() + 30
    while _fds(pid) > before:
        assert time.monotonic() < deadline, (_fds(pid), before)
        time.sleep(0.05)  # the server ends each connection on its own time: nothing to await
    assert "Traceback" not in served.stderr(), served.stderr()
