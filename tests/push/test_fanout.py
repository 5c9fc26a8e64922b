"""Fan-out without a wake-up and a write per frame: a connection's writer takes every
frame queued at once and sends them in one write, journaled together, in order.

Real sockets over loopback (the threaded ``MockWiroServer``); the manual clock drives
time; nothing sleeps.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from typing import Any

import pytest

from mock_wiro.engine.journal import Journal, entry_size
from mock_wiro.engine.models import Event, Task
from mock_wiro.push import route as ws_module
from mock_wiro.push.hub import Subscriber, task_frame
from tests.helpers.frames import (
    connect,
    events_of,
    pairs,
    read_until_terminal,
    register,
    subscribe,
)
from tests.helpers.wiro import Wiro, make_server


def _texts(taken: tuple[bytes, list[Any]] | None) -> list[str]:
    assert taken is not None
    return [item[0] for item in taken[1]]


def test_a_burst_for_one_connection_costs_one_wake_up_and_is_taken_whole() -> None:
    sub = Subscriber(8)
    assert not sub.wait_ready(timeout=0)  # nothing yet: the writer would sleep
    for i in range(3):
        sub.offer(f"frame {i}", "task", "task_output")
    assert sub.wait_ready(timeout=0)
    assert _texts(sub.take_pending()) == ["frame 0", "frame 1", "frame 2"]
    sub.done_sending()
    # emptied: the writer sleeps after its write, with no second look at the buffer
    assert not sub.wait_ready(timeout=0)
    assert sub.take_pending() == (b"", []) and not sub.wait_ready(timeout=0)  # asleep again
    sub.offer("frame 2b", "task", "task_output")  # the next offer wakes it again
    assert sub.wait_ready(timeout=0) and _texts(sub.take_pending()) == ["frame 2b"]
    sub.done_sending()
    sub.offer("frame 3", "task", "task_end")
    sub.close()  # frames queued before a close are still given, then None
    assert _texts(sub.take_pending()) == ["frame 3"]
    sub.done_sending()
    assert sub.wait_ready(timeout=0)  # a close keeps the writer awake, to end
    assert sub.take_pending() is None


def test_an_overflow_drops_the_queue_and_ends_the_writer() -> None:
    sub = Subscriber(2)
    for i in range(3):
        sub.offer(f"frame {i}")
    assert sub.overflowed and sub.wait_ready(timeout=0) and sub.take_pending() is None


def test_the_engine_s_frames_are_written_by_the_flush_without_waking_the_writer() -> None:
    """Queued frames wake nobody; the flush writes them at once through the sender. A
    write that did not all go leaves its rest to the writer, woken for it, which sends
    it before any later frame; while the writer writes, a flush leaves new frames to it."""
    sub = Subscriber(8)
    written: list[list[str]] = []
    rest = [b""]

    def sender(items: list[Any]) -> tuple[bool, bytes]:
        written.append([item[0] for item in items])
        return True, rest[0]

    sub.sender = sender
    assert sub.queue("a", "task", "task_output") is True  # the flush must look
    assert sub.queue("b", "task", "task_output") is False  # already noted
    assert not sub.wait_ready(timeout=0)  # nobody woken
    assert sub.send_queued() == b""
    assert written == [["a", "b"]]
    assert sub.take_pending() == (b"", [])  # claimed until the flush has journalled
    sub.done_sending()
    assert not sub.wait_ready(timeout=0)

    rest[0] = b"the end of c"  # the client reads slowly: part of the write is left
    assert sub.queue("c", "task", "task_output")
    sub.done_sending(sub.send_queued() or b"")
    assert written[-1] == ["c"] and sub.wait_ready(timeout=0)  # the writer is woken
    assert sub.queue("d", "task", "task_output")
    assert sub.send_queued() is None  # not written by the flush: bytes of c are unsent
    assert written[-1] == ["c"]
    assert sub.take_pending() == (b"the end of c", [("d", "task", "task_output")])
    assert sub.queue("e", "task", "task_output")
    assert sub.send_queued() is None  # the writer is writing: e is left to it
    assert written[-1] == ["c"]
    sub.done_sending()
    assert sub.wait_ready(timeout=0) and _texts(sub.take_pending()) == ["e"]
    sub.done_sending()


def test_an_overflow_after_a_write_that_did_not_all_go_finishes_that_frame_first() -> None:
    """Half a frame is on the wire when the buffer overflows: the writer gets the rest
    of it (and none of the dropped frames) before it is told to close (1013), so the
    close frame never lands inside a frame."""
    sub = Subscriber(2)
    sub.sender = lambda items: (True, b"the second half of a")
    assert sub.queue("a", "task", "task_output")
    sub.done_sending(sub.send_queued() or b"")
    for kind in ("b", "c", "d"):  # past the limit of 2: overflowed, b and c dropped
        sub.queue(kind, "task", "task_output")
    assert sub.overflowed and sub.wait_ready(timeout=0)
    assert sub.take_pending() == (b"the second half of a", [])
    sub.done_sending()
    assert sub.take_pending() is None  # now the writer closes with 1013


@pytest.mark.parametrize(
    "message",
    [
        None,
        "Video generated; uploading output",
        'quotes " and \\ and é and 🙂 and \n',
        {"type": "progressGenerate", "percentage": "50", "nested": [1, 2.5, None, True]},
        [{"url": "http://127.0.0.1/cdn/x/0.mp4", "ispublic": 0, "expiretime": None}],
    ],
)
def test_a_frame_is_exactly_the_compact_json_of_its_fields(message: object) -> None:
    task = Task.__new__(Task)
    task.id, task.token = "12345", 'tokén"0123456789'
    event = Event("task_output", 1.0, message)
    fields = {"type": "task_output", "id": task.id, "tasktoken": task.token}
    expected = json.dumps({**fields, "message": message, "result": True}, separators=(",", ":"))
    assert task_frame(task, event) == expected


def test_a_late_subscribers_replay_goes_out_in_a_few_writes_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes: list[int] = []  # bytes per write to a socket
    real_send_all = ws_module._send_all
    lock = threading.Lock()

    def counting(sock: Any, data: bytes) -> None:
        with lock:
            writes.append(len(data))
        real_send_all(sock, data)

    monkeypatch.setattr(ws_module, "_send_all", counting)
    with make_server(clock_mode="manual") as server:
        wiro = Wiro(server, server.backend.create_project())
        run = wiro.run()
        server.backend.advance(200)  # the task has ended: its whole history is replayed
        events = events_of(server, run["taskid"])
        assert len(events) > 20
        with connect(server.socket_url) as ws:
            subscribe(ws, run["socketaccesstoken"])
            frames = read_until_terminal(ws)
        assert pairs(frames) == events  # each once, in order
        # queued at once under the state lock, taken at once: not one write per frame
        # (two or three if the writer woke between two offers)
        assert 1 <= len(writes) <= 3, writes
        _journalled_last_frame(server, run["taskid"])  # journalled just after it was sent
        journaled = server.backend.journal.entries("frame", task=run["taskid"])
        assert [e.get("type") for e in journaled] == [t for t, _ in events]


def _journalled_last_frame(server: Any, taskid: str) -> None:
    """Wait until the task's last frame is in the journal: a writer journals a write just
    after it, so a client can read the frame a moment before its entry is kept."""
    found = server.backend.journal.wait_for(
        lambda e: (
            e.kind == "frame"
            and e.get("task") == taskid
            and e.get("type") == "task_postprocess_end"
        )
    )
    assert found is not None, f"task {taskid}'s last frame was never journalled"


def test_a_fake_in_the_users_process_leaves_the_garbage_collector_alone() -> None:
    # only `mock-wiro serve`, a process of its own, tunes it (cli._tune_gc)
    import gc

    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    with make_server(clock_mode="manual") as server:
        Wiro(server, server.backend.create_project()).run()
        assert gc.get_threshold() == threshold and gc.get_freeze_count() == frozen


def test_a_writers_journal_entries_are_counted_as_entry_size_counts_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the writer counts a frame entry's size from its fixed shape (no walk per frame):
    # the journal's byte bound must see exactly what entry_size would have counted
    calls: list[tuple[list[Any], list[int]]] = []
    real = Journal.record_many

    def checking(self: Journal, items: Any, sizes: Any = None) -> Any:
        items = list(items)
        calls.append((items, list(sizes or [])))
        return real(self, items, sizes)

    monkeypatch.setattr(Journal, "record_many", checking)
    with make_server(clock_mode="manual") as server:
        wiro = Wiro(server, server.backend.create_project())
        run = wiro.run()
        server.backend.advance(200)
        with connect(server.socket_url) as ws:
            subscribe(ws, run["socketaccesstoken"])
            read_until_terminal(ws)
            ws.send(json.dumps({"type": "nonsense"}))  # a frame of no task: type "server"
            assert json.loads(ws.recv())["type"] == "error"
    entries = [entry for items, _ in calls for entry in items]
    assert len(entries) > 20 and any(data["type"] == "server" for _, data in entries)
    assert [size for _, sizes in calls for size in sizes] == [
        entry_size(data) for _, data in entries
    ]
    for connection in (1, 2**31, 2**70):  # ints of every size the ids may reach
        data = {"connection": connection, "task": "é" * 9, "type": "task_output"}
        counted = ws_module._FRAME_ENTRY_BASE + sum(map(sys.getsizeof, data.values()))
        assert counted == entry_size(data)


def test_live_frames_are_written_by_the_flush_and_a_slow_reader_still_gets_all_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Frames that happen after a client subscribed are written by the engine's flush
    (a non-blocking write), not the connection's writer. A client that reads nothing
    while 30 tasks run their whole lives, on a socket whose buffers hold 4 KB, gets every
    frame of every task once, in order, and the journal has each once: what a flush
    could not write without blocking was finished by the writer, before anything later."""
    flushed: list[int] = []  # bytes left unsent by each of the flush's writes
    written: list[int] = []  # the writer's writes
    real_now, real_all = ws_module._send_now, ws_module._send_all

    def now(sock: Any, data: bytes) -> bytes:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # no autotuning
        rest = real_now(sock, data)
        flushed.append(len(rest))
        return rest

    def all_(sock: Any, data: bytes) -> bytes:
        written.append(len(data))
        return real_all(sock, data)

    monkeypatch.setattr(ws_module, "_send_now", now)
    monkeypatch.setattr(ws_module, "_send_all", all_)
    with make_server(clock_mode="manual", socket_buffer_frames=4096) as server:
        wiro = Wiro(server, server.backend.create_project(balance="1000"))
        body = {"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "waves"}
        runs = [wiro.ok("Run/minimax/hailuo-2-3-fast", data=body) for _ in range(30)]
        small = ((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),)
        with connect(server.socket_url, sockopt=small) as ws:
            register(ws, *(run["socketaccesstoken"] for run in runs))  # their task_queue
            server.backend.advance(200)  # every task's whole life, nobody reading
            assert flushed and max(flushed) > 0, flushed  # some writes did not all go
            frames = read_until_terminal(ws, count=len(runs))
        for run in runs:
            mine = [f for f in frames if f["id"] == run["taskid"]]
            assert pairs(mine) == events_of(server, run["taskid"])[1:]  # after task_queue
            _journalled_last_frame(server, run["taskid"])
            journaled = server.backend.journal.entries("frame", task=run["taskid"])
            assert [e.get("type") for e in journaled] == [
                t for t, _ in events_of(server, run["taskid"])
            ]
        assert written  # the writer finished what the flush left


def test_the_libraries_own_frames_wait_for_a_half_written_frame_of_ours() -> None:
    """A ping or pong simple-websocket writes while a flush's write is half done waits
    until the writer has finished it (then goes out whole, after it), never inside it."""
    sub = Subscriber(8)
    sub.sender = lambda items: (True, b"the rest of a")
    wire: list[str] = []
    assert sub.queue("a", "task", "task_output")
    sub.done_sending(sub.send_queued() or b"")  # half of a is out, the rest unsent
    pinger = threading.Thread(target=sub.write_control, args=(lambda: wire.append("ping"),))
    pinger.start()
    deadline = time.monotonic() + 30
    while sub.control_waiting == 0:  # it is waiting for the socket
        assert time.monotonic() < deadline and pinger.is_alive()
        time.sleep(0.001)
    taken = sub.take_pending()  # the writer: the rest of a first
    assert taken == (b"the rest of a", [])
    wire.append("rest of a")
    sub.done_sending()
    pinger.join(30)
    assert wire == ["rest of a", "ping"]
    sub.write_control(lambda: wire.append("pong"))  # nothing under way: at once
    assert wire[-1] == "pong" and sub.take_pending() == (b"", [])
