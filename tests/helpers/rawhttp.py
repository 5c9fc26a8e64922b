"""HTTP read off a raw socket, for tests that must see the bytes on the wire (keep-alive,
pipelining, the server's own refusals)."""

from __future__ import annotations

import socket


def read_response(sock: socket.socket) -> tuple[str, dict[str, str], bytes, bytes]:
    """(status line, headers lower-cased, body, bytes read past it) of one
    Content-Length response."""
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
    return lines[0], headers, rest[:length], rest[length:]
