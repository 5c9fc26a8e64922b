"""Issue 14 and 18, over real sockets against a real ``mock-wiro serve``: what the server
answers itself (a request line too long, a request it cannot parse) is in the API's
envelope on both servers (``--server``); on ``--server gevent`` the connections served at
once are bounded (``--max-connections``: one more is answered 503 and closed, never left
waiting), and an idle kept-alive connection is closed after ``--keepalive-timeout``.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mock_wiro.cli import build_parser, main
from mock_wiro.settings import KEEPALIVE_IDLE_TIMEOUT, MAX_CONNECTIONS
from tests.helpers.rawhttp import read_response
from tests.helpers.serve import SERVERS, Served, serve_on, start_serve

TIMEOUT = 30.0  # only a hang reaches it


def _address(served: Served) -> tuple[str, int]:
    host, port = served.rest.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    return host, int(port)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """(status, headers lower-cased, body) of one Content-Length response."""
    line, headers, body, _ = read_response(sock)
    return int(line.split()[1]), headers, body


def _closed(conn: socket.socket) -> bool:
    """Whether the server closed the connection (an end of stream, or a reset: what
    a close with unread bytes in the server's buffer sends)."""
    try:
        return conn.recv(1) == b""
    except ConnectionResetError:
        return True


def _health(host: str, port: int) -> bytes:
    return f"GET /_mock/health HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()


def _assert_envelope(
    status: int, headers: dict[str, str], body: bytes, want: int | tuple[int, ...]
) -> str:
    assert status in (want if isinstance(want, tuple) else (want,)), (status, body[:300])
    assert headers["content-type"].startswith("application/json"), headers
    assert headers.get("connection", "").lower() == "close", headers
    answer = json.loads(body)
    assert answer["result"] is False and answer["errors"][0]["code"] == 0, answer
    return str(answer["errors"][0]["message"])


@pytest.fixture(scope="module", params=SERVERS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    yield from serve_on(request.param, tmp_path_factory.mktemp(request.param))


@pytest.mark.parametrize(
    ("request_head", "status", "named"),
    [
        # a request target over both servers' request-line bound (64 KB)
        (b"GET /v1/" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "too long"),
        (b"GARBAGE\r\n\r\n", 400, "Bad request"),
        (b"GET /v1/Task/List HTTP/9.9\r\n\r\n", (400, 505), ""),  # 505: werkzeug's
    ],
    ids=["long-line", "no-method", "bad-version"],
)
def test_what_the_server_answers_itself_is_in_the_envelope(
    served: Served, request_head: bytes, status: int | tuple[int, ...], named: str
) -> None:
    host, port = _address(served)
    with socket.create_connection((host, port), timeout=TIMEOUT) as conn:
        conn.sendall(request_head)
        message = _assert_envelope(*_read_response(conn), status)
        assert named in message, message
        assert _closed(conn)
    with socket.create_connection((host, port), timeout=TIMEOUT) as conn:  # it serves on
        conn.sendall(_health(host, port))
        assert _read_response(conn)[0] == 200


def _served_one(host: str, port: int) -> socket.socket:
    """A connection that has had one request answered (so the server is serving it),
    kept alive."""
    conn = socket.create_connection((host, port), timeout=TIMEOUT)
    conn.sendall(_health(host, port))
    status, headers, _ = _read_response(conn)
    assert status == 200 and headers.get("connection", "").lower() != "close", headers
    return conn


def test_connections_past_the_bound_get_503_never_a_hang(tmp_path: Path) -> None:
    pytest.importorskip("gevent")
    served = start_serve(
        tmp_path, "--server", "gevent", "--max-connections", "2", "--keepalive-timeout", "60"
    )
    try:
        host, port = _address(served)
        held = [_served_one(host, port), _served_one(host, port)]

        # a third, with a request: 503 in the envelope, Retry-After, closed
        with socket.create_connection((host, port), timeout=TIMEOUT) as third:
            third.sendall(_health(host, port))
            status, headers, body = _read_response(third)
            message = _assert_envelope(status, headers, body, 503)
            assert "--max-connections" in message and headers["retry-after"] == "1"
            assert _closed(third)
        # a third that sends nothing is answered too, not left waiting
        with socket.create_connection((host, port), timeout=TIMEOUT) as silent:
            _assert_envelope(*_read_response(silent), 503)

        # the held connections are still served; once one leaves, a new one is served
        held[0].sendall(_health(host, port))
        assert _read_response(held[0])[0] == 200
        held.pop().close()
        deadline = time.monotonic() + TIMEOUT
        while True:  # the server sees the close when its read ends: wait for that
            with socket.create_connection((host, port), timeout=TIMEOUT) as conn:
                conn.sendall(_health(host, port))
                if _read_response(conn)[0] == 200:
                    break
            assert time.monotonic() < deadline, "the freed slot was never reused"
        for conn in held:
            conn.close()
        assert served.stop() == 0
        assert "Traceback" not in served.stderr(), served.stderr()
    finally:
        if served.proc.poll() is None:
            served.stop()


def test_an_idle_connection_is_closed_after_the_keepalive_timeout(tmp_path: Path) -> None:
    pytest.importorskip("gevent")
    served = start_serve(tmp_path, "--server", "gevent", env={"MOCK_WIRO_KEEPALIVE_TIMEOUT": "0.5"})
    try:
        host, port = _address(served)
        conn = _served_one(host, port)
        idle_since = time.monotonic()
        assert conn.recv(1) == b""  # the server closed it (a hang fails at TIMEOUT)
        waited = time.monotonic() - idle_since
        # not at once, and well before the default's 5 s: the option took effect
        assert 0.4 <= waited < KEEPALIVE_IDLE_TIMEOUT - 1, waited
        conn.close()
        # a connection that keeps sending requests within the timeout stays open
        conn = _served_one(host, port)
        for _ in range(3):
            conn.sendall(_health(host, port))
            assert _read_response(conn)[0] == 200
        conn.close()
        assert served.stop() == 0
    finally:
        if served.proc.poll() is None:
            served.stop()


def test_the_keepalive_and_connection_options(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MOCK_WIRO_KEEPALIVE_TIMEOUT", "MOCK_WIRO_MAX_CONNECTIONS"):
        monkeypatch.delenv(name, raising=False)
    args = build_parser().parse_args(["serve"])
    assert (args.keepalive_timeout, args.max_connections) == (
        KEEPALIVE_IDLE_TIMEOUT,
        MAX_CONNECTIONS,
    )
    monkeypatch.setenv("MOCK_WIRO_KEEPALIVE_TIMEOUT", "2.5")
    monkeypatch.setenv("MOCK_WIRO_MAX_CONNECTIONS", "300")
    args = build_parser().parse_args(["serve"])
    assert (args.keepalive_timeout, args.max_connections) == (2.5, 300)
    args = build_parser().parse_args(
        ["serve", "--keepalive-timeout", "9", "--max-connections", "7"]
    )
    assert (args.keepalive_timeout, args.max_connections) == (9.0, 7)


@pytest.mark.parametrize(
    ("option", "value"),
    [("--keepalive-timeout", "0"), ("--keepalive-timeout", "nan"), ("--max-connections", "0")],
)
def test_serve_refuses_a_bound_that_cannot_serve(option: str, value: str) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["serve", "--port", "0", "--server", "werkzeug", option, value])
    assert option in str(refused.value.code), refused.value.code
