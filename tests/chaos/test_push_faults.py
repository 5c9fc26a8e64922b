"""Socket and callback faults, through a real WebSocket client and a real HTTP receiver.

Manual clock, no sleeps: time moves with ``backend.advance``; frames are read with a
timeout (a timeout is a failure), callbacks are awaited with ``callbacks.wait_for``.
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any

import pytest
import requests
import websocket
from websocket import ABNF

from mock_wiro.chaos.push_faults import DEFAULT_CLOSE_CODE, PushFaultError
from mock_wiro.engine.journal import Entry
from mock_wiro.server import MockWiroServer
from tests.helpers import REPO
from tests.helpers.callbacks import WAIT, Receiver, delivery, finish, run_with
from tests.helpers.frames import (
    Frame,
    connect,
    events_of,
    pairs,
    read_until_terminal,
    recv_json,
    register,
    subscribe,
    sync,
)
from tests.helpers.wiro import Wiro


def read_until_close(ws: websocket.WebSocket) -> tuple[list[Frame], int, str]:
    """Every text frame until the server's close frame; then (frames, code, reason)."""
    frames: list[Frame] = []
    while True:
        frame = ws.recv_frame()
        if frame.opcode == ABNF.OPCODE_TEXT:
            frames.append(json.loads(frame.data))
        elif frame.opcode == ABNF.OPCODE_CLOSE:
            code: int = struct.unpack("!H", frame.data[:2])[0]
            reason = frame.data[2:].decode()
            ws.shutdown()  # the server has closed: no need to wait for its reply
            return frames, code, reason


def push_faults(server: MockWiroServer, channel: str, **match: Any) -> list[Entry]:
    """Journal entries of faults applied on one channel (``match``: fields to compare;
    socket rules bound to a connection are ``phase: "bound"`` entries, left out here)."""
    return server.journal.entries(
        "fault",
        where=lambda e: (
            e.get("channel") == channel
            and e.get("phase") != "bound"
            and all(e.get(k) == v for k, v in match.items())
        ),
    )


def dedupe(frames: list[Frame]) -> list[Frame]:
    """What a client that drops a frame identical to the one before it keeps."""
    kept: list[Frame] = []
    for frame in frames:
        if not kept or frame != kept[-1]:
            kept.append(frame)
    return kept


# ---------------------------------------------------------------- socket: close
def test_close_after_k_frames_then_reconnect_recovers_everything(wiro: Wiro) -> None:
    server = wiro.server
    run = wiro.run()
    taskid, token = run["taskid"], run["socketaccesstoken"]
    rule = server.add_socket_fault("close", task=taskid, after=3, code=4001, reason="bye")
    with connect(server.socket_url) as ws:
        first = register(ws, token)  # the replayed task_queue (pongs are never counted)
        server.backend.advance(200)
        frames, code, reason = read_until_close(ws)
    frames = first + frames
    assert len(frames) == 3 and (code, reason) == (4001, "bye")
    events = events_of(server, taskid)
    assert pairs(frames) == events[:3]
    [closed] = push_faults(server, "socket", action="close")
    assert closed.get("rule") == rule.id and closed.get("task") == taskid
    assert closed.get("after") == 3 and closed.get("code") == 4001
    assert server.hub.faults.get(rule.id) is not None
    assert not server.hub.faults.get(rule.id).active  # type: ignore[union-attr]

    with connect(server.socket_url) as ws:  # times=1: the next connection is healthy
        replayed = register(ws, token)
        assert pairs(replayed) == events  # history replay fills the gap
        assert sync(ws) == []
    assert len(push_faults(server, "socket", action="close")) == 1


def test_close_default_code_and_any_matches_the_next_connection(wiro: Wiro) -> None:
    server = wiro.server
    server.add_socket_fault("close", after=1)  # any task
    run = wiro.run()
    with connect(server.socket_url) as ws:
        subscribe(ws, run["socketaccesstoken"])
        frames, code, reason = read_until_close(ws)
    assert [f["type"] for f in frames] == ["task_queue"]
    assert code == DEFAULT_CLOSE_CODE and reason.startswith("mock-wiro socket fault sf")


# ---------------------------------------------------------------- socket: duplicate
@pytest.mark.parametrize("how", [{"nth": 2}, {"type": "task_start"}])
def test_duplicate_frame_arrives_twice_and_dedupes(wiro: Wiro, how: dict[str, Any]) -> None:
    server = wiro.server
    run = wiro.run()
    taskid, token = run["taskid"], run["socketaccesstoken"]
    server.add_socket_fault("duplicate", token=token, **how)
    with connect(server.socket_url) as ws:
        frames = register(ws, token)
        server.backend.advance(200)
        frames += read_until_terminal(ws)
        assert sync(ws) == []
    events = events_of(server, taskid)
    assert len(frames) == len(events) + 1
    twice = [i for i in range(1, len(frames)) if frames[i] == frames[i - 1]]
    assert len(twice) == 1
    if "nth" in how:
        assert twice == [2]  # frames 2 and 3 (1-based) are the 2nd frame, twice
    else:
        assert frames[twice[0]]["type"] == "task_start"
    assert pairs(dedupe(frames)) == events
    sent = server.journal.entries("frame", task=taskid)
    assert len(sent) == len(events) + 1
    assert [e.get("duplicate") for e in sent].count(True) == 1
    [applied] = push_faults(server, "socket", action="duplicate")
    assert applied.get("task") == taskid


# ---------------------------------------------------------------- socket: delay
def test_delayed_frames_wait_for_the_fake_clock(wiro: Wiro) -> None:
    server, backend = wiro.server, wiro.server.backend
    run = wiro.run()
    taskid, token = run["taskid"], run["socketaccesstoken"]
    delay = 30.0
    server.add_socket_fault("delay", task=taskid, delay=delay)
    with connect(server.socket_url) as ws:
        assert register(ws, token) == []  # task_queue is held
        frames: list[Frame] = []
        for step in (29, 1, 10, 50, 300):
            now = backend.advance(step)
            frames += sync(ws)
            events = server.task(taskid).events
            due = [e for e in events if e.time + delay <= now]
            assert len(frames) == len(due), (step, len(frames), len(due))
        assert len(frames) == len(events) and frames[-1]["type"] == "task_postprocess_end"
        assert sync(ws) == []
    assert pairs(frames) == events_of(server, taskid)
    applied = push_faults(server, "socket", action="delay")
    assert len(applied) == len(events)
    assert all(
        e.get("until") == e.get("delay", 0) + ev.time for e, ev in zip(applied, events, strict=True)
    )
    sent = server.journal.entries("frame", task=taskid)
    assert all(s.time >= ev.time + delay for s, ev in zip(sent, events, strict=True))


def test_delay_of_one_type_only(wiro: Wiro) -> None:
    server, backend = wiro.server, wiro.server.backend
    run = wiro.run()
    server.add_socket_fault("delay", task=run["taskid"], type="task_queue", delay=1000)
    with connect(server.socket_url) as ws:
        register(ws, run["socketaccesstoken"])
        backend.advance(200)
        frames = read_until_terminal(ws)
        assert "task_queue" not in [f["type"] for f in frames]
        backend.advance(1000)
        assert [f["type"] for f in sync(ws)] == ["task_queue"]


# ---------------------------------------------------------------- socket: drop on register
def test_drop_on_register_closes_before_any_frame(wiro: Wiro) -> None:
    server = wiro.server
    run = wiro.run()
    taskid, token = run["taskid"], run["socketaccesstoken"]
    rule = server.add_socket_fault("drop_on_register", task=taskid, times=2, code=4002)
    for _ in range(2):
        with connect(server.socket_url) as ws:
            subscribe(ws, token)
            frames, code, reason = read_until_close(ws)
        assert frames == [] and code == 4002 and reason == f"mock-wiro socket fault {rule.id}"
    assert server.journal.entries("frame", task=taskid) == []
    drops = push_faults(server, "socket", action="drop_on_register")
    assert [d.get("task") for d in drops] == [taskid, taskid]
    assert drops[0].get("connection") != drops[1].get("connection")
    with connect(server.socket_url) as ws:  # used up: registering works again
        assert pairs(register(ws, token)) == events_of(server, taskid)


def test_socket_fault_for_another_task_leaves_this_one_alone(wiro: Wiro) -> None:
    server = wiro.server
    run, other = wiro.run(), wiro.run()
    server.add_socket_fault("drop_on_register", task=other["taskid"])
    with connect(server.socket_url) as ws:
        assert [f["type"] for f in register(ws, run["socketaccesstoken"])] == ["task_queue"]
    assert push_faults(server, "socket") == []


def test_a_faulted_connection_does_not_block_fan_out(wiro: Wiro) -> None:
    server = wiro.server
    run = wiro.run()
    token = run["socketaccesstoken"]
    server.add_socket_fault("delay", token=token, delay=10_000)
    with connect(server.socket_url) as held, connect(server.socket_url) as healthy:
        assert register(held, token) == []
        register(healthy, token)
        server.backend.advance(200)
        assert read_until_terminal(healthy)[-1]["type"] == "task_postprocess_end"
        assert sync(held) == []


# ---------------------------------------------------------------- callbacks
def test_callback_twice_posts_two_identical_bodies(wiro: Wiro, receiver: Receiver) -> None:
    server = wiro.server
    rule = server.add_callback_fault("twice")
    taskid = run_with(wiro, receiver.script("/twice", 200))
    server.backend.advance(300)
    got = finish(server, taskid)
    assert got.state == "delivered"
    sent = receiver.to("/twice")
    assert len(sent) == 2 and sent[0].body == sent[1].body
    assert sent[0].json()["tasklist"][0]["id"] == taskid
    assert [r.headers["X-Mock-Wiro-Attempt"] for r in sent] == ["1", "1"]
    assert len(got.attempts) == 1 and len(got.duplicates) == 1 and got.duplicates[0].ok
    assert got.to_json()["faults"] == [rule.id]
    entries = server.journal.entries("callback", task=taskid)
    assert [e.get("duplicate") for e in entries] == [None, True]
    [applied] = push_faults(server, "callback", action="twice")
    assert applied.get("task") == taskid and applied.get("rule") == rule.id


def test_callback_late_waits_for_the_fake_clock(wiro: Wiro, receiver: Receiver) -> None:
    server, backend = wiro.server, wiro.server.backend
    server.add_callback_fault("late", delay=1000)
    taskid = run_with(wiro, receiver.script("/late", 200))
    now = backend.advance(300)
    end = server.task(taskid).events[-1].time
    assert server.task(taskid).terminal
    assert delivery(server, taskid).state == "pending"
    assert delivery(server, taskid).attempts == [] and receiver.requests == []
    backend.advance(end + 1000 - now - 1)  # one second short: still nothing
    assert delivery(server, taskid).attempts == [] and receiver.requests == []
    backend.advance(1)
    got = finish(server, taskid)
    assert got.state == "delivered" and len(got.attempts) == 1
    assert got.attempts[0].time >= end + 1000
    assert len(receiver.to("/late")) == 1
    [applied] = push_faults(server, "callback", action="late")
    assert applied.get("until") == end + 1000 and applied.get("delay") == 1000


def test_callback_suppressed_sends_nothing(
    wiro: Wiro, receiver: Receiver, callback_posts: list[str]
) -> None:
    server = wiro.server
    posted = callback_posts
    server.add_callback_fault("suppress", times=1)
    suppressed = run_with(wiro, receiver.script("/never", 200))
    server.backend.advance(300)
    got = finish(server, suppressed)
    assert got.state == "suppressed" and got.attempts == []
    server.backend.advance(10_000)
    assert posted == [] and receiver.requests == []
    [applied] = push_faults(server, "callback", action="suppress")
    assert applied.get("task") == suppressed
    # used up: the next task's callback goes out
    taskid = run_with(wiro, receiver.script("/never", 200))
    server.backend.advance(300)
    assert finish(server, taskid).state == "delivered" and len(posted) == 1


# ---------------------------------------------------------------- control surface
def test_control_endpoints_create_list_delete_clear(wiro: Wiro, receiver: Receiver) -> None:
    server = wiro.server
    base = f"{server.url}/_mock"
    run = wiro.run()
    made = requests.post(
        f"{base}/socket-faults",
        json={"action": "drop_on_register", "token": run["socketaccesstoken"], "code": 4003},
        timeout=WAIT,
    )
    assert made.status_code == 201, made.text
    rule = made.json()
    assert rule["id"].startswith("sf") and rule["code"] == 4003 and rule["remaining"] == 1
    listed = requests.get(f"{base}/socket-faults", timeout=WAIT).json()["faults"]
    assert [r["id"] for r in listed] == [rule["id"]]
    with connect(server.socket_url) as ws:
        subscribe(ws, run["socketaccesstoken"])
        assert read_until_close(ws)[:2] == ([], 4003)
    one = requests.get(f"{base}/socket-faults/{rule['id']}", timeout=WAIT).json()
    assert one["hits"] == 1 and one["active"] is False
    assert requests.delete(f"{base}/socket-faults/{rule['id']}", timeout=WAIT).ok
    assert requests.delete(f"{base}/socket-faults/{rule['id']}", timeout=WAIT).status_code == 404
    assert requests.get(f"{base}/socket-faults/nope", timeout=WAIT).status_code == 404

    late = requests.post(
        f"{base}/callback-faults", json={"action": "late", "delay": 60}, timeout=WAIT
    )
    assert late.status_code == 201 and late.json()["id"].startswith("cf")
    assert len(requests.get(f"{base}/callback-faults", timeout=WAIT).json()["faults"]) == 1
    assert requests.post(f"{base}/callback-faults/clear", timeout=WAIT).json() == {"ok": True}
    assert requests.get(f"{base}/callback-faults", timeout=WAIT).json() == {"faults": []}
    server.add_socket_fault("close", after=1)
    assert requests.delete(f"{base}/socket-faults", timeout=WAIT).json() == {"ok": True}
    assert server.hub.faults.rules() == []


@pytest.mark.parametrize(
    ("channel", "body", "says"),
    [
        ("socket", {"action": "explode"}, "'action' must be one of"),
        ("socket", {"action": "close"}, "needs 'after'"),
        ("socket", {"action": "close", "after": 0}, "'after' must be an integer"),
        ("socket", {"action": "close", "after": 1, "code": 1006}, "cannot be sent"),
        ("socket", {"action": "delay", "delay": -1}, "'delay' must be more than 0"),
        ("socket", {"action": "duplicate", "delay": 1}, "does not go with"),
        ("socket", {"action": "delay", "delay": 1, "task": "1", "any": True}, "not several"),
        ("callback", {"action": "late"}, "needs 'delay'"),
        ("callback", {"action": "twice", "times": 0}, "'times' must be an integer"),
        ("callback", {"action": "close", "after": 1}, "'action' must be one of"),
    ],
)
def test_bad_rules_are_refused(
    fake: MockWiroServer, channel: str, body: dict[str, Any], says: str
) -> None:
    answer = requests.post(f"{fake.url}/_mock/{channel}-faults", json=body, timeout=WAIT)
    assert answer.status_code == 400 and says in answer.json()["error"], answer.text
    book = fake.hub.faults if channel == "socket" else fake.callbacks.faults
    with pytest.raises(PushFaultError, match=says):
        book.add(body)


def test_reset_and_clear_forget_push_faults(fake: MockWiroServer) -> None:
    fake.add_socket_fault("close", after=2)
    fake.add_callback_fault("suppress")
    fake.clear_push_faults()
    assert fake.hub.faults.rules() == [] and fake.callbacks.faults.rules() == []
    rule = fake.add_socket_fault("drop_on_register")
    fake.add_callback_fault("twice")
    assert fake.remove_push_fault(rule.id) and not fake.remove_push_fault(rule.id)
    requests.post(f"{fake.url}/_mock/reset", timeout=WAIT).raise_for_status()
    assert fake.hub.faults.rules() == [] and fake.callbacks.faults.rules() == []


def test_recv_json_still_works_after_faults_cleared(wiro: Wiro) -> None:
    wiro.server.add_socket_fault("close", after=1)
    wiro.server.clear_push_faults()
    run = wiro.run()
    with connect(wiro.server.socket_url) as ws:
        subscribe(ws, run["socketaccesstoken"])
        assert recv_json(ws)["type"] == "task_queue"
        assert sync(ws) == []


# ---------------------------------------------------------------- the README's examples
def readme_examples() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Socket and callback faults\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)


def test_readme_has_one_example_per_channel() -> None:
    assert len(readme_examples()) == 2


@pytest.mark.parametrize("number", [0, 1])
def test_readme_example_runs(number: int) -> None:
    code = readme_examples()[number]
    where = f"README.md#socket-and-callback-faults-{number + 1}"
    exec(compile(code, where, "exec"), {"__name__": f"readme_push_faults_{number}"})
