"""A server's text frames written by hand (:mod:`mock_wiro.push.wire`) are wsproto's bytes,
and only where wsproto would write nothing else: a negotiated permessage-deflate still
compresses (wsproto frames those), a masked (client) connection is never written by hand.

Real sockets over loopback for the negotiated extension; wsproto's own server connection
as the reference for the bytes.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from mock_wiro.push import route as ws_module
from mock_wiro.push import wire
from tests.helpers.frames import events_of
from tests.helpers.wiro import Wiro, make_server


def _server_connection(extensions: list[Any] | None = None) -> WSConnection:
    """A wsproto server connection, opened by a real handshake with a wsproto client."""
    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(
        client.send(Request(host="127.0.0.1", target="/v1", extensions=extensions or []))
    )
    request = next(server.events())
    assert isinstance(request, Request)
    client.receive_data(server.send(AcceptConnection(extensions=extensions or [])))
    assert server.state is ConnectionState.OPEN
    return server


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_hand_written_frame_is_wsprotos_bytes_at_every_length_boundary(size: int) -> None:
    text = ("é" * (size // 2)) + ("x" * (size % 2))  # 2 bytes per é: `size` bytes of UTF-8
    assert len(text.encode()) == size
    server = _server_connection()
    assert wire.plain_connection(server) is server.connection
    assert wire.text_frame(text) == bytes(server.send(TextMessage(data=text)))
    # the hand-written frame left wsproto's state as it was: it still frames the same
    assert wire.plain_connection(server) is server.connection
    assert wire.text_frame(text) == bytes(server.send(TextMessage(data=text)))


def test_only_a_plain_open_server_connection_is_framed_by_hand() -> None:
    assert wire.plain_connection(_server_connection()) is not None
    # a negotiated permessage-deflate compresses (RSV1): wsproto frames it
    assert wire.plain_connection(_server_connection([PerMessageDeflate()])) is None
    # a client masks its frames: never written by hand
    client = WSConnection(ConnectionType.CLIENT)
    client.connection = Connection(ConnectionType.CLIENT)
    assert wire.plain_connection(client) is None
    # before the handshake, and once closing: wsproto refuses the send, as before
    assert wire.plain_connection(WSConnection(ConnectionType.SERVER)) is None
    closing = _server_connection()
    closing.send(CloseConnection(code=1000))
    assert wire.plain_connection(closing) is None
    # inside a fragmented message: the next frame is a continuation, wsproto's to write
    fragmented = _server_connection()
    fragmented.send(TextMessage(data="part", message_finished=False))
    assert wire.plain_connection(fragmented) is None


def _read_events(sock: socket.socket, client: WSConnection, raw: list[bytes]) -> list[Any]:
    data = sock.recv(1 << 16)
    assert data, "the server closed the connection"
    raw.append(data)
    client.receive_data(data)
    return list(client.events())


@pytest.mark.parametrize("deflate", [False, True])
def test_a_subscriber_gets_every_frame_with_or_without_permessage_deflate(
    deflate: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_hand: list[str] = []

    def counting(text: str) -> bytes:
        by_hand.append(text)
        return wire.text_frame(text)

    monkeypatch.setattr(ws_module, "text_frame", counting)
    with make_server(clock_mode="manual") as server:
        wiro = Wiro(server, server.backend.create_project())
        run = wiro.run()
        server.backend.advance(200)  # ended: its whole history is replayed at once
        events = events_of(server, run["taskid"])
        extensions: list[Any] = [PerMessageDeflate()] if deflate else []
        client = WSConnection(ConnectionType.CLIENT)
        host, port = server.socket_url.removeprefix("ws://").split("/")[0].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(client.send(Request(host=host, target="/v1", extensions=extensions)))
            raw: list[bytes] = []
            accepted = [
                e for e in _read_events(sock, client, raw) if isinstance(e, AcceptConnection)
            ]
            assert accepted and bool(accepted[0].extensions) is deflate
            raw.clear()
            hello = {"type": "task_info", "tasktoken": run["socketaccesstoken"]}
            sock.sendall(client.send(TextMessage(data=json.dumps(hello))))
            got: list[tuple[str, Any]] = []
            while len(got) < len(events):
                for event in _read_events(sock, client, raw):
                    if isinstance(event, TextMessage):
                        frame = json.loads(event.data)
                        got.append((frame["type"], frame["message"]))
        assert got == events  # each once, in order, decoded by a real client
        first = b"".join(raw)[0]
        assert first & 0x0F == 0x1 and first & 0x80  # a whole text frame
        assert bool(first & 0x40) is deflate  # RSV1: compressed only when negotiated
        assert len(by_hand) == (0 if deflate else len(events))  # wsproto's only when needed
