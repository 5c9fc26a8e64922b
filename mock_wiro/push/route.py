"""The WebSocket route at ``/v1`` (flask-sock), on the same port as the REST API.

Client → server frames (JSON text):

- ``{"type": "task_info", "tasktoken": "<socketaccesstoken>"}`` [seed]: subscribe.
  Several tasks per connection are fine; registering a task twice is a no-op.
- ``{"type": "ping"}``: answered ``{"type": "pong", "result": true}`` (WebSocket
  protocol pings are answered by the library as well).

Anything else gets an error frame [A] and the connection stays open::

    {"type": "error", "message": "...", "result": false}          (+ "tasktoken" when relevant)

for: an unknown token, a frame that is not JSON, JSON that is not an object, an
unknown ``type``, a missing/empty ``tasktoken``, a binary frame. A frame over
``MAX_INCOMING_BYTES`` closes the connection (1009, message too big). A client
whose buffer overflowed gets close code 1013 once the pending send completes; one
that stopped reading altogether is cut off after ``WRITER_GRACE_SECONDS``. The
server pings every ``socket_ping_interval`` seconds and drops a client that
doesn't answer.

Socket faults (:mod:`mock_wiro.chaos.push_faults`): a ``drop_on_register`` rule makes a
``task_info`` close the connection (its code) instead of registering; the writer
sends a frame twice for a ``duplicate`` rule and closes (its code) right after the
``after``-th frame for a ``close`` rule. Each is journaled (kind ``fault``, channel
``socket``); a duplicate's second ``frame`` entry has ``duplicate: true``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from sys import getsizeof
from typing import Any, Final, Protocol

from flask import Blueprint, current_app
from flask_sock import ConnectionClosed, Sock
from wsproto.events import TextMessage
from wsproto.utilities import LocalProtocolError

from ..chaos.push_faults import ConnectionFaults
from ..engine.journal import Journal, entry_size
from .hub import (
    CLOSE_FAULT,
    CLOSE_GOING_AWAY,
    CLOSE_TOO_SLOW,
    Item,
    SocketHub,
    Subscriber,
    error_frame,
)
from .wire import plain_connection, text_frame

__all__ = [
    "FAKE_EXTENSION",
    "MAX_INCOMING_BYTES",
    "current_hub",
    "handle_frame",
    "sock",
    "socket_bp",
]

FAKE_EXTENSION: Final = "mock_wiro.fake"
"""Where an app keeps its fake, in ``app.extensions`` (the one key)."""

MAX_INCOMING_BYTES: Final = 64 * 1024  # client frames are tiny; bound the memory
WRITER_GRACE_SECONDS: Final = 5.0
"""How long a closing connection's writer may take to flush (and send the 1013 close);
past that it is stuck sending to a client that stopped reading, and the socket is cut."""
PONG: Final = json.dumps({"type": "pong", "result": True})
# a client's close can race a send: wsproto then refuses the send (LocalProtocolError)
_SEND_ERRORS: Final = (ConnectionClosed, OSError, LocalProtocolError)

socket_bp = Blueprint("wiro_socket", __name__)
sock = Sock()


def handle_frame(hub: SocketHub, sub: Subscriber, data: str | bytes) -> None:
    """Act on one client frame: subscribe, pong, or queue an error frame."""
    if isinstance(data, bytes):
        sub.offer(
            error_frame(
                "Binary frames are not supported; send JSON text such as "
                '{"type": "task_info", "tasktoken": "<socketaccesstoken>"}'
            )
        )
        return
    try:
        msg: Any = json.loads(data)
    except ValueError as exc:
        sub.offer(error_frame(f"Frame is not valid JSON ({exc}); got {data[:100]!r}"))
        return
    if not isinstance(msg, dict):
        sub.offer(error_frame(f"Frame must be a JSON object; got {type(msg).__name__}"))
        return
    kind = msg.get("type")
    if kind == "ping":
        sub.offer(PONG)
        return
    if kind != "task_info":
        sub.offer(error_frame(f"Unknown frame type {kind!r}; expected 'task_info' (or 'ping')"))
        return
    token = msg.get("tasktoken")
    if not isinstance(token, str) or not token:
        sub.offer(error_frame("Frame of type 'task_info' needs a non-empty string 'tasktoken'"))
        return
    if hub.drop_on_register(sub, token):
        return  # a socket fault: the writer closes the connection
    if hub.register(sub, token) is None:
        sub.offer(error_frame("There is no task with this tasktoken.", tasktoken=token))


def _writer(ws: Any, sub: Subscriber, journal: Journal, catch_up: Callable[[], None]) -> None:
    """Drain one subscriber's buffer to its socket: what the hub's flush could not write
    without blocking, frames queued outside the engine's pass, and the close (the flush
    and this thread never write at once: :meth:`Subscriber.take_pending`)."""
    try:
        _drain(ws, sub, journal, catch_up)
    finally:
        ws.event.set()  # wake the connection's reader loop (_next_message): we are done


def _drain(ws: Any, sub: Subscriber, journal: Journal, catch_up: Callable[[], None]) -> None:
    while sub.wait_ready():
        # Frames due now that the engine has not applied yet (it is late: busy, or, on
        # one event loop, queued behind the writers) are applied first, so they join
        # this write: a writer that fell behind sends what it owes in one write.
        catch_up()
        taken = sub.take_pending()
        if taken is None:
            break
        unsent, items = taken
        if not unsent and not items:
            continue  # nothing, or a flush is writing (it wakes this writer when done)
        going_on = True
        try:
            if unsent:  # the rest of a flush's write comes first
                try:
                    _send_all(_raw(ws), unsent)
                except _SEND_ERRORS:
                    sub.close()
                    going_on = False
            if going_on and items:
                going_on = _send_batch(ws, sub, items, _send_all, journal.record_many)[0]
        finally:
            sub.done_sending()
        if not going_on:
            break
    if sub.faults.close is not None:
        code, reason = sub.faults.close
        with contextlib.suppress(*_SEND_ERRORS):
            ws.close(reason=code, message=reason)
    elif sub.overflowed:
        with contextlib.suppress(*_SEND_ERRORS):
            ws.close(reason=CLOSE_TOO_SLOW, message="subscriber too slow: buffer overflowed")
    elif sub.going_away:
        with contextlib.suppress(*_SEND_ERRORS):
            ws.close(reason=CLOSE_GOING_AWAY, message="server shutting down")


Record = Callable[[list[tuple[str, dict[str, Any]]], list[int]], object]
"""Where a write's journal entries go: ``journal.record_many`` (the writer), or the
hub's flush, which journals all of its writes' entries together when it ends."""


def _send_batch(
    ws: Any,
    sub: Subscriber,
    items: list[Item],
    send: Callable[[socket.socket, bytes], bytes],
    record: Record,
) -> tuple[bool, bytes]:
    """Send every frame taken from the buffer in one write (``send``: the writer's
    :func:`_send_all`, or the flush's non-blocking :func:`_send_now`), then journal them
    with ``record`` (one ``frame`` entry each, with the fault entries in their places);
    apply the ``duplicate`` and ``close`` faults frame by frame. Returns (False once the
    connection is done: a failed send, or a ``close`` fault after one of these frames;
    the bytes ``send`` left unsent, for the writer).

    A connection with no extension negotiated (:func:`.wire.plain_connection`) has its
    frames written by :func:`.wire.text_frame` (the bytes wsproto would write); one with
    an extension (a negotiated permessage-deflate) by its own wsproto state
    (simple-websocket's ``ws.ws``), as before. Only the socket write is shared:
    simple-websocket's ``send`` writes each message on its own, with ``send`` (not
    ``sendall``)."""
    wire: list[bytes] = []
    entries: list[tuple[str, dict[str, Any]]] = []
    sizes: list[int] = []  # entry_size of each entry's fields, for the journal's bound
    connection = sub.id
    frame_base = _FRAME_ENTRY_BASE + getsizeof(connection)
    faults = sub.faults if sub.faults.bindings else None  # none bound: nothing to count
    going_on = True
    try:
        if not ws.connected:
            raise ConnectionClosed(ws.close_reason, ws.close_message)
        # a plain connection (no extension, the usual case) is framed by hand, the same
        # bytes at a fraction of the cost; otherwise (permessage-deflate) by wsproto
        plain = plain_connection(ws.ws) is not None
        for item in items:
            frame, task_id, kind = item
            data = text_frame(frame) if plain else ws.ws.send(TextMessage(data=frame))
            type_ = kind or "server"
            frame_entry = {"connection": connection, "task": task_id, "type": type_}
            wire.append(data)
            entries.append(("frame", frame_entry))
            sizes.append(frame_base + getsizeof(task_id) + getsizeof(type_))
            if faults is not None and not _apply_faults(
                ws, sub, faults, item, data, plain, frame_entry, wire, entries, sizes
            ):
                going_on = False
                break  # the frames after it are never sent
        rest = send(_raw(ws), b"".join(wire) if len(wire) > 1 else wire[0])
    except _SEND_ERRORS:
        sub.close()
        return False, b""
    record(entries, sizes)
    return going_on, rest


def _apply_faults(
    ws: Any,
    sub: Subscriber,
    faults: ConnectionFaults,
    item: Item,
    data: bytes,
    plain: bool,
    frame_entry: dict[str, Any],
    wire: list[bytes],
    entries: list[tuple[str, dict[str, Any]]],
    sizes: list[int],
) -> bool:
    """The ``duplicate`` and ``close`` faults bound to the connection, for a frame just
    put in ``wire``: its copies, and the fault entries in their places. False after a
    ``close`` fault (the subscriber is closed; nothing after this frame is sent)."""
    frame, task_id, kind = item
    plan = faults.plan(task_id, kind)
    for _ in range(plan.copies - 1):
        wire.append(data if plain else ws.ws.send(TextMessage(data=frame)))
        copy = {**frame_entry, "duplicate": True}
        entries.append(("frame", copy))
        sizes.append(entry_size(copy))
    if plan.duplicated_by is not None:
        fault = {
            "channel": "socket",
            "phase": "applied",
            "rule": plan.duplicated_by.id,
            "action": "duplicate",
            "connection": sub.id,
            "task": task_id,
            "type": kind,
        }
        entries.append(("fault", fault))
        sizes.append(entry_size(fault))
    if plan.close_by is None:
        return True
    rule = plan.close_by
    faults.close = (rule.code or CLOSE_FAULT, rule.close_reason)
    fault = {
        "channel": "socket",
        "phase": "applied",
        "rule": rule.id,
        "action": "close",
        "connection": sub.id,
        "task": task_id,
        "after": rule.after,
        "code": faults.close[0],
        "reason": rule.close_reason,
    }
    entries.append(("fault", fault))
    sizes.append(entry_size(fault))
    sub.close()
    return False


_FRAME_ENTRY_BASE: Final = entry_size({"connection": 0, "task": "", "type": ""}) - (
    getsizeof(0) + 2 * getsizeof("")
)
""":func:`~mock_wiro.engine.journal.entry_size` of a ``frame`` entry's fields less its
three values' own sizes (the dict, its slots, its keys): a frame's entry is counted as
``entry_size`` would count it, with three ``getsizeof`` calls instead of a walk."""


def _send_all(sock: socket.socket, data: bytes) -> bytes:
    """``sock.sendall(data)`` (so nothing is left: ``b""``), without gevent's
    ``sendall``, which asks the kernel for the socket's buffer size (a ``getsockopt``)
    on every call: a frame's few hundred bytes almost always go in one ``send``."""
    sent = sock.send(data)
    if sent < len(data):
        view = memoryview(data)
        while sent < len(data):
            sent += sock.send(view[sent:])
    return b""


class _GatedSocket:
    """``ws.sock`` as simple-websocket sees it once the route has it: its own writes (a
    ping, a pong answering the client's, the close echo) go through
    :meth:`Subscriber.write_control`, so they never land inside a frame of ours that is
    half written; everything else is the socket's own. Our writes use :attr:`raw`."""

    def __init__(self, raw: Any, sub: Subscriber) -> None:
        self.raw = raw
        self._sub = sub

    def send(self, data: bytes, *_flags: Any) -> int:
        def write() -> None:
            _send_all(self.raw, data)

        self._sub.write_control(write)
        return len(data)

    def sendall(self, data: bytes, *_flags: Any) -> None:
        self.send(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def _raw(ws: Any) -> Any:
    """The connection's socket itself (under :class:`_GatedSocket`, if the route put it
    there)."""
    sock = ws.sock
    return sock.raw if isinstance(sock, _GatedSocket) else sock


def _send_now(sock: Any, data: bytes) -> bytes:
    """Write ``data`` without blocking: the bytes that did not go (all of them when the
    socket's send buffer is full, or the socket has a timeout, where a non-blocking send
    would still wait). Under gevent the connection's own ``try_send``; otherwise a send
    with ``MSG_DONTWAIT``."""
    try_send = getattr(sock, "try_send", None)
    try:
        if try_send is not None:
            sent = int(try_send(data))
        elif sock.gettimeout() is None:
            sent = sock.send(data, socket.MSG_DONTWAIT)
        else:
            return data
    except BlockingIOError:
        return data
    return data[sent:] if sent < len(data) else b""


IDLE_CHECK_SECONDS: Final = 30.0
"""A safety net only: how long an idle connection's reader waits before looking again
at its subscriber. It is woken at once by a client message, the client's close, and its
writer's end (:func:`_writer` sets the event), so an idle socket costs no wake-ups (it
polled every second, 10,000 wake-ups a second with 10,000 idle sockets)."""


def _next_message(ws: Any, sub: Subscriber) -> str | bytes | None:
    """The client's next message; None once the subscriber is closed or overflowed.
    Waits on simple-websocket's own event (set by its reader on a message or a close,
    and by our writer when it ends) instead of polling ``receive`` with a timeout."""
    while True:
        if ws.input_buffer:
            data: str | bytes = ws.input_buffer.pop(0)
            return data
        if not ws.connected:
            raise ConnectionClosed(ws.close_reason, ws.close_message)
        if sub.closed or sub.overflowed:
            return None
        ws.event.wait(timeout=IDLE_CHECK_SECONDS)
        ws.event.clear()  # the state is looked at again, after the clear


class _HasHub(Protocol):
    hub: SocketHub


def current_hub() -> SocketHub:
    """The socket hub of the app handling this request: its fake's
    (:class:`mock_wiro.control.fake.Fake`, kept under :data:`FAKE_EXTENSION`)."""
    fake: _HasHub = current_app.extensions[FAKE_EXTENSION]
    return fake.hub


@sock.route("/v1", bp=socket_bp)  # type: ignore[untyped-decorator]
def task_socket(ws: Any) -> None:
    """One client connection: a reader (this thread) and a writer thread."""
    hub = current_hub()
    sub = Subscriber(hub.buffer_frames)
    ws.sock = _GatedSocket(ws.sock, sub)  # the library's own writes wait for ours
    sub.sender = lambda items: _send_batch(ws, sub, items, _send_now, hub.note_sent)
    hub.connect(sub)
    writer = threading.Thread(
        target=_writer,
        args=(ws, sub, hub.backend.journal, hub.backend.pump_if_late),
        name="mock-wiro-ws",
        daemon=True,
    )
    writer.start()
    try:
        while (data := _next_message(ws, sub)) is not None:
            handle_frame(hub, sub, data)
    except ConnectionClosed:
        pass
    finally:
        hub.unregister(sub)
        writer.join(timeout=WRITER_GRACE_SECONDS)
        if writer.is_alive():
            # stuck in a send to a client that stopped reading: cut the socket so the send
            # fails at once, or the writer (and flask-sock's close) would block forever
            with contextlib.suppress(OSError):
                ws.sock.shutdown(socket.SHUT_RDWR)
            writer.join(timeout=WRITER_GRACE_SECONDS)
        # Wake simple-websocket's reader thread, blocked in recv() on a client that may
        # never answer our close frame; closing the socket alone doesn't wake a recv().
        with contextlib.suppress(OSError):
            ws.sock.shutdown(socket.SHUT_RD)
        # ...and wait for it: werkzeug closes the socket once we return, which can take it
        # out of the reader's poll set before it wakes, leaving it asleep until a ping.
        reader = getattr(ws, "thread", None)
        if isinstance(reader, threading.Thread) and reader is not threading.current_thread():
            reader.join(timeout=WRITER_GRACE_SECONDS)
