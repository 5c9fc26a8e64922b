"""The task WebSocket over loopback, with a real client library (websocket-client).

Frame shapes per type, lifecycle order, late subscribers (history and live
replay), several subscribers per task and tasks per connection, every bad input,
ping/pong, slow and dead subscribers, and the plain-HTTP answer at ``/v1``.

Time is driven with the manual clock (``backend.advance``); nothing sleeps. Every
``recv`` has a timeout, and a timeout is a failure, never a way of waiting.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests
import websocket
from websocket import ABNF

from contract_tests.contract import UNTIL_START
from mock_wiro.engine.lifecycle import PROGRESS_STEPS, TERMINAL_STATUSES
from mock_wiro.push import route as ws_module
from mock_wiro.push.hub import CLOSE_TOO_SLOW, Subscriber
from mock_wiro.server import MockWiroServer
from tests.helpers.frames import (
    PROGRESS_KEYS,
    RECV_TIMEOUT,
    Frame,
    advance_in_thread,
    assert_still_open,
    close_code,
    connect,
    events_of,
    pairs,
    read_n,
    read_until_terminal,
    recv_json,
    register,
    subscribe,
    sync,
    task_of,
)
from tests.helpers.wiro import Wiro, make_server

FRAME_KEYS = {"type", "id", "tasktoken", "message", "result"}
NULL_MESSAGE_TYPES = {*UNTIL_START, "task_end", "task_postprocess_start", "task_cancel"}
# a successful task's frames: queue..start (6), output lines, output_full, end..postprocess_end
SUCCESS_FRAMES = 6 + (PROGRESS_STEPS + 2) + 1 + 3


# ---------------------------------------------------------------- frame shapes
def check_shape(frame: Frame, taskid: str, token: str) -> None:
    assert set(frame) == FRAME_KEYS, frame
    assert frame["result"] is True
    assert frame["id"] == taskid and isinstance(frame["id"], str)
    assert frame["tasktoken"] == token and isinstance(frame["tasktoken"], str)
    kind, message = frame["type"], frame["message"]
    if kind in NULL_MESSAGE_TYPES:
        assert message is None, frame
    elif kind == "task_output":
        if isinstance(message, dict):
            assert set(message) == PROGRESS_KEYS, message
            assert message["type"] == "progressGenerate" and message["task"] == "Generate"
            assert all(isinstance(v, str) for v in message.values()), message
        else:
            assert isinstance(message, str) and message, frame
    elif kind == "task_error":
        assert isinstance(message, str) and message, frame
    elif kind in ("task_output_full", "task_error_full"):
        assert isinstance(message, dict) and set(message) == {"raw"}, frame
        assert isinstance(message["raw"], str)
    elif kind == "task_postprocess_end":
        assert isinstance(message, list), frame
    else:
        pytest.fail(f"unexpected frame type {kind!r}")


def test_success_frames_have_the_contract_shape(wiro: Wiro) -> None:
    run = wiro.run()
    taskid, token = run["taskid"], run["socketaccesstoken"]
    with connect(wiro.server.socket_url) as ws:
        subscribe(ws, token)
        frames = [recv_json(ws)]
        assert frames[0]["type"] == "task_queue"
        wiro.server.backend.advance(200)
        frames += read_until_terminal(ws)
        assert_still_open(ws)
    for frame in frames:
        check_shape(frame, taskid, token)
    detail = wiro.detail(taskid)
    by_type: dict[str, list[Any]] = {}
    for frame in frames:
        by_type.setdefault(frame["type"], []).append(frame["message"])
    progress = [m for m in by_type["task_output"] if isinstance(m, dict)]
    assert [p["percentage"] for p in progress] == [str(10 * i) for i in range(1, 11)]
    assert len(progress) == PROGRESS_STEPS
    assert by_type["task_output_full"] == [{"raw": detail["debugoutput"]}]
    assert "task_error" not in by_type and "task_error_full" not in by_type
    outputs = by_type["task_postprocess_end"]
    assert outputs == [detail["outputs"]] and len(detail["outputs"]) == 1
    assert outputs[0][0]["contenttype"] == "video/mp4"
    assert detail["pexit"] == "0"


def test_failure_frames_carry_the_error(wiro: Wiro) -> None:
    run = wiro.run("too_wide_3x1.jpg")
    taskid, token = run["taskid"], run["socketaccesstoken"]
    with connect(wiro.server.socket_url) as ws:
        frames = register(ws, token)
        wiro.server.backend.advance(200)
        frames += read_until_terminal(ws)
        assert_still_open(ws)
    for frame in frames:
        check_shape(frame, taskid, token)
    detail = wiro.detail(taskid)
    assert detail["pexit"] != "0" and detail["outputs"] == []
    errors = [f["message"] for f in frames if f["type"] == "task_error"]
    assert len(errors) == 1 and "rule: aspect_ratio" in errors[0]
    assert errors[0] in detail["debugerror"]
    full = [f["message"] for f in frames if f["type"] == "task_error_full"]
    assert full == [{"raw": detail["debugerror"]}]
    assert frames[-1]["type"] == "task_postprocess_end" and frames[-1]["message"] == []


@pytest.mark.parametrize("how", ["Task/Cancel", "Task/Kill"])
def test_cancel_frame_has_a_null_message(wiro: Wiro, how: str) -> None:
    run = wiro.run()
    taskid, token = run["taskid"], run["socketaccesstoken"]
    with connect(wiro.server.socket_url) as ws:
        frames = register(ws, token)
        if how == "Task/Kill":
            wiro.server.backend.advance(10)  # generating
        wiro.ok(how, json={"taskid": taskid})
        frames += read_until_terminal(ws)
        wiro.server.backend.advance(300)  # nothing follows a cancel
        assert_still_open(ws)
    for frame in frames:
        check_shape(frame, taskid, token)
    assert frames[-1]["type"] == "task_cancel" and frames[-1]["message"] is None
    assert pairs(frames) == events_of(wiro.server, taskid)


# ---------------------------------------------------------------- order
@pytest.mark.parametrize("image", ["landscape_16x9.jpg", "too_wide_3x1.jpg"])
def test_frames_are_the_events_in_order_then_silence(wiro: Wiro, image: str) -> None:
    run = wiro.run(image)
    with connect(wiro.server.socket_url) as ws:
        frames = register(ws, run["socketaccesstoken"])
        for _ in range(300):  # one fake second at a time: frames arrive live
            wiro.server.backend.advance(1)
        frames += read_until_terminal(ws)
        wiro.server.backend.advance(300)
        assert_still_open(ws)  # open after the terminal frame, and nothing more came
        assert pairs(frames) == events_of(wiro.server, run["taskid"])
        terminals = [f for f in frames if f["type"] in TERMINAL_STATUSES]
        assert terminals == [frames[-1]]
        # still usable: another task on the same connection
        other = wiro.run()
        subscribe(ws, other["socketaccesstoken"])
        assert recv_json(ws)["id"] == other["taskid"]


# ---------------------------------------------------------------- late subscribers
def test_subscribing_after_the_end_replays_everything(wiro: Wiro) -> None:
    run = wiro.run()
    wiro.server.backend.advance(200)
    assert wiro.detail(run["taskid"])["status"] == "task_postprocess_end"
    with connect(wiro.server.socket_url) as ws:
        subscribe(ws, run["socketaccesstoken"])
        frames = read_until_terminal(ws)
        assert_still_open(ws)
    assert pairs(frames) == events_of(wiro.server, run["taskid"])


def test_subscribing_mid_task_gets_past_then_live_frames(wiro: Wiro) -> None:
    run = wiro.run()
    backend = wiro.server.backend
    backend.advance(10)
    assert wiro.detail(run["taskid"])["status"] == "task_output"
    past = len(task_of(wiro.server, run["taskid"]).events)
    with connect(wiro.server.socket_url) as ws:
        subscribe(ws, run["socketaccesstoken"])
        frames = read_n(ws, past)
        assert_still_open(ws)  # exactly the past, nothing more until the clock moves
        for _ in range(5):  # live frames, in several batches
            backend.advance(40)
        frames += read_until_terminal(ws)
        assert_still_open(ws)
    events = events_of(wiro.server, run["taskid"])
    assert len(events) > past
    assert pairs(frames) == events


def test_live_replay_sends_only_what_comes_after_registration() -> None:
    with make_server(clock_mode="manual", socket_replay="live") as server:
        wiro = Wiro(server, server.backend.create_project())
        run = wiro.run()
        server.backend.advance(10)
        past = len(task_of(server, run["taskid"]).events)
        with connect(server.socket_url) as ws:
            subscribe(ws, run["socketaccesstoken"])
            assert sync(ws) == []  # registered, and no past frame was sent
            server.backend.advance(200)
            frames = read_until_terminal(ws)
            assert_still_open(ws)
        events = events_of(server, run["taskid"])
        assert pairs(frames) == events[past:]
        assert frames[0]["type"] != "task_queue"


# ---------------------------------------------------------------- fan-out
def test_several_subscribers_get_identical_sequences(wiro: Wiro) -> None:
    run = wiro.run()
    url = wiro.server.socket_url
    with connect(url) as a, connect(url) as b, connect(url) as c:
        seqs = []
        for ws in (a, b, c):
            subscribe(ws, run["socketaccesstoken"])
            seqs.append(sync(ws))  # registered: the replayed task_queue came before the pong
        for _ in range(20):
            wiro.server.backend.advance(10)
        for ws, seq in zip((a, b, c), seqs, strict=True):
            seq += read_until_terminal(ws)
            assert_still_open(ws)
    assert seqs[0] == seqs[1] == seqs[2]
    assert pairs(seqs[0]) == events_of(wiro.server, run["taskid"])


def test_several_tasks_on_one_connection(wiro: Wiro) -> None:
    first, second = wiro.run(), wiro.run("too_wide_3x1.jpg")
    with connect(wiro.server.socket_url) as ws:
        frames = register(ws, first["socketaccesstoken"], second["socketaccesstoken"])
        for _ in range(200):  # both advance together: their frames interleave
            wiro.server.backend.advance(1)
        frames += read_until_terminal(ws, count=2)
        assert_still_open(ws)
    for run in (first, second):
        mine = [f for f in frames if f["tasktoken"] == run["socketaccesstoken"]]
        assert all(f["id"] == run["taskid"] for f in mine)
        assert pairs(mine) == events_of(wiro.server, run["taskid"])
    owners = [f["id"] for f in frames]
    switches = sum(1 for x, y in itertools.pairwise(owners) if x != y)
    assert switches > 2, "the two tasks' frames should interleave"


def test_registering_a_token_twice_does_not_duplicate(wiro: Wiro) -> None:
    run = wiro.run()
    token = run["socketaccesstoken"]
    with connect(wiro.server.socket_url) as ws:
        subscribe(ws, token)
        subscribe(ws, token)
        frames = sync(ws)
        assert [f["type"] for f in frames] == ["task_queue"]
        wiro.server.backend.advance(10)
        subscribe(ws, token)  # mid-task: no second replay
        wiro.server.backend.advance(200)
        frames += read_until_terminal(ws)
        assert_still_open(ws)
    assert pairs(frames) == events_of(wiro.server, run["taskid"])


# ---------------------------------------------------------------- bad input
BAD_TEXT = {
    "unknown token": json.dumps({"type": "task_info", "tasktoken": "no-such-token"}),
    "not JSON": "task_info please",
    "truncated JSON": '{"type": "task_info", ',
    "JSON array": json.dumps([{"type": "task_info", "tasktoken": "x"}]),
    "JSON string": json.dumps("task_info"),
    "JSON null": "null",
    "unknown type": json.dumps({"type": "subscribe", "tasktoken": "x"}),
    "no type": json.dumps({"tasktoken": "x"}),
    "task_info without tasktoken": json.dumps({"type": "task_info"}),
    "task_info with a number tasktoken": json.dumps({"type": "task_info", "tasktoken": 534574}),
    "task_info with a list tasktoken": json.dumps({"type": "task_info", "tasktoken": ["a"]}),
    "task_info with an empty tasktoken": json.dumps({"type": "task_info", "tasktoken": ""}),
}


def check_error_frame(frame: Frame) -> None:
    assert frame["type"] == "error" and frame["result"] is False, frame
    assert isinstance(frame["message"], str) and frame["message"], frame
    assert set(frame) <= {"type", "message", "result", "tasktoken"}, frame


def send_valid_task_info(ws: websocket.WebSocket, wiro: Wiro) -> None:
    run = wiro.run()
    subscribe(ws, run["socketaccesstoken"])
    frame = recv_json(ws)
    assert frame["type"] == "task_queue" and frame["id"] == run["taskid"]


@pytest.mark.parametrize("case", sorted(BAD_TEXT))
def test_bad_text_frame_gets_an_error_frame(wiro: Wiro, case: str) -> None:
    with connect(wiro.server.socket_url) as ws:
        ws.send(BAD_TEXT[case])
        frame = recv_json(ws)
        check_error_frame(frame)
        if case == "unknown token":
            assert frame["tasktoken"] == "no-such-token"
            assert "tasktoken" in frame["message"]
        elif "tasktoken" in case:
            assert "tasktoken" in frame["message"]
        send_valid_task_info(ws, wiro)  # still usable


def test_binary_frame_gets_an_error_frame(wiro: Wiro) -> None:
    with connect(wiro.server.socket_url) as ws:
        ws.send_binary(json.dumps({"type": "task_info", "tasktoken": "x"}).encode())
        frame = recv_json(ws)
        check_error_frame(frame)
        assert "Binary" in frame["message"]
        send_valid_task_info(ws, wiro)


def test_every_bad_input_in_a_row_on_one_connection(wiro: Wiro) -> None:
    with connect(wiro.server.socket_url) as ws:
        for text in BAD_TEXT.values():
            ws.send(text)
        ws.send_binary(b"\x00\xff")
        frames = sync(ws)
        assert len(frames) == len(BAD_TEXT) + 1
        for frame in frames:
            check_error_frame(frame)
        send_valid_task_info(ws, wiro)


def test_oversized_frame_closes_with_1009_and_others_keep_working(wiro: Wiro) -> None:
    url = wiro.server.socket_url
    with connect(url) as bystander:
        run = wiro.run()
        subscribe(bystander, run["socketaccesstoken"])
        assert recv_json(bystander)["type"] == "task_queue"
        with connect(url) as ws:
            ws.send("x" * (ws_module.MAX_INCOMING_BYTES + 1))
            assert close_code(ws.recv_frame()) == 1009
        with connect(url) as fresh:  # the server still accepts and serves
            send_valid_task_info(fresh, wiro)
        wiro.server.backend.advance(200)
        assert pairs(read_until_terminal(bystander))[-1][0] == "task_postprocess_end"
        assert_still_open(bystander)


def test_frame_at_the_size_limit_is_accepted(wiro: Wiro) -> None:
    with connect(wiro.server.socket_url) as ws:
        ws.send(json.dumps({"type": "ping", "pad": "x" * 100}).ljust(ws_module.MAX_INCOMING_BYTES))
        assert recv_json(ws) == {"type": "pong", "result": True}


# ---------------------------------------------------------------- ping/pong
def test_app_level_ping_gets_a_pong(wiro: Wiro) -> None:
    with connect(wiro.server.socket_url) as ws:
        for _ in range(3):
            ws.send(json.dumps({"type": "ping"}))
            assert recv_json(ws) == {"type": "pong", "result": True}


def test_protocol_ping_gets_a_pong(wiro: Wiro) -> None:
    with connect(wiro.server.socket_url) as ws:
        ws.ping(b"are you there")
        opcode, frame = ws.recv_data_frame(control_frame=True)
        assert opcode == ABNF.OPCODE_PONG and frame.data == b"are you there"
        send_valid_task_info(ws, wiro)


# ---------------------------------------------------------------- slow subscribers
def test_hub_overflowing_subscriber_never_delays_the_others(wiro: Wiro) -> None:
    run = wiro.run()
    hub = wiro.server.hub
    stuck = Subscriber(limit=8)  # nobody ever drains it
    roomy = Subscriber(limit=SUCCESS_FRAMES)  # exactly enough
    try:
        assert hub.register(stuck, run["socketaccesstoken"]) is not None
        assert hub.register(roomy, run["socketaccesstoken"]) is not None
        with connect(wiro.server.socket_url) as ws:
            subscribe(ws, run["socketaccesstoken"])
            frames = sync(ws)
            advance_in_thread(wiro.server, 200)
            frames += read_until_terminal(ws)
            assert_still_open(ws)
        detail = wiro.detail(run["taskid"])
        assert detail["status"] == "task_postprocess_end" and detail["pexit"] == "0"
        events = events_of(wiro.server, run["taskid"])
        assert len(events) == SUCCESS_FRAMES and pairs(frames) == events
        assert stuck.overflowed and len(stuck) == 0 and stuck.take(timeout=0) is None
        # a buffer of exactly the task's length is enough
        assert not roomy.overflowed and len(roomy) == len(events)
        got = [json.loads(f[0]) for f in iter(lambda: roomy.take(timeout=0), None)]
        assert pairs(got) == events
    finally:
        hub.unregister(stuck)
        hub.unregister(roomy)


class _Watched(Subscriber):
    """A server-side subscriber whose offers can be waited on (without sleeping)."""

    made: list[_Watched]
    changed: threading.Condition

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.offers = 0
        self.writer_done = threading.Event()
        self.made.append(self)

    def offer(self, frame: str, task_id: str = "", kind: str = "") -> None:
        super().offer(frame, task_id, kind)
        with self.changed:
            self.offers += 1
            self.changed.notify_all()

    def wait(self, predicate: Callable[[], bool], what: str) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout=RECV_TIMEOUT), what


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> list[_Watched]:
    """Every server-side Subscriber made from now on, in connection order; and the server
    side of each connection gets a small, fixed kernel send buffer, so that a client that
    stops reading blocks its writer after a few kilobytes (autotuning would let the kernel
    absorb megabytes first, an amount no test can know)."""
    made: list[_Watched] = []
    cls = type("Watched", (_Watched,), {"made": made, "changed": threading.Condition()})
    monkeypatch.setattr(ws_module, "Subscriber", cls)
    real_writer = ws_module._writer

    def writer(ws: Any, sub: Subscriber, *rest: Any) -> None:
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        try:
            real_writer(ws, sub, *rest)
        finally:
            if isinstance(sub, _Watched):
                sub.writer_done.set()

    monkeypatch.setattr(ws_module, "_writer", writer)
    return made


SMALL_RCVBUF = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)]
SLOW_BUFFER_FRAMES = 64
# 48 kB that the server echoes back in its error frame: more than the kernel buffers hold
FILLER = json.dumps({"type": "x" * 48_000})


def stop_reading(
    server: MockWiroServer, token: str, watched: list[_Watched]
) -> tuple[websocket.WebSocket, _Watched]:
    """A connection (tiny receive buffer) subscribed to ``token`` that then stops reading,
    with its kernel buffers full and frames backed up in its server-side buffer."""
    slow = websocket.create_connection(
        server.socket_url, timeout=RECV_TIMEOUT, sockopt=SMALL_RCVBUF
    )
    try:
        subscribe(slow, token)
        assert recv_json(slow)["type"] == "task_queue"
        sub = watched[-1]
        for _ in range(2000):  # one filler at a time, each handled before the next
            if len(sub) >= 4:  # the writer is stuck: the kernel buffers are full
                return slow, sub
            seen = sub.offers
            slow.send(FILLER)
            sub.wait(lambda: sub.offers > seen, "filler not handled")  # noqa: B023
        pytest.fail("the slow connection's buffers never filled")
    except BaseException:
        slow.shutdown()
        raise


def overflow(slow: websocket.WebSocket, sub: _Watched) -> None:
    """Push small frames (pongs) at a stuck connection until its buffer overflows."""
    for _ in range(SLOW_BUFFER_FRAMES * 4):
        if sub.overflowed:
            return
        seen = sub.offers
        slow.send(json.dumps({"type": "ping"}))
        sub.wait(lambda: sub.offers > seen, "ping not handled")  # noqa: B023
    pytest.fail("the stuck connection's buffer never overflowed")


def drain(slow: websocket.WebSocket) -> ABNF | None:
    """Read everything the server still sends: its close frame, or None at end of stream."""
    for _ in range(100_000):
        try:
            frame = slow.recv_frame()
        except (websocket.WebSocketConnectionClosedException, ConnectionResetError):
            return None
        if frame.opcode == ABNF.OPCODE_CLOSE:
            return frame
    pytest.fail("the server kept sending")


def test_slow_reader_never_delays_the_lifecycle_or_others(watched: list[_Watched]) -> None:
    with make_server(clock_mode="manual", socket_buffer_frames=SLOW_BUFFER_FRAMES) as server:
        wiro = Wiro(server, server.backend.create_project())
        run = wiro.run()
        token = run["socketaccesstoken"]
        with connect(server.socket_url) as good:
            subscribe(good, token)
            frames = [recv_json(good)]
            slow, sub = stop_reading(server, token, watched)
            try:
                # The slow connection's writer is blocked in a send; the lifecycle runs on
                # (advance returns: no socket write under the state lock), REST answers,
                # and the good subscriber gets every frame.
                assert server.hub.subscriber_count() == 2
                advance_in_thread(server, 200)
                assert wiro.detail(run["taskid"])["status"] == "task_postprocess_end"
                frames += read_until_terminal(good)
                events = events_of(server, run["taskid"])
                assert pairs(frames) == events
                assert not sub.overflowed and len(sub) >= len(events) - 1  # all still queued
                # Past its bound, the slow connection is ended with close code 1013 (seen
                # here because it reads again, so the pending send can complete).
                overflow(slow, sub)
                closing = drain(slow)
                assert closing is not None and close_code(closing) == CLOSE_TOO_SLOW
                assert b"too slow" in closing.data[2:]
            finally:
                slow.shutdown()
            assert_still_open(good)
            second = wiro.run()
            frames = register(good, second["socketaccesstoken"])
            server.backend.advance(200)
            frames += read_until_terminal(good)
            assert pairs(frames) == events_of(server, second["taskid"])


def test_dead_reader_is_cut_off(watched: list[_Watched], monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that never reads again: its writer can't even send the close frame, so the
    server cuts the socket after WRITER_GRACE_SECONDS instead of blocking forever."""
    monkeypatch.setattr(ws_module, "WRITER_GRACE_SECONDS", 0.2)
    with make_server(clock_mode="manual", socket_buffer_frames=SLOW_BUFFER_FRAMES) as server:
        wiro = Wiro(server, server.backend.create_project())
        run = wiro.run()
        slow, sub = stop_reading(server, run["socketaccesstoken"], watched)
        try:
            overflow(slow, sub)
            # not reading at all: the server gives up on its own
            assert sub.writer_done.wait(timeout=RECV_TIMEOUT), "writer stuck on a dead client"
            assert server.hub.subscriber_count() == 0
            assert drain(slow) is None  # the stream just ends: no close frame could be sent
        finally:
            slow.shutdown()
        server.backend.advance(200)  # the lifecycle is unaffected
        with connect(server.socket_url) as ws:
            subscribe(ws, run["socketaccesstoken"])
            assert pairs(read_until_terminal(ws)) == events_of(server, run["taskid"])


# ---------------------------------------------------------------- plain HTTP
def test_plain_get_on_the_socket_url_is_426(fake: MockWiroServer) -> None:
    response = requests.get(fake.url + "/v1", timeout=10)
    assert response.status_code == 426
    assert response.headers["Upgrade"].lower() == "websocket"
    body = response.json()
    assert body["result"] is False and len(body["errors"]) == 1
    assert body["errors"][0]["code"] == 0
    assert "task_info" in body["errors"][0]["message"]


def test_shutdown_closes_connections_with_going_away() -> None:
    import websocket as wsclient

    from mock_wiro.push.hub import CLOSE_GOING_AWAY

    server = make_server(clock_mode="manual").start()
    try:
        conn = wsclient.create_connection(server.socket_url, timeout=10)
        conn.send(json.dumps({"type": "ping"}))
        assert json.loads(conn.recv())["type"] == "pong"  # connected and served
    finally:
        server.stop()
    try:
        opcode, frame = conn.recv_data_frame(control_frame=True)
        assert opcode == wsclient.ABNF.OPCODE_CLOSE
        assert int.from_bytes(frame.data[:2], "big") == CLOSE_GOING_AWAY
    finally:
        conn.shutdown()  # after a received Close, websocket-client's close() leaves the socket
