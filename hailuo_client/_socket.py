"""One WebSocket subscription to a task's frames (``websocket-client``).

Protocol [seed][docs]: connect to the socket URL, send
``{"type": "task_info", "tasktoken": "<socketaccesstoken>"}``, then read JSON
text frames ``{"type": "<status>", "id", "tasktoken", "message", "result"}``.
The socket takes no auth headers: the token is the credential.

Whatever goes wrong with the connection surfaces as :class:`SocketLost`;
``permanent`` says whether reconnecting could help (an error frame for the
token will not get better by asking again). Pings are answered by
websocket-client inside ``recv``.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import websocket

__all__ = ["RECV_SLICE", "SocketLost", "TaskSocket", "default_socket_url"]

DEFAULT_SOCKET_URL = "wss://socket.wiro.ai/v1"
"""The real socket [seed]."""


RECV_SLICE = 0.5
"""Seconds one blocking read may last before :meth:`TaskSocket.receive` checks its
deadline and reads again. The main thread then runs Python at least this often, so a
Ctrl-C the kernel handed to another thread (rich's refresh thread, say) is acted on
within it: Python runs signal handlers only in the main thread, between bytecodes."""


class SocketLost(Exception):
    """The subscription ended without a terminal frame."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


def default_socket_url(base_url: str, default_base_url: str) -> str:
    """The socket URL for ``base_url``: the real socket for the real API, else the same host.

    A self-hosted or fake API (e.g. ``http://127.0.0.1:8080/v1``) is assumed to serve
    its socket on the same host and path with the ``ws``/``wss`` scheme [A].
    """
    if base_url.rstrip("/") == default_base_url.rstrip("/"):
        return DEFAULT_SOCKET_URL
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, "", ""))


class TaskSocket:
    """A connected, registered subscription; use as a context manager."""

    def __init__(self, url: str, token: str, connect_timeout: float) -> None:
        try:
            self._ws = websocket.create_connection(url, timeout=max(connect_timeout, 0.001))
        except (OSError, websocket.WebSocketException) as exc:
            permanent = isinstance(exc, websocket.WebSocketBadStatusException) and (
                exc.status_code in (401, 403, 404)
            )
            raise SocketLost(f"cannot connect to {url}: {exc}", permanent=permanent) from exc
        try:
            self._ws.send(json.dumps({"type": "task_info", "tasktoken": token}))
        except (OSError, websocket.WebSocketException) as exc:
            self.close()
            raise SocketLost(f"cannot register on {url}: {exc}") from exc

    def __enter__(self) -> TaskSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent, never raises)."""
        with contextlib.suppress(Exception):  # already broken: nothing to close politely
            self._ws.close(timeout=1)
        # After the server's close frame, websocket-client's close() returns early and
        # leaves the TCP socket open; shutdown() always releases it.
        with contextlib.suppress(Exception):
            self._ws.shutdown()  # type: ignore[no-untyped-call]

    def receive(self, timeout: float) -> tuple[str, dict[str, Any]] | None:
        """The next data frame as ``(text, parsed)``, or None if none came within ``timeout``.

        Pings and pongs do not count: websocket-client answers a ping inside its read,
        which would restart a plain socket timeout on every ping and never time out.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._ws.settimeout(min(remaining, RECV_SLICE))
            try:
                opcode, frame_data = self._ws.recv_data_frame(control_frame=True)
            except websocket.WebSocketTimeoutException:
                continue  # a slice over (a frame half read goes on: websocket-client keeps it)
            except (OSError, websocket.WebSocketException) as exc:
                raise SocketLost(f"socket closed: {exc or type(exc).__name__}") from exc
            if opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
                continue  # a keepalive (already answered), not a frame of the task
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raw = bytes(frame_data.data or b"")
            code = int.from_bytes(raw[:2], "big") if len(raw) >= 2 else None
            reason = raw[2:].decode("utf-8", "replace")
            raise SocketLost(f"socket closed by the server (code {code}) {reason}".rstrip())
        data = frame_data.data
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        try:
            frame = json.loads(text)
        except ValueError:
            raise SocketLost(f"socket sent a non-JSON frame: {text[:200]!r}") from None
        if not isinstance(frame, dict):
            raise SocketLost(f"socket sent a non-object frame: {text[:200]!r}")
        if frame.get("type") == "error" or frame.get("result") is False:
            raise SocketLost(f"socket refused the subscription: {text[:200]}", permanent=True)
        return text, frame
